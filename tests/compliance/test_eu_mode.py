"""EU AI Act mode (domain.md 8): objective, FRIA, EU database reference and authority before authorisation; the
24-hour rule for urgent starts, both ways; rejection terminates at once; the EU gate; the Art. 12(3) log."""

from __future__ import annotations

import datetime
import io

import pytest
from django.utils import timezone
from freezegun import freeze_time
from pypdf import PdfReader

from compliance import gates
from compliance.choices import Role
from compliance.models import AuditEvent, Deployment, EuAiActRecord
from compliance.services import deployments as deployment_services
from compliance.services import eu_ai_act as eu
from lfr_portal.errors import InvalidTransition, NotPermitted, RuleViolation
from tests.compliance import deployment_helpers
from tests.compliance.retention_helpers import alert_for

pytestmark = pytest.mark.django_db

FRIA = {
    "fria_a_processes": "Locating missing persons at the station concourse.",
    "fria_b_period_frequency": "One 8-hour window.",
    "fria_c_affected_persons": "Travellers passing the concourse.",
    "fria_d_risks": "Misidentification; chilling effect.",
    "fria_e_human_oversight": "Two-person verification before engagement.",
    "fria_f_mitigation": "Stop and review; complaints route.",
}


@pytest.fixture(autouse=True)
def eu_jurisdiction(settings, tmp_path):
    settings.LFR_JURISDICTION = "eu"
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def people(make_user):
    return {
        "applicant": make_user(Role.APPLICANT),
        "ao": make_user(Role.AUTHORISING_OFFICER),
        "dpo": make_user(Role.DPO),
        "operator": make_user(Role.LFR_OPERATOR),
    }


def _complete(people, deployment, **overrides):
    fields = {
        "objective": "victim_search",
        "objective_detail": "Missing child, abduction suspected.",
        "eu_database_reference": "EU-DB-2025-0042",
        **FRIA,
        **overrides,
    }
    return eu.eu_record_update(actor=people["applicant"], deployment=deployment, **fields)


def _authorise(people, deployment):
    deployment_services.deployment_authorise(
        actor=people["ao"], deployment=deployment, rationale="Necessary.", expires_at=deployment_helpers.expiry()
    )
    return Deployment.objects.get(pk=deployment.pk)


def _grant(people, deployment, decision="granted"):
    return eu.eu_authority_decision_record(
        actor=people["ao"],
        deployment=deployment,
        authority_kind="judicial",
        authority_name="Amtsgericht Mitte",
        authority_reference="AG-123/25",
        decision=decision,
        decided_on=timezone.localdate(),
    )


def test_authorisation_needs_objective_fria_database_reference_and_authority(people):
    deployment = deployment_helpers.submitted(people["applicant"])
    with pytest.raises(RuleViolation) as refused:
        _authorise(people, deployment)
    assert {"eu_objective", "eu_fria", "eu_database_reference", "eu_authority"} <= set(refused.value.details)

    _complete(people, deployment, fria_d_risks="")
    with pytest.raises(RuleViolation) as refused:
        _authorise(people, deployment)
    assert set(refused.value.details) == {"eu_fria", "eu_authority"} and "d" in refused.value.details["eu_fria"][0]


def test_with_prior_authority_authorisation_the_deployment_is_authorised(people):
    deployment = deployment_helpers.submitted(people["applicant"])
    _complete(people, deployment)
    _grant(people, deployment)
    assert _authorise(people, deployment).status == "authorised"
    event = AuditEvent.objects.get(action="eu.authority_decision_recorded")
    assert event.after["authority_reference"] == "AG-123/25" and event.after["decision"] == "granted"


def test_changing_the_eu_record_after_authorisation_voids_the_authorisation(people):
    deployment = deployment_helpers.submitted(people["applicant"])
    _complete(people, deployment)
    _grant(people, deployment)
    assert _authorise(people, deployment).status == "authorised"
    _complete(people, deployment)  # the same values again: nothing material changed
    assert Deployment.objects.get(pk=deployment.pk).status == "authorised"
    _complete(people, deployment, objective="threat_prevention", objective_detail="Specific, imminent threat.")
    voided = Deployment.objects.get(pk=deployment.pk)
    assert voided.status == "submitted" and voided.authorisation is None
    event = AuditEvent.objects.get(action="deployment.authorisation_voided")
    assert set(event.after["changed"]) == {"eu_objective", "eu_objective_detail"}


