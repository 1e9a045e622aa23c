"""Retention you can prove (domain.md 6): each rule with time travel, dry runs, evidential holds, DPO-only policy."""

from __future__ import annotations

import datetime

import pytest
from django.core.management import call_command
from freezegun import freeze_time

from compliance import tasks
from compliance.choices import Role
from compliance.models import AuditEvent, EvidentialHold, RetentionRun, Watchlist, WatchlistEntry
from compliance.models.watchlists import WatchlistStatus
from compliance.services import retention as svc
from compliance.services import watchlists as watchlist_services
from lfr_portal.errors import InvalidTransition, NotPermitted, RuleViolation
from tests.compliance.retention_helpers import alert_for, completed_deployment
from tests.compliance.watchlist_helpers import budget, cast, enrol, media, photo  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

ALERT = "matching.alert"


@pytest.fixture(autouse=True)
def archive(settings, tmp_path):
    settings.LFR_AUDIT_ARCHIVE_DIR = tmp_path / "audit-archive"
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def dpo(make_user):
    return make_user(Role.DPO, username="dpo")


@pytest.fixture
def finished(make_user):
    """A completed deployment with two alerts (one engaged with an arrest) and an operator."""
    applicant, ao = make_user(Role.APPLICANT), make_user(Role.AUTHORISING_OFFICER)
    deployment = completed_deployment(applicant, ao)
    operator = make_user(Role.LFR_OPERATOR)
    alerts = alert_for(deployment, operator, n=1) + alert_for(deployment, operator, n=1, outcome="arrest")
    return deployment, alerts


def _probes_left(deployment) -> int:
    from matching.models import Alert

    return Alert.objects.filter(deployment=deployment, probe_crop__isnull=False).count()


# --- Policies ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [r for r in Role.values if r != Role.DPO])
def test_only_the_dpo_sets_retention_policy(make_user, role):
    with pytest.raises(NotPermitted):
        svc.retention_policy_set(actor=make_user(role), data_class="alert", period_hours=24)


def test_the_dpo_tightens_a_policy_and_the_change_is_audited(dpo):
    svc.retention_policy_set(actor=dpo, data_class="alert", period_hours=14 * 24, note="Force policy 2025/3")

    assert svc.retention_hours("alert") == 14 * 24
    event = AuditEvent.objects.get(action="retention.policy_changed")
    assert event.before == {"data_class": "alert", "period_hours": 31 * 24, "note": ""}
    assert event.after == {"data_class": "alert", "period_hours": 14 * 24, "note": "Force policy 2025/3"}
    assert event.actor_username == "dpo"


@pytest.mark.parametrize(("data_class", "hours"), [("alert", 32 * 24), ("watchlist", 25)])
def test_a_policy_looser_than_the_statutory_bound_is_refused(dpo, data_class, hours):
    with pytest.raises(RuleViolation) as refused:
        svc.retention_policy_set(actor=dpo, data_class=data_class, period_hours=hours)
    assert "looser than the statutory maximum" in refused.value.details["period_hours"][0]
    assert not AuditEvent.objects.filter(action="retention.policy_changed").exists()


def test_the_audit_log_period_can_be_shortened_but_not_lengthened(dpo, settings):
    """domain.md 6: six years by default, at least six months, and the DPO may only tighten; 50 years was
    accepted."""
    longest = settings.LFR_AUDIT_RETENTION_DAYS * 24
    with pytest.raises(RuleViolation) as refused:
        svc.retention_policy_set(actor=dpo, data_class="audit_log", period_hours=50 * 365 * 24)
    assert "looser than the statutory maximum" in refused.value.details["period_hours"][0]
    svc.retention_policy_set(actor=dpo, data_class="audit_log", period_hours=longest - 24)
    assert svc.retention_hours("audit_log") == longest - 24


def test_adjudication_outcomes_are_kept_and_have_no_period(dpo):
    assert svc.retention_hours("adjudication") is None
    with pytest.raises(RuleViolation):
        svc.retention_policy_set(actor=dpo, data_class="adjudication", period_hours=1)


# --- Alerts and probe images -------------------------------------------------------------------------------------


