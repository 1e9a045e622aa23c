"""EU AI Act pages of a deployment (domain.md 8): the applicant's record, the authority's decision (AO or DPO), the
notification log and the 24 h status of an urgent use, reachable from the deployment page in EU mode only."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from compliance.choices import FIELD_ROLES, Role
from compliance.models import AuditEvent, Deployment, EuAiActRecord, EuNotification
from compliance.services import deployments as deployment_services
from compliance.services import eu_ai_act as eu
from lfr_portal.errors import InvalidTransition, RuleViolation
from matching.models import MatchingSession
from tests.compliance import deployment_helpers
from tests.compliance.retention_helpers import alert_for

pytestmark = pytest.mark.django_db

FRIA = {
    "fria_a_processes": "Locating a missing child at the station concourse.",
    "fria_b_period_frequency": "One 8-hour window.",
    "fria_c_affected_persons": "Travellers passing the concourse.",
    "fria_d_risks": "Misidentification; chilling effect.",
    "fria_e_human_oversight": "Two-person verification before engagement.",
    "fria_f_mitigation": "Stop and review; complaints route.",
}
GRANT = {
    "authority_kind": "judicial",
    "authority_name": "Court",
    "authority_reference": "C-1",
    "decision": "granted",
    "decided_on": datetime.date(2026, 1, 5),
}
RECORD_FORM = {
    "objective": "victim_search",
    "objective_detail": "Missing child, abduction suspected.",
    "urgent": "on",
    "urgency_justification": "Imminent risk to the child's life.",
    "eu_database_reference": "EU-DB-2025-0042",
    **FRIA,
}


@pytest.fixture
def eu_mode(settings, tmp_path):
    settings.LFR_JURISDICTION = "eu"
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def people(make_user):
    return {
        "applicant": make_user(Role.APPLICANT, username="applicant"),
        "ao": make_user(Role.AUTHORISING_OFFICER, username="ao"),
        "dpo": make_user(Role.DPO, username="dpo"),
        "operator": make_user(Role.LFR_OPERATOR, username="operator"),
    }


@pytest.fixture
def deployment(people):
    return deployment_helpers.submitted(people["applicant"])


def _refusal(role: str) -> int:
    """A submitted deployment is hidden (404) from field officers and administrators; others are refused (403)."""
    return 404 if role in (*FIELD_ROLES, Role.ADMINISTRATOR) else 403


def _url(deployment, page: str = "") -> str:
    return f"/deployments/{deployment.pk}/" + (f"eu/{page}/" if page else "")


def test_the_eu_section_is_absent_in_uk_mode(people, deployment, client_for, settings):
    settings.LFR_JURISDICTION = "uk"
    page = client_for(people["ao"]).get(_url(deployment)).content.decode()
    assert 'data-testid="eu-ai-act"' not in page and f"/deployments/{deployment.pk}/eu/" not in page
    for name in ("record", "authority", "notifications"):
        assert client_for(people["applicant"]).get(_url(deployment, name)).status_code == 404
        assert client_for(people["ao"]).get(_url(deployment, name)).status_code == 404


def test_the_deployment_page_links_each_role_to_what_it_may_do(eu_mode, people, deployment, client_for):
    applicant_page = client_for(people["applicant"]).get(_url(deployment)).content.decode()
    assert 'data-testid="eu-ai-act"' in applicant_page
    assert _url(deployment, "record") in applicant_page and _url(deployment, "authority") not in applicant_page
    ao_page = client_for(people["ao"]).get(_url(deployment)).content.decode()
    assert _url(deployment, "authority") in ao_page and _url(deployment, "record") not in ao_page
    assert "Incomplete: items a, b, c, d, e, f missing." in ao_page
    assert not EuAiActRecord.objects.exists(), "reading the page creates no record"


def test_the_applicant_completes_the_record_and_it_is_audited(eu_mode, people, deployment, client_for):
    client = client_for(people["applicant"])
    assert client.get(_url(deployment, "record")).status_code == 200

    response = client.post(_url(deployment, "record"), RECORD_FORM)

    assert response.status_code == 302 and response["Location"] == _url(deployment)
    record = EuAiActRecord.objects.get(deployment=deployment)
    assert record.objective == "victim_search" and record.urgent and record.eu_database_reference == "EU-DB-2025-0042"
    assert record.fria_d_risks == FRIA["fria_d_risks"]
    event = AuditEvent.objects.get(action="eu.record_updated")
    assert event.actor_username == "applicant" and event.deployment_id == deployment.pk
    assert event.after["urgency_justification"] == "Imminent risk to the child's life."
    page = client.get(_url(deployment)).content.decode()
    assert "Items a–f recorded." in page and "EU-DB-2025-0042" in page and FRIA["fria_a_processes"] in page
    assert "which has not started yet" in page  # the 24 h clock starts with the first session


@pytest.mark.parametrize("role", [r for r in Role.values if r != Role.APPLICANT])
def test_only_the_applicant_may_complete_the_record(eu_mode, deployment, make_user, client_for, role):
    client = client_for(make_user(role))
    assert client.get(_url(deployment, "record")).status_code == _refusal(role)
    refused = client.post(_url(deployment, "record"), RECORD_FORM)
    assert refused.status_code == _refusal(role)
    if refused.status_code == 403:
        assert "That action was refused" in refused.content.decode()
    assert not EuAiActRecord.objects.filter(objective="victim_search").exists()


def test_another_applicant_is_refused_the_record(eu_mode, deployment, make_user, client_for):
    other = client_for(make_user(Role.APPLICANT))
    assert other.post(_url(deployment, "record"), RECORD_FORM).status_code == 404  # not even visible to them
    assert not AuditEvent.objects.filter(action="eu.record_updated").exists()


@pytest.mark.parametrize("role", [Role.AUTHORISING_OFFICER, Role.DPO])
def test_the_ao_or_dpo_records_the_authority_decision(eu_mode, people, deployment, client_for, role):
    actor = people["ao" if role == Role.AUTHORISING_OFFICER else "dpo"]
    client = client_for(actor)
    assert client.get(_url(deployment, "authority")).status_code == 200

    response = client.post(
        _url(deployment, "authority"),
        {
            "authority_kind": "judicial",
            "authority_name": "Amtsgericht Mitte",
            "authority_reference": "AG-123/25",
            "decision": "granted",
            "decided_on": "2025-03-01",
        },
    )

    assert response.status_code == 302
    record = EuAiActRecord.objects.get(deployment=deployment)
    assert record.authorisation_granted and record.authority_decided_on == datetime.date(2025, 3, 1)
    event = AuditEvent.objects.get(action="eu.authority_decision_recorded")
    assert event.actor_username == actor.username and event.after["authority_reference"] == "AG-123/25"
    assert "Amtsgericht Mitte" in client.get(_url(deployment)).content.decode()


def test_an_incomplete_decision_is_shown_on_the_form(eu_mode, people, deployment, client_for):
    response = client_for(people["ao"]).post(_url(deployment, "authority"), {"decision": "granted"})
    assert response.status_code == 200 and "There is a problem" in response.content.decode()
    assert not AuditEvent.objects.filter(action="eu.authority_decision_recorded").exists()


@pytest.mark.parametrize("role", [Role.APPLICANT, Role.LFR_OPERATOR, Role.ENGAGEMENT_OFFICER])
def test_other_roles_cannot_record_the_authority_decision(eu_mode, people, deployment, make_user, client_for, role):
    user = people["applicant"] if role == Role.APPLICANT else make_user(role)
    client = client_for(user)
    assert client.get(_url(deployment, "authority")).status_code == _refusal(role)
    data = {"authority_kind": "judicial", "authority_name": "X", "authority_reference": "Y", "decision": "granted"}
    posted = client.post(_url(deployment, "authority"), {**data, "decided_on": "2025-03-01"})
    assert posted.status_code == _refusal(role)
    assert not AuditEvent.objects.filter(action="eu.authority_decision_recorded").exists()


def test_notifications_are_logged_listed_and_audited(eu_mode, people, deployment, client_for):
    client = client_for(people["dpo"])
    response = client.post(
        _url(deployment, "notifications"),
        {"authority": "data_protection", "reference": "DPA-77", "notified_at": "2025-03-01T09:30"},
    )
    assert response.status_code == 302

    notification = EuNotification.objects.get()
    assert notification.authority == "data_protection" and notification.notified_by == people["dpo"]
    event = AuditEvent.objects.get(action="eu.authority_notified")
    assert event.deployment_id == deployment.pk and event.after["reference"] == "DPA-77"
    listed = client.get(_url(deployment, "notifications")).content.decode()
    assert "Data protection authority" in listed and "DPA-77" in listed
    assert "DPA-77" in client_for(people["ao"]).get(_url(deployment)).content.decode()


def _authorise_and_assign_operator(people, deployment) -> None:
    """Complete the EU pack, authorise the deployment and assign people["operator"] to it."""
    eu.eu_record_update(
        actor=people["applicant"],
        deployment=deployment,
        objective="victim_search",
        eu_database_reference="EU-1",
        **FRIA,
    )
    eu.eu_authority_decision_record(
        actor=people["dpo"],
        deployment=deployment,
        authority_kind="judicial",
        authority_name="Court",
        authority_reference="C-1",
        decision="granted",
        decided_on=timezone.localdate(),
    )
    deployment_services.deployment_authorise(
        actor=people["ao"], deployment=deployment, rationale="Necessary.", expires_at=deployment_helpers.expiry()
    )
    deployment_services.deployment_set_assigned_officers(
        actor=people["applicant"], deployment=deployment, officer_ids=[people["operator"].pk]
    )


def test_an_assigned_field_officer_sees_the_log_but_no_form_and_is_refused(eu_mode, people, deployment, client_for):
    engagement = people["operator"]
    _authorise_and_assign_operator(people, deployment)
    client = client_for(engagement)

    page = client.get(_url(deployment, "notifications"))

    assert page.status_code == 200 and "Log the notification" not in page.content.decode()
    refused = client.post(
        _url(deployment, "notifications"), {"authority": "market_surveillance", "notified_at": "2025-03-01T09:30"}
    )
    assert refused.status_code == 403 and not EuNotification.objects.exists()


def _urgent_record(people, deployment) -> None:
    eu.eu_record_update(
        actor=people["applicant"],
        deployment=deployment,
        objective="victim_search",
        urgent=True,
        urgency_justification="Imminent risk.",
        eu_database_reference="EU-DB-1",
        **FRIA,
    )


def test_an_urgent_use_shows_its_24_hour_deadline(eu_mode, people, deployment, client_for):
    _urgent_record(people, deployment)
    # Sessions started in the past rather than frozen time: the signed-in browser session would expire.
    alert_for(deployment, people["operator"], n=1, live=True, start=timezone.now() - datetime.timedelta(hours=20))
    client = client_for(people["ao"])

    running = client.get(_url(deployment)).content.decode()
    assert (
        'data-testid="eu-deadline"' in running and "must be recorded by" in running and "3\xa0hours" in running
    )  # 3 h 59 min left

    eu.eu_authority_decision_record(actor=people["ao"], deployment=deployment, **GRANT)
    assert "the 24 h rule is met" in client.get(_url(deployment)).content.decode()


def test_a_grant_recorded_after_the_24_hours_is_refused_and_the_use_ends(eu_mode, people, deployment, client_for):
    _urgent_record(people, deployment)
    alert_for(deployment, people["operator"], n=1, live=True, start=timezone.now() - datetime.timedelta(hours=25))
    client = client_for(people["ao"])
    assert "deadline passed" in client.get(_url(deployment)).content.decode()  # the beat has not run yet

    with pytest.raises(InvalidTransition) as refused:
        eu.eu_authority_decision_record(actor=people["ao"], deployment=deployment, **GRANT)

    assert refused.value.code == "eu_deadline_passed"
    record = EuAiActRecord.objects.get(deployment=deployment)
    assert record.authority_decision == "pending" and record.terminated_at is not None
    assert record.deletion_evidence["clean"] is True
    assert not MatchingSession.objects.filter(deployment=deployment, status="live").exists()
    assert not AuditEvent.objects.filter(action="eu.authority_decision_recorded").exists()
    refused_event = AuditEvent.objects.get(action="eu.authority_decision_refused")
    assert refused_event.after["authority_reference"] == "C-1" and refused_event.after["reason"] == "deadline_passed"
    assert refused_event.seq < AuditEvent.objects.get(action="eu.use_terminated").seq
    assert "This use was terminated." in client.get(_url(deployment)).content.decode()


def test_a_decision_dated_in_the_future_is_refused(eu_mode, people, deployment):
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    with pytest.raises(RuleViolation) as refused:
        eu.eu_authority_decision_record(actor=people["ao"], deployment=deployment, **{**GRANT, "decided_on": tomorrow})
    assert "decided_on" in refused.value.details and not EuAiActRecord.objects.exists()


def test_the_record_cannot_change_once_the_deployment_has_ended(eu_mode, people, deployment):
    _complete_record = {"objective": "victim_search", "eu_database_reference": "EU-1", **FRIA}
    eu.eu_record_update(actor=people["applicant"], deployment=deployment, **_complete_record)
    for ended in ("completed", "cancelled", "rejected", "revoked", "reviewed"):
        Deployment.objects.filter(pk=deployment.pk).update(status=ended)
        with pytest.raises(InvalidTransition) as refused:
            eu.eu_record_update(actor=people["applicant"], deployment=deployment, fria_d_risks="rewritten later")
        assert refused.value.code == "deployment_ended"
    assert EuAiActRecord.objects.get(deployment=deployment).fria_d_risks == FRIA["fria_d_risks"]
    assert AuditEvent.objects.filter(action="eu.record_updated").count() == 1


# --- the same record through the API -----------------------------------------------------------------------------


def _api_url(deployment) -> str:
    return f"/api/v1/deployments/{deployment.pk}/eu-record/"


def test_the_api_has_no_eu_record_in_uk_mode(people, deployment, api_for, settings):
    settings.LFR_JURISDICTION = "uk"
    assert api_for(people["ao"]).get(_api_url(deployment)).status_code == 404


def test_the_api_shows_an_empty_record_without_creating_one(eu_mode, people, deployment, api_for):
    body = api_for(people["dpo"]).get(_api_url(deployment)).json()
    assert body["saved"] is False and body["objective"] == "" and body["urgent"] is False
    assert body["fria_missing"] == ["a", "b", "c", "d", "e", "f"]
    assert body["urgency"] is None and body["notifications"] == []
    assert not EuAiActRecord.objects.exists(), "reading the record creates none"


def test_the_api_shows_the_record_its_urgency_and_notifications(eu_mode, people, deployment, api_for):
    eu.eu_record_update(
        actor=people["applicant"],
        deployment=deployment,
        objective="victim_search",
        urgent=True,
        urgency_justification="Imminent risk to life.",
        eu_database_reference="EU-DB-7",
        **{**FRIA, "fria_f_mitigation": ""},
    )
    eu.eu_notification_log(
        actor=people["ao"],
        deployment=deployment,
        authority="data_protection",
        reference="DPA-9",
        notified_at=timezone.now(),
    )

    response = api_for(people["applicant"]).get(_api_url(deployment))

    assert response.status_code == 200
    body = response.json()
    assert body["saved"] is True and body["objective"] == "victim_search" and body["eu_database_reference"] == "EU-DB-7"
    assert body["fria_a_processes"] == FRIA["fria_a_processes"] and body["fria_missing"] == ["f"]
    assert body["urgency"]["state"] == "not_started" and body["urgency"]["hours"] == eu.deadline_hours()
    assert body["urgency"]["deadline"] is None  # the 24 h clock starts with the first session
    [notification] = body["notifications"]
    assert notification["authority"] == "data_protection" and notification["reference"] == "DPA-9"
    assert notification["notified_by"] == "ao"


def test_the_api_record_is_visible_exactly_as_the_deployment_is(eu_mode, people, deployment, make_user, api_for):
    _authorise_and_assign_operator(people, deployment)
    url = _api_url(deployment)
    for reader in (people["ao"], people["operator"]):  # the AO, and a field officer assigned to it
        assert api_for(reader).get(url).json()["objective"] == "victim_search"
    for outsider in (Role.APPLICANT, Role.LFR_OPERATOR, Role.ADMINISTRATOR):  # another's, unassigned, no business
        assert api_for(make_user(outsider)).get(url).status_code == 404


def test_the_applicant_completes_the_record_through_the_api_field_by_field(eu_mode, people, deployment, api_for):
    client = api_for(people["applicant"])
    first = client.patch(_api_url(deployment), {"objective": "victim_search", **FRIA}, format="json")
    assert first.status_code == 200
    assert first.json()["objective"] == "victim_search" and first.json()["fria_missing"] == []
    second = client.patch(_api_url(deployment), {"eu_database_reference": "EU-DB-9"}, format="json")
    body = second.json()
    assert body["eu_database_reference"] == "EU-DB-9" and body["fria_a_processes"] == FRIA["fria_a_processes"]
    events = AuditEvent.objects.filter(action="eu.record_updated").order_by("seq")
    assert [sorted(e.after) for e in events] == [sorted(["objective", *FRIA]), ["eu_database_reference"]]
    assert list(eu.eu_authorisation_problems(deployment)) == ["eu_authority"]  # all the applicant's part is done


def test_the_api_refuses_an_eu_record_change_from_anyone_but_the_applicant_or_with_bad_values(
    eu_mode, people, deployment, api_for, make_user
):
    url = _api_url(deployment)
    assert api_for(people["ao"]).patch(url, {"objective": "victim_search"}, format="json").status_code == 403
    other = make_user(Role.APPLICANT)
    assert api_for(other).patch(url, {"objective": "victim_search"}, format="json").status_code == 404  # not theirs
    client = api_for(people["applicant"])
    bad = client.patch(url, {"objective": "crowd_control"}, format="json")
    assert bad.status_code == 400 and "objective" in bad.json()["error"]["details"]
    misspelt = client.patch(url, {"fria_a_process": "x", "authority_decision": "granted"}, format="json")
    assert misspelt.status_code == 400
    assert set(misspelt.json()["error"]["details"]) == {"fria_a_process", "authority_decision"}
    empty = client.patch(url, {}, format="json")
    assert empty.status_code == 400 and empty.json()["error"]["code"] == "nothing_to_change"
    assert not EuAiActRecord.objects.exists() and not AuditEvent.objects.filter(action="eu.record_updated").exists()


def test_the_authority_decision_and_notifications_through_the_api(eu_mode, people, deployment, api_for):
    url = _api_url(deployment)
    decision = {
        "authority_kind": "judicial",
        "authority_name": "Amtsgericht Mitte",
        "authority_reference": "AG-1/26",
        "decision": "granted",
        "decided_on": timezone.localdate().isoformat(),
    }
    assert api_for(people["applicant"]).post(f"{url}authority-decision/", decision, format="json").status_code == 403
    incomplete = api_for(people["ao"]).post(
        f"{url}authority-decision/", {**decision, "decision": "pending"}, format="json"
    )
    assert incomplete.status_code == 400 and "decision" in incomplete.json()["error"]["details"]
    granted = api_for(people["dpo"]).post(f"{url}authority-decision/", decision, format="json")
    assert granted.status_code == 200 and granted.json()["authority_decision"] == "granted"
    assert AuditEvent.objects.filter(action="eu.authority_decision_recorded").count() == 1

    notice = {"authority": "market_surveillance", "reference": "MSA-4", "notified_at": timezone.now().isoformat()}
    logged = api_for(people["applicant"]).post(f"{url}notifications/", notice, format="json")
    assert logged.status_code == 201 and logged.json()["notified_by"] == "applicant"
    assert api_for(people["operator"]).post(f"{url}notifications/", notice, format="json").status_code == 404
    assert [n["reference"] for n in api_for(people["ao"]).get(url).json()["notifications"]] == ["MSA-4"]
    assert EuNotification.objects.count() == 1


def test_a_rejection_through_the_api_terminates_the_use(eu_mode, people, deployment, api_for):
    _authorise_and_assign_operator(people, deployment)
    rejected = api_for(people["ao"]).post(
        f"{_api_url(deployment)}authority-decision/",
        {
            "authority_kind": "administrative",
            "authority_name": "Data Protection Board",
            "authority_reference": "DPB-2",
            "decision": "rejected",
            "decided_on": timezone.localdate().isoformat(),
        },
        format="json",
    )
    assert rejected.status_code == 200
    assert rejected.json()["terminated_at"] is not None and rejected.json()["deletion_evidence"]
    after = api_for(people["applicant"]).patch(_api_url(deployment), {"objective_detail": "x"}, format="json")
    assert after.status_code == 409 and after.json()["error"]["code"] == "eu_terminated"


def test_the_eu_write_endpoints_do_not_exist_in_uk_mode(people, deployment, api_for, settings):
    settings.LFR_JURISDICTION = "uk"
    url = _api_url(deployment)
    assert api_for(people["applicant"]).patch(url, {"objective": "victim_search"}, format="json").status_code == 404
    assert api_for(people["ao"]).post(f"{url}notifications/", {}, format="json").status_code == 404
