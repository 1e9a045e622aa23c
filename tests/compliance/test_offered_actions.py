"""What the pages offer matches what the services allow: no button or link leads to a refusal, and where a rule
withholds one the page says why (rank, separation of duties, state)."""
# ruff: noqa: F811  (fixtures are imported from watchlist_helpers by name)

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from compliance import audit
from compliance.choices import Rank, Role
from compliance.services import deployments as svc
from compliance.views.deployments import available_actions
from tests.a11y import missing_described_by_targets
from tests.compliance import deployment_helpers as h
from tests.compliance.watchlist_helpers import budget, cast, enrol, media, photo  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

RANK_NOTE = "Authorising needs the rank of Superintendent or above"


@pytest.fixture
def inspector_ao(make_user):
    return make_user(Role.AUTHORISING_OFFICER, username="insp-ao", rank=Rank.INSPECTOR)


def _detail(client, deployment) -> str:
    return client.get(reverse("deployment_detail", args=[deployment.pk])).content.decode()


# --- 1. Authorising Officers below the minimum rank ---------------------------------------------------------------


def test_an_ao_below_rank_is_not_offered_the_decision_and_is_told_why(users, inspector_ao, client_for):
    deployment = h.submitted(users[Role.APPLICANT])

    page = _detail(client_for(inspector_ao), deployment)

    assert reverse("deployment_decide", args=[deployment.pk]) not in page
    assert RANK_NOTE in page and "you are Inspector" in page
    senior = _detail(client_for(users[Role.AUTHORISING_OFFICER]), deployment)
    assert reverse("deployment_decide", args=[deployment.pk]) in senior and RANK_NOTE not in senior


def test_an_ao_below_rank_may_still_suspend_but_is_not_offered_resume_revoke_or_close(users, inspector_ao, client_for):
    deployment = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    assert [a["name"] for a in available_actions(inspector_ao, deployment)] == ["suspend", "cancel"]
    svc.deployment_suspend(actor=inspector_ao, deployment=deployment, reason="Crowd too dense.")
    deployment.refresh_from_db()

    offered = [a["name"] for a in available_actions(inspector_ao, deployment)]
    page = _detail(client_for(inspector_ao), deployment)

    assert offered == []
    for action in ("resume", "revoke", "close"):
        assert reverse("deployment_action", args=[deployment.pk, action]) not in page
    assert RANK_NOTE in page
    senior = [a["name"] for a in available_actions(users[Role.AUTHORISING_OFFICER], deployment)]
    assert senior == ["resume", "revoke", "close"]
    assert [a["name"] for a in available_actions(users[Role.DPO], deployment)] == ["revoke"]


def test_an_ao_below_rank_is_refused_the_decision_page_itself(users, inspector_ao, client_for):
    deployment = h.submitted(users[Role.APPLICANT])

    response = client_for(inspector_ao).get(reverse("deployment_decide", args=[deployment.pk]))

    assert response.status_code == 403 and "Superintendent" in response.content.decode()


def test_the_ao_home_of_an_officer_below_rank_lists_nothing_to_decide_and_says_why(users, inspector_ao, client_for):
    deployment = h.submitted(users[Role.APPLICANT])

    page = client_for(inspector_ao).get(reverse("home")).content.decode()

    assert deployment.reference not in page and RANK_NOTE in page
    senior = client_for(users[Role.AUTHORISING_OFFICER]).get(reverse("home")).content.decode()
    assert deployment.reference in senior and RANK_NOTE not in senior


@pytest.fixture
def compiled(cast):
    enrol(cast.compiler, cast.deployment, [("PNC-1.jpg", photo("obama.jpg"))])
    return cast


def test_an_ao_below_rank_is_not_offered_watch_list_approval(compiled, budget, inspector_ao, client_for):
    url = reverse("watchlist_detail", args=[compiled.deployment.pk])

    page = client_for(inspector_ao).get(url).content.decode()
    home = client_for(inspector_ao).get(reverse("home")).content.decode()

    assert "Approve watch-list" not in page and RANK_NOTE in page
    assert url not in home and RANK_NOTE in home
    assert "Approve watch-list" in client_for(compiled.approver).get(url).content.decode()
    assert url in client_for(compiled.approver).get(reverse("home")).content.decode()


def test_the_applicant_appointed_ao_is_not_offered_their_own_watch_list(
    compiled, budget, make_user, appoint, client_for
):
    from compliance.services import accounts

    applicant = accounts.user_change_rank(
        actor=make_user(Role.ADMINISTRATOR), user=compiled.applicant, rank=Rank.SUPERINTENDENT
    )
    applicant = appoint(applicant, Role.AUTHORISING_OFFICER)
    url = reverse("watchlist_detail", args=[compiled.deployment.pk])

    page = client_for(applicant).get(url).content.decode()
    home = client_for(applicant).get(reverse("home")).content.decode()

    assert "Approve watch-list" not in page and "You applied for this deployment" in page
    assert url not in home


def test_a_contributor_appointed_ao_does_not_see_the_list_as_awaiting_their_approval(
    compiled, budget, make_user, appoint, client_for
):
    from compliance.services import accounts

    compiler = accounts.user_change_rank(
        actor=make_user(Role.ADMINISTRATOR), user=compiled.compiler, rank=Rank.SUPERINTENDENT
    )
    compiler = appoint(compiler, Role.AUTHORISING_OFFICER)

    home = client_for(compiler).get(reverse("home")).content.decode()

    assert reverse("watchlist_detail", args=[compiled.deployment.pk]) not in home