def test_an_urgent_start_needs_a_justification(people):
    deployment = deployment_helpers.submitted(people["applicant"])
    _complete(people, deployment, urgent=True)
    with pytest.raises(RuleViolation) as refused:
        _authorise(people, deployment)
    assert set(refused.value.details) == {"eu_authority"}
    _complete(people, deployment, urgency_justification="Child abducted an hour ago; imminent risk to life.")
    assert _authorise(people, deployment).status == "authorised"


def test_uk_mode_ignores_the_eu_pack(people, settings):
    settings.LFR_JURISDICTION = "uk"
    deployment = deployment_helpers.submitted(people["applicant"])
    assert _authorise(people, deployment).status == "authorised"
    report = gates.deployment_gates(deployment, at=timezone.now())
    assert "eu_authority" not in [g.name for g in report.gates]


@pytest.fixture
def urgent_use(people):
    deployment = deployment_helpers.submitted(people["applicant"])
    _complete(people, deployment, urgent=True, urgency_justification="Imminent threat to life.")
    deployment = _authorise(people, deployment)
    started = timezone.now()
    alerts = alert_for(deployment, people["operator"], n=2, live=True, start=started)
    return deployment, alerts, started


def _eu_gate(deployment, at):
    return next(g for g in gates.deployment_gates(deployment, at=at).gates if g.name == "eu_authority")


def test_urgent_use_not_authorised_within_24_hours_stops_and_everything_is_deleted(people, urgent_use):
    from matching.models import Alert, MatchingSession

    deployment, _alerts, started = urgent_use
    with freeze_time(started + datetime.timedelta(hours=23, minutes=59)):
        assert eu.eu_enforce_authorisation_deadline() == []
        assert _eu_gate(deployment, timezone.now()).passed
    assert Alert.objects.filter(deployment=deployment).count() == 2

    with freeze_time(started + datetime.timedelta(hours=24, minutes=1)):
        from compliance import tasks

        assert tasks.enforce_eu_authorisation_deadline.run() == [deployment.pk]
        gate = _eu_gate(deployment, timezone.now())

    assert not gate.passed and "terminated" in gate.reason
    assert not Alert.objects.filter(deployment=deployment).exists()
    assert not MatchingSession.objects.filter(deployment=deployment, status="live").exists()
    record = EuAiActRecord.objects.get(deployment=deployment)
    assert record.terminated_at is not None and record.deletion_evidence["clean"] is True
    assert record.deletion_evidence["deleted"]["alerts"] == 2
    verified = AuditEvent.objects.get(action="eu.deletion_verified")
    assert verified.after["remaining"] == {
        "alerts": 0,
        "adjudications": 0,
        "equality_records": 0,
        "watchlist_entries": 0,
        "watchlist_files": 0,
    }
    with pytest.raises(InvalidTransition):  # a terminated use cannot be revived by a late decision
        _grant(people, deployment)


def test_urgent_use_authorised_within_24_hours_carries_on(people, urgent_use):
    from matching.models import Alert

    deployment, _alerts, started = urgent_use
    with freeze_time(started + datetime.timedelta(hours=20)):
        _grant(people, deployment)
    with freeze_time(started + datetime.timedelta(hours=30)):
        assert eu.eu_enforce_authorisation_deadline() == []
        assert _eu_gate(deployment, timezone.now()).passed
    assert Alert.objects.filter(deployment=deployment).count() == 2
    assert EuAiActRecord.objects.get(deployment=deployment).terminated_at is None


def test_a_rejection_terminates_the_use_at_once(people, urgent_use):
    from matching.models import Alert

    deployment, _alerts, _started = urgent_use
    _grant(people, deployment, decision="rejected")
    assert not Alert.objects.filter(deployment=deployment).exists()
    assert not _eu_gate(deployment, timezone.now()).passed
    assert AuditEvent.objects.filter(action="eu.use_terminated").count() == 1
    deleted = AuditEvent.objects.get(action="eu.use_data_deleted")  # in the deleting transaction, with counts
    assert deleted.deployment_id == deployment.pk and deleted.after["alerts"] == 2