def test_alert_probe_images_go_31_days_after_the_deployment_and_outcomes_stay(finished):
    deployment, alerts = finished
    completed = deployment.completed_at

    # 31 days is a maximum: what falls due before the next sweep goes now, so the deadline is never passed.
    deadline, sweep = completed + datetime.timedelta(days=31), svc.sweep_interval()
    with freeze_time(deadline - sweep - datetime.timedelta(minutes=1)):
        tasks.enforce_retention.run()
    assert _probes_left(deployment) == 2

    with freeze_time(deadline - sweep + datetime.timedelta(minutes=1)):
        run = RetentionRun.objects.get(pk=tasks.enforce_retention.run())

    assert _probes_left(deployment) == 0
    assert run.status == "ok" and {d["target_id"] for d in run.deleted} == {str(a.pk) for a in alerts}
    from matching.models import Alert

    kept = Alert.objects.get(pk=alerts[1].pk)
    assert kept.outcome == "arrest" and kept.probe_destroyed_at is not None  # the statistics survive
    verified = AuditEvent.objects.filter(action="retention.verified", target_type=ALERT)
    assert verified.count() == 2
    assert all(e.after["found"] == [] and e.after["checks"]["field:probe crops"] == 0 for e in verified)
    # A second sweep finds nothing due: idempotent.
    with freeze_time(completed + datetime.timedelta(days=40)):
        again = svc.retention_enforce(trigger="test")
    assert again.due == [] and again.deleted == []


def test_the_dpo_can_tighten_the_alert_period(finished, dpo):
    deployment, _alerts = finished
    svc.retention_policy_set(actor=dpo, data_class="alert", period_hours=48)
    with freeze_time(deployment.completed_at + datetime.timedelta(hours=48, minutes=1)):
        svc.retention_enforce(trigger="test")
    assert _probes_left(deployment) == 0


def test_an_evidential_hold_protects_an_alert_until_lifted(finished, dpo, make_user):
    deployment, alerts = finished
    held = alerts[1]
    hold = svc.evidential_hold_place(actor=dpo, target_type=ALERT, target_id=held.pk, reason="Crown Court case T2025/1")
    later = deployment.completed_at + datetime.timedelta(days=32)

    with freeze_time(later):
        run = svc.retention_enforce(trigger="test")

    from matching.models import Alert

    assert Alert.objects.get(pk=held.pk).probe_crop is not None
    assert Alert.objects.get(pk=alerts[0].pk).probe_crop is None
    assert run.held == [
        {
            **run.held[0],
            "target_id": str(held.pk),
            "hold_id": hold.pk,
            "reason": "Crown Court case T2025/1",
            "placed_by": "dpo",
        }
    ]
    placed = AuditEvent.objects.get(action="retention.hold_placed")
    assert placed.target_id == str(held.pk) and placed.after["reason"] == "Crown Court case T2025/1"

    svc.evidential_hold_lift(actor=make_user(Role.AUTHORISING_OFFICER), hold=hold, reason="Case concluded.")
    with freeze_time(later):
        svc.retention_enforce(trigger="test")
    assert Alert.objects.get(pk=held.pk).probe_crop is None
    assert AuditEvent.objects.get(action="retention.hold_lifted").after["lift_reason"] == "Case concluded."


def test_holds_are_refused_twice_without_reason_and_to_other_roles(finished, dpo, make_user):
    _deployment, alerts = finished
    with pytest.raises(RuleViolation):
        svc.evidential_hold_place(actor=dpo, target_type=ALERT, target_id=alerts[0].pk, reason=" ")
    with pytest.raises(NotPermitted):
        svc.evidential_hold_place(actor=make_user(Role.LFR_OPERATOR), target_type=ALERT, target_id=1, reason="x")
    with pytest.raises(RuleViolation):  # watch-lists are destroyed on time, never held
        svc.evidential_hold_place(actor=dpo, target_type="compliance.watchlist", target_id=1, reason="x")
    hold = svc.evidential_hold_place(actor=dpo, target_type=ALERT, target_id=alerts[0].pk, reason="Complaint")
    with pytest.raises(InvalidTransition):
        svc.evidential_hold_place(actor=dpo, target_type=ALERT, target_id=alerts[0].pk, reason="Again")
    svc.evidential_hold_lift(actor=dpo, hold=hold, reason="Done")
    with pytest.raises(InvalidTransition):
        svc.evidential_hold_lift(actor=dpo, hold=hold, reason="Again")
    assert EvidentialHold.objects.filter(lifted_at__isnull=True).count() == 0


