"""The six gates (domain.md 2.3), and the signage, leaflet and team records they depend on (domain.md 2.4)."""
# ruff: noqa: F811  (the watchlist_ok fixture is imported from deployment_helpers by name)

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from freezegun import freeze_time

from compliance import gates
from compliance.choices import DeploymentStatus, Role
from compliance.models import AuditEvent, Deployment
from compliance.services import deployments as svc
from lfr_portal.errors import InvalidTransition, NotPermitted, RuleViolation
from tests.compliance import deployment_helpers as h
from tests.compliance.deployment_helpers import watchlist_ok  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def ready(users, make_user):
    """An authorised deployment with signage placed and a trained operator assigned; `at` is inside its window."""
    applicant = users[Role.APPLICANT]
    deployment = h.authorised(applicant, users[Role.AUTHORISING_OFFICER])
    operator = users[Role.LFR_OPERATOR]
    svc.deployment_set_assigned_officers(actor=applicant, deployment=deployment, officer_ids=[operator.pk])
    window = deployment.windows.get()
    placed = window.start - datetime.timedelta(minutes=30)
    with freeze_time(placed):  # recorded once placed: a record ahead of time is refused
        svc.signage_record_add(
            actor=applicant,
            deployment=deployment,
            position_description="Both ends of High Street",
            sign_count=4,
            placed_at=placed,
        )
    return deployment, operator, window.start + datetime.timedelta(hours=1)


def _failed(report):
    return [gate.name for gate in report.gates if not gate.passed]


def test_all_gates_pass_and_come_in_order(ready, watchlist_ok):
    deployment, operator, at = ready
    report = gates.deployment_gates(deployment, at=at, operator=operator)
    assert [g.name for g in report.gates] == list(gates.GATE_NAMES)
    assert report.passed and report.first_failure is None


def test_watchlist_gate_fails_closed_when_nothing_is_registered(ready):
    deployment, operator, at = ready
    saved = list(gates._watchlist_gate)
    gates._watchlist_gate.clear()
    try:
        report = gates.deployment_gates(deployment, at=at, operator=operator)
    finally:
        gates._watchlist_gate[:] = saved
    assert not report.passed
    assert report.first_failure.name == "watchlist"
    assert report.first_failure.reason == "No approved watch-list"


def test_watchlist_gate_that_raises_fails_closed(ready):
    deployment, operator, at = ready
    saved = list(gates._watchlist_gate)

    def broken(deployment, at):
        raise RuntimeError("db down")

    gates.register_watchlist_gate(broken)
    try:
        report = gates.deployment_gates(deployment, at=at)
    finally:
        gates._watchlist_gate[:] = saved
    assert _failed(report) == ["watchlist"]


def test_outside_window_fails_window_gate(ready, watchlist_ok):
    deployment, operator, at = ready
    window = deployment.windows.get()
    assert _failed(gates.deployment_gates(deployment, at=window.end, operator=operator)) == ["window"]
    before = window.start - datetime.timedelta(seconds=1)
    assert "window" in _failed(gates.deployment_gates(deployment, at=before, operator=operator))


@pytest.mark.parametrize("action", ["suspend", "revoke"])
def test_suspended_or_revoked_fails_authorisation_gate(ready, watchlist_ok, users, action):
    deployment, operator, at = ready
    getattr(svc, f"deployment_{action}")(actor=users[Role.DPO], deployment=deployment, reason="stop")
    report = gates.deployment_gates(deployment, at=at, operator=operator)
    assert report.first_failure.name == "authorisation"


def test_expired_authorisation_fails(ready, watchlist_ok):
    deployment, operator, _at = ready
    expires = deployment.authorisation.expires_at
    report = gates.deployment_gates(deployment.pk, at=expires, operator=operator)
    assert "authorisation" in _failed(report)


def test_voided_authorisation_fails(ready, watchlist_ok, users):
    deployment, operator, at = ready
    svc.deployment_update(actor=users[Role.APPLICANT], deployment=deployment, location_name="Elsewhere")
    assert gates.deployment_gates(deployment, at=at, operator=operator).first_failure.name == "authorisation"


def test_signage_removed_fails_signage_gate(ready, watchlist_ok, users):
    deployment, operator, at = ready
    record = deployment.signage.get()
    with freeze_time(at):
        svc.signage_record_update(
            actor=users[Role.APPLICANT], record=record, removed_at=at - datetime.timedelta(minutes=1)
        )
    assert _failed(gates.deployment_gates(deployment, at=at, operator=operator)) == ["signage"]