# --- 2. EU mode: the record of an ended deployment -----------------------------------------------------------------


def test_the_applicant_is_not_offered_the_eu_record_of_a_rejected_deployment(users, client_for, settings):
    settings.LFR_JURISDICTION = "eu"
    deployment = h.submitted(users[Role.APPLICANT])
    svc.deployment_reject(actor=users[Role.AUTHORISING_OFFICER], deployment=deployment, rationale="Not necessary.")

    page = _detail(client_for(users[Role.APPLICANT]), deployment)

    assert 'data-testid="eu-ai-act"' in page
    assert reverse("eu_record", args=[deployment.pk]) not in page
    assert "can no longer change" in page


# --- 3. Calibration ------------------------------------------------------------------------------------------------


def test_the_dpo_who_ran_a_calibration_is_not_offered_its_approval(make_user, client_for):
    from matching.panels import calibration_panel
    from tests.matching.calibration_helpers import make_record

    runner = make_user(Role.DPO, username="dpo-runner")
    other = make_user(Role.DPO, username="dpo-other")
    record = make_record(actor=runner)
    url = reverse("calibration_detail", args=[record.pk])

    page = client_for(runner).get(url).text

    assert "Approve as the active calibration" not in page and "another Data Protection Officer must approve" in page
    assert calibration_panel(runner)["calibration_drafts"] == 0
    assert calibration_panel(other)["calibration_drafts"] == 1
    assert "Approve as the active calibration" in client_for(other).get(url).text


def test_a_calibration_without_curves_is_not_offered_for_approval(make_user, client_for):
    from matching.panels import calibration_panel
    from tests.matching.calibration_helpers import make_record

    dpo = make_user(Role.DPO)
    record = make_record(sizes=({"size": 100, "status": "refused", "available": 4, "reason": "too small"},))

    page = client_for(dpo).get(reverse("calibration_detail", args=[record.pk])).text

    assert "Approve as the active calibration" not in page and "measured no watch-list size" in page
    assert calibration_panel(dpo)["calibration_drafts"] == 0


def test_retiring_a_calibration_asks_for_confirmation_and_is_a_button(make_user, client_for):
    from tests.matching.calibration_helpers import make_record

    record = make_record()
    page = client_for(make_user(Role.DPO)).get(reverse("calibration_detail", args=[record.pk])).text

    form = re.search(r'<form[^>]*action="{}"[^>]*>'.format(reverse("calibration_retire", args=[record.pk])), page)
    assert form and "data-confirm=" in form.group(0)
    assert re.search(r'<button type="submit" class="button[^"]*">Retire this record', page)


# --- 4. DPO audit log ----------------------------------------------------------------------------------------------


def test_the_audit_log_lists_the_latest_events_on_arrival(make_user, client_for):
    dpo = make_user(Role.DPO, username="dpo")
    audit.record_now("session.gate_refused", actor=dpo, after={"gate": "signage"})

    page = client_for(dpo).get(reverse("dpo_audit_log")).content.decode()

    assert "session.gate_refused" in page and "No events match." not in page


def test_an_unreadable_audit_filter_still_shows_its_error(make_user, client_for):
    dpo = make_user(Role.DPO, username="dpo")
    audit.record_now("session.gate_refused", actor=dpo, after={"gate": "signage"})

    page = client_for(dpo).get(reverse("dpo_audit_log"), {"since": "last tuesday"}).content.decode()

    assert 'aria-invalid="true"' in page and "session.gate_refused" not in page


# --- 5. Evidential holds for Authorising Officers ------------------------------------------------------------------


def test_an_authorising_officer_is_linked_to_evidential_holds(users, client_for):
    page = client_for(users[Role.AUTHORISING_OFFICER]).get(reverse("home")).content.decode()

    assert f'href="{reverse("dpo_holds")}"' in page


# --- 6. Watch-list buttons -----------------------------------------------------------------------------------------


def test_watch_list_buttons_are_styled(compiled, budget, client_for):
    url = reverse("watchlist_detail", args=[compiled.deployment.pk])
    compiler_page = client_for(compiled.compiler).get(url).content.decode()
    approver_page = client_for(compiled.approver).get(url).content.decode()

    assert re.search(r'<button type="submit" class="button">Upload for enrolment', compiler_page)
    assert re.search(r'<button type="submit" class="button (danger|secondary)">Remove<span', compiler_page)
    assert re.search(r'<button type="submit" class="button">Approve watch-list', approver_page)


# --- 7. Retention form ---------------------------------------------------------------------------------------------


def test_a_refused_retention_period_names_its_data_class_is_tied_to_its_field_and_keeps_the_typed_value(
    make_user, client_for
):
    client = client_for(make_user(Role.DPO, username="dpo"))

    page = client.post(reverse("dpo_retention"), {"data_class": "alert", "period_hours": "9999"}).content.decode()

    summary = re.search(r'<div class="error-summary".*?</div>', page, re.S).group(0)
    assert "Alerts with their probe images" in summary and "looser than the statutory maximum" in summary
    refused = [tag for tag in re.findall(r'<input[^>]*name="period_hours"[^>]*>', page) if "aria-invalid" in tag]
    assert len(refused) == 1, "the refused field, and only it, is marked invalid"
    field_id = re.search(r'\bid="([^"]+)"', refused[0]).group(1)
    assert f'href="#{field_id}"' in summary and f"{field_id}_error" in refused[0]
    assert 'value="9999"' in refused[0]
    assert len(re.findall(r'aria-invalid="true"', page)) == 1  # the other data classes are untouched
    assert missing_described_by_targets(page) == []