def test_dry_run_lists_what_would_go_and_changes_nothing(finished, capsys):
    deployment, alerts = finished
    with freeze_time(deployment.completed_at + datetime.timedelta(days=32)):
        events_before = AuditEvent.objects.count()
        call_command("enforce_retention", "--dry-run")
    out = capsys.readouterr().out

    assert f"DUE  alert      {ALERT}:{alerts[0].pk}" in out and "2 due, 0 held" in out
    assert _probes_left(deployment) == 2
    assert AuditEvent.objects.count() == events_before and not RetentionRun.objects.exists()


def test_a_failed_verification_is_recorded_as_a_failure(finished, monkeypatch):
    deployment, _alerts = finished
    handler = svc.retention_handlers() and svc._HANDLERS["alert"]
    lying = svc.RetentionHandler(
        handler.data_class,
        handler.target_type,
        handler.due,
        lambda item, actor: {"pretended": True},  # deletes nothing
        handler.verify,
        handler.holdable,
    )
    monkeypatch.setitem(svc._HANDLERS, "alert", lying)

    with freeze_time(deployment.completed_at + datetime.timedelta(days=32)):
        run = svc.retention_enforce(trigger="test")

    assert run.status == "failed" and len(run.failures) == 2
    assert all(f["stage"] == "verify" and f["found"] for f in run.failures)
    assert AuditEvent.objects.filter(action="retention.verification_failed").count() == 2


def test_enforce_retention_command_exits_non_zero_on_failure(finished, monkeypatch):
    deployment, _alerts = finished

    def explode(item, actor):
        raise OSError("disk unavailable")

    handler = svc.retention_handlers() and svc._HANDLERS["alert"]
    monkeypatch.setitem(
        svc._HANDLERS,
        "alert",
        svc.RetentionHandler(handler.data_class, handler.target_type, handler.due, explode, handler.verify, True),
    )
    from django.core.management.base import CommandError

    with freeze_time(deployment.completed_at + datetime.timedelta(days=32)), pytest.raises(CommandError):
        call_command("enforce_retention")
    assert AuditEvent.objects.filter(action="retention.failed").count() == 2
    assert _probes_left(deployment) == 2


# --- Watch-lists ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # real commits: files go in on_commit, before the verification runs
def test_watchlists_go_after_the_dpo_period_and_nothing_of_them_remains(cast, budget, media, dpo):  # noqa: F811
    from compliance.services import deployments as deployment_services

    enrol(cast.compiler, cast.deployment, [("PNC-1.jpg", photo("obama.jpg")), ("PNC-2.jpg", photo("biden.jpg"))])
    watchlist_services.watchlist_approve(actor=cast.approver, deployment=cast.deployment)
    deployment_services.deployment_close(actor=cast.ao, deployment=cast.deployment, reason="Done.")
    cast.deployment.refresh_from_db()
    svc.retention_policy_set(actor=dpo, data_class="watchlist", period_hours=2, note="Tightened")

    with freeze_time(cast.deployment.completed_at + datetime.timedelta(hours=1)):
        svc.retention_enforce(trigger="test")
    assert WatchlistEntry.objects.count() == 2

    with freeze_time(cast.deployment.completed_at + datetime.timedelta(hours=2, minutes=1)):
        run = svc.retention_enforce(trigger="test")

    watchlist = Watchlist.objects.get(deployment=cast.deployment)
    assert watchlist.status == WatchlistStatus.DESTROYED and WatchlistEntry.objects.count() == 0
    from compliance import biometric_store

    assert not biometric_store.absolute(biometric_store.watchlist_folder(cast.deployment.pk)).exists()
    assert run.status == "ok", run.failures
    verified = AuditEvent.objects.get(action="retention.verified", target_type="compliance.watchlist")
    assert verified.after["found"] == [] and verified.after["checks"]["rows:entries"] == 0
    assert AuditEvent.objects.get(action="retention.deleted").after["entries_destroyed"] == 2