def test_no_signage_fails_signage_gate(users, watchlist_ok):
    deployment = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    at = deployment.windows.get().start
    assert _failed(gates.deployment_gates(deployment, at=at)) == ["signage"]


def test_public_notice_gate(ready, watchlist_ok, users):
    deployment, operator, at = ready
    # The notice must have been given by the time of the check, at least 24 h before the first window.
    Deployment.objects.filter(pk=deployment.pk).update(public_notice_at=at + datetime.timedelta(minutes=1))
    assert _failed(gates.deployment_gates(deployment, at=at, operator=operator)) == ["public_notice"]
    Deployment.objects.filter(pk=deployment.pk).update(public_notice_at=at - datetime.timedelta(hours=2))
    assert _failed(gates.deployment_gates(deployment, at=at, operator=operator)) == ["public_notice"]
    Deployment.objects.filter(pk=deployment.pk).update(critical_threat_justification="Imminent threat.")
    assert gates.deployment_gates(deployment, at=at, operator=operator).passed


def test_operator_gate_not_evaluated_without_an_operator(ready, watchlist_ok):
    deployment, _operator, at = ready
    report = gates.deployment_gates(deployment, at=at)
    operator_gate = report.gates[-1]
    assert operator_gate.passed and operator_gate.reason == "No operator given: not evaluated."


def test_unassigned_or_untrained_operator_fails(ready, watchlist_ok, make_user, users):
    deployment, _operator, at = ready
    stranger = make_user(Role.LFR_OPERATOR)
    assert _failed(gates.deployment_gates(deployment, at=at, operator=stranger)) == ["operator"]
    untrained = make_user(Role.LFR_OPERATOR, trained=False)
    deployment.assigned_officers.add(untrained)  # e.g. assigned while training was current
    report = gates.deployment_gates(deployment, at=at, operator=untrained)
    assert _failed(report) == ["operator"] and "training" in report.first_failure.reason
    assert _failed(gates.deployment_gates(deployment, at=at, operator=users[Role.ENGAGEMENT_OFFICER])) == ["operator"]


def test_signage_counts_from_its_placing_until_its_removal(ready, watchlist_ok, users):
    # The gate check is hand-written SQL (compliance/gates.py): pin its time boundaries to the model's meaning.
    deployment, operator, at = ready
    record = deployment.signage.get()
    applicant = users[Role.APPLICANT]
    with freeze_time(at + datetime.timedelta(seconds=1)):
        svc.signage_record_update(actor=applicant, record=record, removed_at=at + datetime.timedelta(seconds=1))
    assert gates.deployment_gates(deployment, at=at, operator=operator).passed  # removal still ahead
    assert _failed(gates.deployment_gates(deployment, at=at + datetime.timedelta(seconds=1), operator=operator)) == [
        "signage"
    ]  # removed at that instant
    type(record).objects.filter(pk=record.pk).update(placed_at=at + datetime.timedelta(seconds=1), removed_at=None)
    assert _failed(gates.deployment_gates(deployment, at=at, operator=operator)) == ["signage"]  # not yet placed


def test_training_counts_through_its_expiry_day_and_not_after(ready, watchlist_ok):
    deployment, operator, at = ready
    record = operator.training_records.get()
    today = timezone.localdate(at)  # a training record's dates are the force's local days
    type(record).objects.filter(pk=record.pk).update(completed_on=today - datetime.timedelta(days=30), expires_on=today)
    assert gates.deployment_gates(deployment, at=at, operator=operator).passed
    type(record).objects.filter(pk=record.pk).update(expires_on=today - datetime.timedelta(days=1))
    assert _failed(gates.deployment_gates(deployment, at=at, operator=operator)) == ["operator"]
    type(record).objects.filter(pk=record.pk).update(
        completed_on=today + datetime.timedelta(days=1), expires_on=today + datetime.timedelta(days=365)
    )
    assert _failed(gates.deployment_gates(deployment, at=at, operator=operator)) == ["operator"]  # not yet trained


def test_the_window_is_half_open_and_notice_is_measured_from_the_first_window(ready, watchlist_ok, users):
    deployment, operator, _at = ready
    window = deployment.windows.get()
    assert gates.deployment_gates(deployment, at=window.start, operator=operator).passed
    assert _failed(gates.deployment_gates(deployment, at=window.end, operator=operator)) == ["window"]
    report = gates.deployment_gates(deployment, at=window.start, operator=operator)
    assert str(window) in next(g.reason for g in report.gates if g.name == "window")