def test_only_aos_and_the_dpo_record_the_authority_and_notifications_are_logged(people):
    deployment = deployment_helpers.submitted(people["applicant"])
    with pytest.raises(NotPermitted):
        eu.eu_authority_decision_record(
            actor=people["applicant"],
            deployment=deployment,
            authority_kind="judicial",
            authority_name="x",
            authority_reference="y",
            decision="granted",
            decided_on=timezone.localdate(),
        )
    for authority in ("market_surveillance", "data_protection"):
        eu.eu_notification_log(
            actor=people["dpo"], deployment=deployment, authority=authority, reference="N-1", notified_at=timezone.now()
        )
    assert AuditEvent.objects.filter(action="eu.authority_notified").count() == 2
    assert EuAiActRecord.objects.get(deployment=deployment).notifications.count() == 2


def test_an_applicant_cannot_log_a_notification_on_another_applicants_deployment(people, make_user):
    deployment = deployment_helpers.submitted(people["applicant"])
    stranger = make_user(Role.APPLICANT)
    with pytest.raises(NotPermitted) as refused:
        eu.eu_notification_log(
            actor=stranger, deployment=deployment, authority="data_protection", notified_at=timezone.now()
        )
    assert refused.value.code == "not_permitted"
    assert not AuditEvent.objects.filter(action="eu.authority_notified").exists()
    eu.eu_notification_log(
        actor=people["applicant"], deployment=deployment, authority="data_protection", notified_at=timezone.now()
    )
    assert AuditEvent.objects.filter(action="eu.authority_notified").count() == 1


def test_two_person_verification_is_forced_on_and_the_article_12_log_has_its_fields(people, urgent_use):
    from matching.services.alerts import two_person_required

    deployment, alerts, _started = urgent_use
    assert two_person_required()
    log = eu.article_12_log(deployment)
    matches = log["matches"]
    assert len(matches) == 2
    assert set(matches[0]) == {"alert_id", "period_of_use", "reference_database", "input_data", "verifiers"}
    assert matches[0]["input_data"]["frame_id"] == alerts[0].source_frame_id
    # (a) every period of use, not only those with a match; and the log reaches the DPO in the audit pack.
    from compliance.pdf_audit_pack import audit_pack_pdf
    from matching.models import MatchingSession

    sessions = MatchingSession.objects.filter(deployment=deployment)
    assert [p["session_id"] for p in log["periods_of_use"]] == list(
        sessions.order_by("started_at", "pk").values_list("pk", flat=True)
    )
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(audit_pack_pdf(deployment))).pages)
    assert "Art. 12(3) log: periods of use" in text and f"Alert {alerts[0].pk}" in text


def test_an_applicant_made_an_authorising_officer_cannot_record_the_grant_for_their_own_use(people):
    """A grant opens the EU gate for good: the applicant may not record it, whatever role they hold now."""
    deployment = deployment_helpers.submitted(people["applicant"])
    people["applicant"].role = Role.AUTHORISING_OFFICER
    people["applicant"].save(update_fields=["role"])

    with pytest.raises(NotPermitted) as refused:
        _grant({"ao": people["applicant"]}, deployment)

    assert refused.value.code == "own_application"
    assert not AuditEvent.objects.filter(action__startswith="eu.authority_decision").exists()
    _grant(people, deployment)  # another officer may


def test_resaving_the_same_text_with_a_browsers_line_breaks_changes_nothing(people):
    """A browser sends a textarea's line breaks as CRLF: text the API stored with LF came back "changed", was
    audited, and voided the authorisation though nobody changed a word."""
    deployment = deployment_helpers.submitted(people["applicant"])
    _complete(people, deployment, fria_d_risks="Misidentification.\nChilling effect.", objective_detail="One.\nTwo.")
    _grant(people, deployment)
    assert _authorise(people, deployment).status == "authorised"
    events = AuditEvent.objects.count()

    resaved = {"fria_d_risks": "Misidentification.\r\nChilling effect.\r\n", "objective_detail": "One.\rTwo."}
    _complete(people, deployment, **resaved)

    assert Deployment.objects.get(pk=deployment.pk).status == "authorised"
    assert AuditEvent.objects.count() == events
    record = EuAiActRecord.objects.get(deployment=deployment)
    assert (record.fria_d_risks, record.objective_detail) == ("Misidentification.\nChilling effect.", "One.\nTwo.")

    real_change = {"fria_d_risks": "Misidentification.\r\nCrowd displacement.", "objective_detail": "One.\r\nTwo."}
    _complete(people, deployment, **real_change)

    record.refresh_from_db()
    assert record.fria_d_risks == "Misidentification.\nCrowd displacement."  # stored as the API stores it
    assert Deployment.objects.get(pk=deployment.pk).status == "submitted"
    event = AuditEvent.objects.filter(action="eu.record_updated").latest("seq")
    assert event.after["fria_d_risks"] == "Misidentification.\nCrowd displacement."
    voided = AuditEvent.objects.get(action="deployment.authorisation_voided")
    assert voided.after["changed"] == ["eu_fria_d_risks"]


