"""Races between sweeps, holds, pruning and verification (PostgreSQL, two connections, real commits)."""

from __future__ import annotations

import datetime
import threading

import pytest
from django.db import connection
from django.utils import timezone
from freezegun import freeze_time

from compliance import audit
from compliance.choices import Role
from compliance.models import AuditCheckpoint, AuditEvent, RetentionRun
from compliance.services import retention as svc
from lfr_portal.errors import InvalidTransition
from tests.compliance.retention_helpers import alert_for, completed_deployment
from tests.services import require

pytestmark = pytest.mark.django_db(transaction=True)

ALERT = "matching.alert"


@pytest.fixture(autouse=True)
def postgres(settings, tmp_path):
    require(connection.vendor == "postgresql", "PostgreSQL (DATABASE_URL=postgres://...)")
    settings.LFR_AUDIT_ARCHIVE_DIR = tmp_path / "audit-archive"
    settings.MEDIA_ROOT = tmp_path / "media"


def _in_thread(target) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connection.close()

    return threading.Thread(target=run), errors


def _with_delete(monkeypatch, wrap) -> None:
    handler = svc.retention_handlers() and svc._HANDLERS["alert"]
    monkeypatch.setitem(
        svc._HANDLERS,
        "alert",
        svc.RetentionHandler(
            handler.data_class,
            handler.target_type,
            handler.due,
            wrap(handler.delete),
            handler.verify,
            handler.holdable,
            handler.lock_target,
        ),
    )


def test_a_second_sweep_while_the_first_runs_deletes_and_audits_nothing_twice(make_user, monkeypatch):
    """Before, the overlapping sweep planned the same alerts: each got a second `retention.deleted` event."""
    deployment = completed_deployment(make_user(Role.APPLICANT), make_user(Role.AUTHORISING_OFFICER))
    alert_for(deployment, make_user(Role.LFR_OPERATOR), n=2)
    first_is_deleting, go_on = threading.Event(), threading.Event()

    def slow(delete):
        def deleting(item, actor):
            if threading.current_thread() is not threading.main_thread():
                first_is_deleting.set()
                go_on.wait(10)
            return delete(item, actor)

        return deleting

    _with_delete(monkeypatch, slow)
    later = deployment.completed_at + datetime.timedelta(days=32)

    def first_sweep() -> None:
        with freeze_time(later):
            svc.retention_enforce(trigger="beat")

    thread, errors = _in_thread(first_sweep)
    thread.start()
    assert first_is_deleting.wait(10)
    refused = ""
    try:
        with freeze_time(later):
            svc.retention_enforce(trigger="beat")
    except InvalidTransition as exc:
        refused = exc.code
    finally:
        go_on.set()
        thread.join(20)

    assert not errors, errors
    assert refused == "retention_sweep_running"
    run = RetentionRun.objects.get()
    assert run.status == "ok" and len(run.deleted) == 2, run.failures
    deleted = AuditEvent.objects.filter(action="retention.deleted")
    assert deleted.count() == 2 and len({e.target_id for e in deleted}) == 2


def test_a_hold_committed_between_the_sweeps_check_and_its_lock_is_reported_held(make_user, monkeypatch):
    """The sweep checked for holds and found none; the DPO's hold committed before alert_destroy_probe locked the
    alert, which then refused. Before, that was `retention.failed` and a failed run."""
    deployment = completed_deployment(make_user(Role.APPLICANT), make_user(Role.AUTHORISING_OFFICER))
    alerts = alert_for(deployment, make_user(Role.LFR_OPERATOR), n=1)
    dpo = make_user(Role.DPO, username="dpo")

    def hold_in_between(delete):
        def deleting(item, actor):
            thread, errors = _in_thread(
                lambda: svc.evidential_hold_place(actor=dpo, target_type=ALERT, target_id=item.target_id, reason="IOPC")
            )
            thread.start()
            thread.join(10)
            assert not errors, errors
            return delete(item, actor)

        return deleting

    _with_delete(monkeypatch, hold_in_between)

    with freeze_time(deployment.completed_at + datetime.timedelta(days=32)):
        run = svc.retention_enforce(trigger="test")

    assert run.status == "ok" and run.failures == [] and run.deleted == []
    (held,) = run.held
    assert held["target_id"] == str(alerts[0].pk) and held["reason"] == "IOPC" and held["placed_by"] == "dpo"
    assert not AuditEvent.objects.filter(action="retention.failed").exists()
    from matching.models import Alert

    assert Alert.objects.get(pk=alerts[0].pk).probe_crop is not None


def test_a_prune_committing_between_the_checkpoint_and_head_reads_is_not_a_break(monkeypatch):
    """Before, verify_chain read the checkpoint, then the head: a prune committing in between made it report
    "event #1 is missing" (and the DPO's verification audited a failure)."""
    with freeze_time(timezone.now() - datetime.timedelta(days=7 * 365)):
        for i in range(3):
            audit.record_now("test.old", target_type="thing", target_id=i)
    for i in range(2):
        audit.record_now("test.new", target_type="thing", target_id=i)
    cutoff = timezone.now() - datetime.timedelta(days=6 * 365)
    through = audit.prunable_through(cutoff)
    real_chain_start = audit.chain_start
    pruned = threading.Event()

    def prune() -> None:
        audit.prune_through(through, cutoff=cutoff)
        pruned.set()

    thread, errors = _in_thread(prune)
    started: list[bool] = []

    def chain_start_then_a_prune() -> tuple[int, str]:
        start = real_chain_start()
        if threading.current_thread() is threading.main_thread() and not started:
            started.append(True)
            thread.start()
            pruned.wait(2)  # a prune that can commit now does; one that must wait for the verification waits
        return start

    monkeypatch.setattr(audit, "chain_start", chain_start_then_a_prune)

    report = audit.verify_chain()
    thread.join(20)

    assert report.ok, report.reason
    assert not errors, errors
    assert AuditCheckpoint.objects.get().seq == through
    monkeypatch.setattr(audit, "chain_start", real_chain_start)
    after = audit.verify_chain()
    assert after.ok and after.from_seq == through + 1