def test_several_windows_are_read_in_order_with_the_facts_and_none_is_no_window(ready, watchlist_ok):
    # The gate statement joins the windows: one row per window, each with the same facts; none gives one row.
    from compliance.models import DeploymentWindow

    deployment, operator, _at = ready
    first = deployment.windows.get()
    hour = datetime.timedelta(hours=1)
    later = DeploymentWindow.objects.create(deployment=deployment, start=first.end + hour, end=first.end + 3 * hour)
    report = gates.deployment_gates(deployment, at=later.start + hour, operator=operator)
    assert [(w.start, w.end) for w in report.deployment.gate_windows] == [
        (first.start, first.end),
        (later.start, later.end),
    ]
    assert report.passed, report.as_dict()
    assert str(later) in next(g.reason for g in report.gates if g.name == "window")
    between = first.end + hour / 2
    assert _failed(gates.deployment_gates(deployment, at=between, operator=operator)) == ["window"]
    DeploymentWindow.objects.filter(deployment=deployment).delete()
    report = gates.deployment_gates(deployment, at=first.start, operator=operator)
    assert report.deployment.gate_windows == [] and _failed(report) == ["window"]


def test_a_missing_deployment_is_not_found():
    with pytest.raises(Deployment.DoesNotExist):
        gates.deployment_gates(987654, at=timezone.now())


def test_gates_use_a_fixed_number_of_queries(ready, watchlist_ok, django_assert_max_num_queries):
    deployment, _operator, at = ready
    with django_assert_max_num_queries(1):
        gates.deployment_gates(deployment.pk, at=at)


# --- Team, signage and leaflets -------------------------------------------------------------------------------


def test_assigning_untrained_or_wrong_role_refused(users, make_user):
    deployment = h.authorised(users[Role.APPLICANT], users[Role.AUTHORISING_OFFICER])
    untrained = make_user(Role.LFR_OPERATOR, trained=False)
    with pytest.raises(RuleViolation) as exc:
        svc.deployment_set_assigned_officers(
            actor=users[Role.APPLICANT], deployment=deployment, officer_ids=[untrained.pk, users[Role.DPO].pk]
        )
    assert len(exc.value.details["assigned_officers"]) == 2
    with pytest.raises(NotPermitted):
        svc.deployment_set_assigned_officers(
            actor=users[Role.AUTHORISING_OFFICER], deployment=deployment, officer_ids=[]
        )


def test_assigned_officer_may_record_signage_and_leaflets_strangers_may_not(users, make_user):
    applicant = users[Role.APPLICANT]
    deployment = h.authorised(applicant, users[Role.AUTHORISING_OFFICER])
    operator = users[Role.LFR_OPERATOR]
    with pytest.raises(NotPermitted):
        svc.signage_record_add(
            actor=operator, deployment=deployment, position_description="x", sign_count=1, placed_at=timezone.now()
        )
    svc.deployment_set_assigned_officers(actor=applicant, deployment=deployment, officer_ids=[operator.pk])
    record = svc.signage_record_add(
        actor=operator, deployment=deployment, position_description="Station exit", sign_count=2,
        placed_at=timezone.now(),
    )  # fmt: skip
    assert record.placed_by == operator
    leaflets = svc.leaflet_record_add(actor=operator, deployment=deployment, count=150, shift_start=timezone.now())
    assert leaflets.count == 150
    actions = set(AuditEvent.objects.filter(deployment_id=deployment.pk).values_list("action", flat=True))
    assert {"deployment.signage_recorded", "deployment.leaflets_recorded", "deployment.officers_assigned"} <= actions
    with pytest.raises(NotPermitted):
        svc.leaflet_record_add(actor=users[Role.DPO], deployment=deployment, count=1, shift_start=timezone.now())


def test_signage_validation_names_fields(users):
    deployment = h.draft(users[Role.APPLICANT])
    with pytest.raises(RuleViolation) as exc:
        svc.signage_record_add(
            actor=users[Role.APPLICANT], deployment=deployment, position_description="", sign_count=0, placed_at=None
        )
    assert set(exc.value.details) == {"position_description", "sign_count", "placed_at"}
    record = svc.signage_record_add(
        actor=users[Role.APPLICANT], deployment=deployment, position_description="x", sign_count=1,
        placed_at=timezone.now(),
    )  # fmt: skip
    with pytest.raises(RuleViolation) as exc:
        svc.signage_record_update(
            actor=users[Role.APPLICANT], record=record, removed_at=record.placed_at - datetime.timedelta(minutes=1)
        )
    assert "removed_at" in exc.value.details