def _failing_once(monkeypatch):
    real = eu._delete_use_data
    calls = {"n": 0}

    def delete(deployment_id, actor):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("storage unavailable")
        return real(deployment_id, actor)

    monkeypatch.setattr(eu, "_delete_use_data", delete)
    return calls


def test_a_termination_whose_deletion_failed_is_run_again_by_the_beat(people, urgent_use, monkeypatch):
    """terminated_at was committed before the data were deleted, and the beat only looked at uses not yet
    terminated: one failed deletion left the alerts, their probe images and the watch-list behind for good."""
    from matching.models import Alert

    deployment, _alerts, started = urgent_use
    calls = _failing_once(monkeypatch)
    deadline = started + datetime.timedelta(hours=24, minutes=1)

    with freeze_time(deadline):
        assert eu.eu_enforce_authorisation_deadline() == []  # the failure is logged; the beat goes on
    record = EuAiActRecord.objects.get(deployment=deployment)
    assert record.terminated_at is not None and Alert.objects.filter(deployment=deployment).count() == 2
    assert record.deletion_evidence["clean"] is False and record.deletion_evidence["error"] == "OSError"
    failed = AuditEvent.objects.get(action="eu.deletion_failed")
    assert failed.deployment_id == deployment.pk and failed.after["attempt"] == 1
    assert not _eu_gate(deployment, deadline).passed  # terminated: the gate stays closed meanwhile

    with freeze_time(deadline + datetime.timedelta(minutes=2)):  # the first run may still be going: not yet
        assert eu.eu_enforce_authorisation_deadline() == []
    assert calls["n"] == 1

    with freeze_time(deadline + eu.EU_DELETION_RETRY_AFTER + datetime.timedelta(minutes=1)):
        assert eu.eu_enforce_authorisation_deadline() == [deployment.pk]

    assert not Alert.objects.filter(deployment=deployment).exists()
    record.refresh_from_db()
    assert record.deletion_evidence["clean"] is True and record.deletion_evidence["attempt"] == 2
    assert record.deletion_evidence["deleted"]["alerts"] == 2
    assert AuditEvent.objects.filter(action="eu.use_terminated").count() == 1  # terminated once, deleted twice
    assert AuditEvent.objects.filter(action="eu.deletion_verified").count() == 1

    with freeze_time(deadline + datetime.timedelta(hours=1)):  # done: never run again
        assert eu.eu_enforce_authorisation_deadline() == []
    assert calls["n"] == 2


def test_a_termination_that_died_before_recording_evidence_is_run_again(people, urgent_use):
    from matching.models import Alert

    deployment, _alerts, started = urgent_use
    died_at = started + datetime.timedelta(hours=24, minutes=1)
    # The worker died between committing the termination and deleting anything: no evidence at all.
    EuAiActRecord.objects.filter(deployment=deployment).update(terminated_at=died_at, termination_reason="Deadline.")

    with freeze_time(died_at + eu.EU_DELETION_RETRY_AFTER + datetime.timedelta(seconds=1)):
        assert eu.eu_enforce_authorisation_deadline() == [deployment.pk]

    assert not Alert.objects.filter(deployment=deployment).exists()
    assert EuAiActRecord.objects.get(deployment=deployment).deletion_evidence["clean"] is True


def test_a_deletion_that_keeps_failing_is_retried_a_bounded_number_of_times(people, urgent_use, monkeypatch):
    deployment, _alerts, started = urgent_use
    monkeypatch.setattr(eu, "EU_DELETION_ATTEMPTS", 2)

    def broken(deployment_id, actor):
        raise OSError("storage unavailable")

    monkeypatch.setattr(eu, "_delete_use_data", broken)
    at = started + datetime.timedelta(hours=24, minutes=1)
    for _run in range(4):
        with freeze_time(at):
            eu.eu_enforce_authorisation_deadline()
        at += eu.EU_DELETION_RETRY_AFTER + datetime.timedelta(minutes=1)

    assert AuditEvent.objects.filter(action="eu.deletion_failed").count() == 2
    assert EuAiActRecord.objects.get(deployment=deployment).deletion_evidence["attempt"] == 2
