"""Calibration records and the false-alert budget in the portal and API: DPO-only changes, every step audited."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from compliance.choices import Role
from compliance.models import AuditEvent
from lfr_portal.errors import InvalidTransition, NotPermitted, RuleViolation
from matching.models import AlertBudgetPolicy, CalibrationStatus
from matching.services.calibration import (
    alert_budget_update,
    calibration_record_approve,
    calibration_record_retire,
)
from tests.matching.calibration_helpers import RUNNER, make_record

NOT_DPO = [role for role in Role.values if role != Role.DPO]
NOT_READERS = [role for role in Role.values if role not in (Role.DPO, Role.AUTHORISING_OFFICER)]


@pytest.fixture
def dpo(make_user):
    return make_user(Role.DPO, username="dpo")


# --- services ---------------------------------------------------------------------------------------------


def test_recording_a_run_is_audited_and_leaves_a_draft(db):
    record = make_record()

    assert record.status == CalibrationStatus.DRAFT and not record.is_stale
    event = AuditEvent.objects.get(action="calibration.recorded")
    assert event.target_type == "matching.calibrationrecord" and event.target_id == str(record.pk)
    assert event.actor_username == RUNNER and event.after["measured_sizes"] == [100, 1000]


def test_dpo_approves_a_record_and_the_previous_one_is_retired(dpo):
    first = calibration_record_approve(actor=dpo, record=make_record())
    second = make_record()

    calibration_record_approve(actor=dpo, record=second)

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (CalibrationStatus.RETIRED, CalibrationStatus.ACTIVE)
    assert second.approved_by == dpo and second.approved_at is not None
    approvals = AuditEvent.objects.filter(action="calibration.approved").order_by("seq")
    assert [e.target_id for e in approvals] == [str(first.pk), str(second.pk)]
    assert approvals.last().after["retired"] == [first.pk]
    retired = AuditEvent.objects.get(action="calibration.retired")
    assert retired.target_id == str(first.pk) and retired.after == {"status": "retired", "replaced_by": second.pk}
    assert retired.actor_id == dpo.pk


def test_a_dpo_cannot_approve_a_calibration_they_ran(dpo, make_user):
    record = make_record(actor=dpo)

    with pytest.raises(NotPermitted) as refused:
        calibration_record_approve(actor=dpo, record=record)

    assert refused.value.code == "own_calibration"
    record.refresh_from_db()
    assert record.status == CalibrationStatus.DRAFT
    assert not AuditEvent.objects.filter(action="calibration.approved").exists()
    calibration_record_approve(actor=make_user(Role.DPO, username="dpo2"), record=record)


def test_a_calibration_that_does_not_name_who_ran_it_cannot_be_approved(dpo, client_for):
    """Separation of duties: a run without a runner could be approved by the DPO who ran it."""
    record = make_record(actor=None)

    with pytest.raises(RuleViolation) as refused:
        calibration_record_approve(actor=dpo, record=record)

    assert refused.value.code == "calibration_runner_unknown" and "--user" in refused.value.message
    record.refresh_from_db()
    assert record.status == CalibrationStatus.DRAFT and record.approved_by is None
    assert not AuditEvent.objects.filter(action="calibration.approved").exists()
    page = client_for(dpo).get(reverse("calibration_detail", args=[record.pk])).content.decode()
    assert "Approve as the active calibration" not in page and "does not record who ran it" in page


@pytest.mark.parametrize("role", NOT_DPO)
def test_only_the_dpo_may_approve(make_user, role):
    record = make_record()
    user = make_user(role)

    with pytest.raises(NotPermitted):
        calibration_record_approve(actor=user, record=record)

    record.refresh_from_db()
    assert record.status == CalibrationStatus.DRAFT
    assert not AuditEvent.objects.filter(action="calibration.approved").exists()


def test_a_stale_record_cannot_be_approved(dpo, settings):
    record = make_record()
    settings.LFR_DETECTOR = "cnn"

    with pytest.raises(RuleViolation) as refused:
        calibration_record_approve(actor=dpo, record=record)
    assert refused.value.code == "calibration_stale"


def test_a_record_without_measured_sizes_cannot_be_approved(dpo):
    record = make_record(sizes=({"size": 100, "status": "refused", "available": 4, "reason": "too small"},))

    with pytest.raises(RuleViolation, match="no watch-list size"):
        calibration_record_approve(actor=dpo, record=record)


def test_an_active_or_retired_record_cannot_be_approved_again(dpo):
    record = calibration_record_approve(actor=dpo, record=make_record())

    with pytest.raises(InvalidTransition):
        calibration_record_approve(actor=dpo, record=record)
    calibration_record_retire(actor=dpo, record=record)
    with pytest.raises(InvalidTransition):
        calibration_record_approve(actor=dpo, record=record)
    with pytest.raises(InvalidTransition):
        calibration_record_retire(actor=dpo, record=record)


def test_the_dpo_changes_the_budget_with_before_and_after_audited(dpo):
    alert_budget_update(actor=dpo, budget_fpir=0.00005)

    policy = AlertBudgetPolicy.current()
    assert policy.budget_fpir == 0.00005 and policy.updated_by == dpo
    event = AuditEvent.objects.get(action="alert_budget.updated")
    assert event.before == {"budget_fpir": 0.0001} and event.after == {"budget_fpir": 0.00005}


@pytest.mark.parametrize("role", NOT_DPO)
def test_only_the_dpo_may_change_the_budget(make_user, role):
    with pytest.raises(NotPermitted):
        alert_budget_update(actor=make_user(role), budget_fpir=0.5)
    assert AlertBudgetPolicy.current().budget_fpir == 0.0001
    assert not AuditEvent.objects.filter(action="alert_budget.updated").exists()


@pytest.mark.parametrize("value", [0, -0.1, 1.5, float("nan"), float("inf"), "lots"])
def test_a_budget_outside_zero_to_one_is_refused(dpo, value):
    with pytest.raises(RuleViolation):
        alert_budget_update(actor=dpo, budget_fpir=value)


# --- pages ------------------------------------------------------------------------------------------------


def test_dpo_reviews_a_record_with_its_plot_and_approves_it(dpo, client_for):
    record = make_record()
    client = client_for(dpo)

    listing = client.get(reverse("calibration_list"))
    assert listing.status_code == 200 and f"#{record.pk}" in listing.text and "Uncalibrated" in listing.text
    detail = client.get(reverse("calibration_detail", args=[record.pk]))
    assert detail.status_code == 200
    assert reverse("calibration_plot", args=[record.pk]) in detail.text
    assert "0.9" in detail.text and "Approve as the active calibration" in detail.text
    plot = client.get(reverse("calibration_plot", args=[record.pk]))
    assert plot.status_code == 200 and plot["Content-Type"] == "image/png"

    response = client.post(reverse("calibration_approve", args=[record.pk]))

    assert response.status_code == 302
    record.refresh_from_db()
    assert record.status == CalibrationStatus.ACTIVE
    assert AuditEvent.objects.filter(action="calibration.approved", actor_id=dpo.pk).count() == 1


def test_dpo_home_panel_shows_the_active_record_and_waiting_drafts(dpo):
    from django.template.loader import render_to_string

    from compliance.views.home import HOME_PANELS
    from matching.panels import calibration_panel

    record = calibration_record_approve(actor=dpo, record=make_record())
    make_record()

    assert calibration_panel in HOME_PANELS[Role.DPO]
    html = render_to_string("home/panels/_calibration_dpo.html", calibration_panel(dpo))
    assert f"Record #{record.pk} is active" in html and "1 calibration run waits for your review" in html
    assert "at most 1 per 10,000 faces" in html
    assert "_calibration_dpo.html" in Path(settings.BASE_DIR, "templates/home/panels/dpo.html").read_text()


def test_the_detail_page_shows_a_stale_badge(dpo, client_for, settings):
    record = make_record()
    settings.LFR_MIN_FACE_PX = 60

    page = client_for(dpo).get(reverse("calibration_detail", args=[record.pk]))

    assert "Stale" in page.text and "no longer describe the matcher in use" in page.text


def test_authorising_officer_reads_but_cannot_approve(make_user, client_for):
    record = make_record()
    client = client_for(make_user(Role.AUTHORISING_OFFICER))

    assert client.get(reverse("calibration_detail", args=[record.pk])).status_code == 200
    assert "Approve as the active calibration" not in client.get(reverse("calibration_detail", args=[record.pk])).text
    assert client.post(reverse("calibration_approve", args=[record.pk])).status_code == 403
    assert client.get(reverse("alert_budget")).status_code == 403
    record.refresh_from_db()
    assert record.status == CalibrationStatus.DRAFT


@pytest.mark.parametrize("role", NOT_READERS)
def test_other_roles_do_not_see_calibration_pages(make_user, client_for, role):
    record = make_record()
    client = client_for(make_user(role))

    assert client.get(reverse("calibration_list")).status_code == 403
    assert client.get(reverse("calibration_plot", args=[record.pk])).status_code == 403
    assert client.post(reverse("calibration_approve", args=[record.pk])).status_code == 403


def test_dpo_edits_the_budget_in_false_alerts_per_10k(dpo, client_for):
    client = client_for(dpo)
    assert client.get(reverse("alert_budget")).status_code == 200

    response = client.post(reverse("alert_budget"), {"false_alerts_per_10k": "0.5"})

    assert response.status_code == 302
    assert AlertBudgetPolicy.current().budget_fpir == pytest.approx(0.00005)
    assert AuditEvent.objects.filter(action="alert_budget.updated", actor_id=dpo.pk).exists()
    invalid = client.post(reverse("alert_budget"), {"false_alerts_per_10k": "0"})
    assert invalid.status_code == 200 and "has-error" in invalid.text


# --- API --------------------------------------------------------------------------------------------------


def test_api_lists_records_for_dpo_and_ao(users, api_for):
    record = make_record()
    for role in (Role.DPO, Role.AUTHORISING_OFFICER):
        response = api_for(users[role]).get("/api/v1/calibration-records/")
        assert response.status_code == 200, role
        body = response.json()
        assert [r["id"] for r in body.get("results", body)] == [record.pk]
    detail = api_for(users[Role.DPO]).get(f"/api/v1/calibration-records/{record.pk}/").json()
    assert detail["is_stale"] is False and detail["identification"]["sizes"][0]["size"] == 100
    for role in NOT_READERS:
        assert api_for(users[role]).get("/api/v1/calibration-records/").status_code == 403, role


def test_api_approve_is_dpo_only_and_audited(users, api_for):
    record = make_record()
    for role in NOT_DPO:
        assert api_for(users[role]).post(f"/api/v1/calibration-records/{record.pk}/approve/").status_code == 403

    response = api_for(users[Role.DPO]).post(f"/api/v1/calibration-records/{record.pk}/approve/")

    assert response.status_code == 200 and response.json()["status"] == "active"
    assert AuditEvent.objects.filter(action="calibration.approved", target_id=str(record.pk)).count() == 1
    again = api_for(users[Role.DPO]).post(f"/api/v1/calibration-records/{record.pk}/approve/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "calibration_not_draft"


def test_api_budget_read_by_all_staff_changed_by_dpo_only(users, api_for):
    for role in Role.values:
        response = api_for(users[role]).get("/api/v1/alert-budget/")
        assert response.status_code == 200 and response.json()["budget_fpir"] == 0.0001, role
    for role in NOT_DPO:
        assert api_for(users[role]).put("/api/v1/alert-budget/", {"budget_fpir": 0.5}, format="json").status_code == 403

    response = api_for(users[Role.DPO]).put("/api/v1/alert-budget/", {"budget_fpir": 0.0002}, format="json")

    assert response.status_code == 200 and response.json()["false_alerts_per_10k"] == pytest.approx(2)
    bad = api_for(users[Role.DPO]).patch("/api/v1/alert-budget/", {"budget_fpir": 3}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_budget"
    assert AuditEvent.objects.filter(action="alert_budget.updated").count() == 1


def test_api_expected_performance_calls_the_budget_function(users, api_for):
    client = api_for(users[Role.WATCHLIST_COMPILER])
    uncalibrated = client.get("/api/v1/expected-performance/", {"watchlist_size": 100, "threshold": 0.5}).json()
    assert uncalibrated["calibrated"] is False and uncalibrated["how"] == "uncalibrated"

    calibration_record_approve(actor=users[Role.DPO], record=make_record())
    result = client.get(
        "/api/v1/expected-performance/", {"watchlist_size": 100, "threshold": 0.6, "policy": "threshold"}
    ).json()

    assert result["calibrated"] is True and result["budget_met"] is False
    assert result["false_alerts_per_10k"] == pytest.approx(1.1)
    assert result["non_mated_faces"] == 100_000 and result["fpir_upper_bound"] > result["expected_fpir"]
    invalid = client.get("/api/v1/expected-performance/", {"watchlist_size": 0, "threshold": 0.5})
    assert invalid.status_code == 400