def test_records_editable_only_until_completion(users):
    applicant = users[Role.APPLICANT]
    deployment = h.authorised(applicant, users[Role.AUTHORISING_OFFICER])
    record = svc.signage_record_add(
        actor=applicant, deployment=deployment, position_description="x", sign_count=1, placed_at=timezone.now()
    )
    leaflets = svc.leaflet_record_add(actor=applicant, deployment=deployment, count=10, shift_start=timezone.now())
    svc.deployment_close(actor=users[Role.AUTHORISING_OFFICER], deployment=deployment, reason="done")
    with pytest.raises(InvalidTransition):
        svc.signage_record_add(
            actor=applicant, deployment=deployment, position_description="y", sign_count=1, placed_at=timezone.now()
        )
    with pytest.raises(InvalidTransition):
        svc.signage_record_update(actor=applicant, record=record, sign_count=3)
    with pytest.raises(InvalidTransition):
        svc.leaflet_record_add(actor=applicant, deployment=deployment, count=1, shift_start=timezone.now())
    with pytest.raises(InvalidTransition):
        svc.leaflet_record_update(actor=applicant, record=leaflets, count=11)
    # Signs come down after the last window: their removal may still be recorded until the review publishes.
    removed = svc.signage_record_update(actor=applicant, record=record, removed_at=timezone.now())
    assert removed.removed_by == applicant
    svc.deployment_review(
        actor=users[Role.AUTHORISING_OFFICER], deployment=deployment, objective_met="yes", outcome_summary="ok"
    )
    with pytest.raises(InvalidTransition):
        svc.signage_record_update(actor=applicant, record=record, removed_at=timezone.now())


def test_leaflet_update_is_audited(users):
    applicant = users[Role.APPLICANT]
    deployment = h.submitted(applicant)
    record = svc.leaflet_record_add(actor=applicant, deployment=deployment, count=10, shift_start=timezone.now())
    svc.leaflet_record_update(actor=applicant, record=record, count=12)
    event = AuditEvent.objects.get(action="deployment.leaflets_updated")
    assert event.before["count"] == 10 and event.after["count"] == 12 and event.deployment_id == deployment.pk
    assert Deployment.objects.get(pk=deployment.pk).status == DeploymentStatus.SUBMITTED


def test_signage_update_is_audited_only_when_something_changed(users):
    applicant = users[Role.APPLICANT]
    deployment = h.submitted(applicant)
    placed = timezone.now() - datetime.timedelta(hours=1)
    record = svc.signage_record_add(
        actor=applicant, deployment=deployment, position_description="Station exit", sign_count=2, placed_at=placed
    )
    svc.signage_record_update(actor=applicant, record=record, sign_count=2)
    assert not AuditEvent.objects.filter(action="deployment.signage_updated").exists()
    svc.signage_record_update(actor=applicant, record=record, sign_count=3)
    event = AuditEvent.objects.get(action="deployment.signage_updated")
    assert event.before["sign_count"] == 2 and event.after["sign_count"] == 3 and event.deployment_id == deployment.pk


def test_signs_cannot_be_recorded_as_placed_or_removed_ahead_of_time(ready, watchlist_ok, users):
    """Gate 4 rests on signs recorded as placed: a record made at the office two days early opened the gate by
    itself when its time came, whether or not anyone put a sign up."""
    deployment, operator, at = ready
    applicant = users[Role.APPLICANT]
    with pytest.raises(RuleViolation) as refused:
        svc.signage_record_add(
            actor=applicant, deployment=deployment, position_description="Market entrance", sign_count=2,
            placed_at=timezone.now() + datetime.timedelta(days=2),
        )  # fmt: skip
    assert set(refused.value.details) == {"placed_at"} and "still to come" in refused.value.details["placed_at"][0]
    record = deployment.signage.get()
    with pytest.raises(RuleViolation) as refused:
        svc.signage_record_update(
            actor=applicant, record=record, removed_at=timezone.now() + datetime.timedelta(hours=1)
        )
    assert set(refused.value.details) == {"removed_at"}
    assert deployment.signage.count() == 1 and deployment.signage.get().removed_at is None
    # A device clock a little ahead is not refused.
    svc.signage_record_add(
        actor=applicant, deployment=deployment, position_description="Market entrance", sign_count=2,
        placed_at=timezone.now() + datetime.timedelta(seconds=30),
    )  # fmt: skip
