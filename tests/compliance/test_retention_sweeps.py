"""Retention sweeps (domain.md 6): one at a time, and a hold placed during a sweep keeps its record as held."""

from __future__ import annotations

import datetime
import logging
import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from freezegun import freeze_time

from compliance import tasks
from compliance.choices import Role
from compliance.models import AuditEvent, RetentionRun
from compliance.services import retention as svc
from tests.compliance.retention_helpers import alert_for, completed_deployment

pytestmark = pytest.mark.django_db

ALERT = "matching.alert"


@pytest.fixture(autouse=True)
def archive(settings, tmp_path):
    settings.LFR_AUDIT_ARCHIVE_DIR = tmp_path / "audit-archive"
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def finished(make_user):
    deployment = completed_deployment(make_user(Role.APPLICANT), make_user(Role.AUTHORISING_OFFICER))
    alerts = alert_for(deployment, make_user(Role.LFR_OPERATOR), n=2)
    return deployment, alerts


def _probes_left(deployment) -> int:
    from matching.models import Alert

    return Alert.objects.filter(deployment=deployment, probe_crop__isnull=False).count()


class _RunningSweep:
    """Another process's sweep, still running: it holds the sweep lock (own thread, so its own connection)."""

    def __init__(self) -> None:
        self.locked, self.release, self.errors = threading.Event(), threading.Event(), []
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        try:
            with svc._sweep_lock() as acquired:
                assert acquired
                self.locked.set()
                self.release.wait(30)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(exc)
            self.locked.set()
        finally:
            connection.close()

    def __enter__(self) -> _RunningSweep:
        self.thread.start()
        assert self.locked.wait(10) and not self.errors, self.errors
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.thread.join(10)


def test_a_sweep_started_while_another_runs_does_nothing(finished, caplog):
    """Beat starts a sweep every 15 minutes and one may run for 50: before, the second planned the same items,
    audited each alert's deletion twice and could fail the run while pruning."""
    deployment, _alerts = finished
    events_before = AuditEvent.objects.count()

    with freeze_time(deployment.completed_at + datetime.timedelta(days=32)), _RunningSweep():
        with pytest.raises(svc.RetentionSweepRunning) as refused:
            svc.retention_enforce(trigger="test")
        with caplog.at_level(logging.WARNING, logger="compliance.services.retention"):
            assert tasks.enforce_retention.run() is None
        with pytest.raises(CommandError, match="Another retention sweep is still running"):
            call_command("enforce_retention")

    assert refused.value.code == "retention_sweep_running"
    assert "another sweep is still running" in caplog.text
    assert not RetentionRun.objects.exists() and AuditEvent.objects.count() == events_before
    assert _probes_left(deployment) == 2

    # Once the other sweep has finished, the next one runs and releases the lock after itself.
    with freeze_time(deployment.completed_at + datetime.timedelta(days=32)):
        first = svc.retention_enforce(trigger="test")
        second = svc.retention_enforce(trigger="test")
    assert first.status == "ok" and len(first.deleted) == 2 and second.deleted == []
    assert AuditEvent.objects.filter(action="retention.deleted").count() == 2


def test_a_hold_placed_after_the_sweeps_check_is_held_not_a_failure(finished, make_user, monkeypatch):
    """The sweep checks holds, then the alert's service locks the alert and refuses a held one (evidential_hold).
    Before, that refusal was recorded as `retention.failed` and failed the run."""
    deployment, alerts = finished
    dpo = make_user(Role.DPO, username="dpo")
    handler = svc.retention_handlers() and svc._HANDLERS["alert"]
    held_alert = alerts[0]

    def hold_arrives_then_delete(item, actor):
        if item.target_id == str(held_alert.pk):  # the DPO's hold lands between the sweep's check and the lock
            svc.evidential_hold_place(actor=dpo, target_type=ALERT, target_id=item.target_id, reason="IOPC referral")
        return handler.delete(item, actor)

    monkeypatch.setitem(
        svc._HANDLERS,
        "alert",
        svc.RetentionHandler(
            handler.data_class,
            handler.target_type,
            handler.due,
            hold_arrives_then_delete,
            handler.verify,
            handler.holdable,
            handler.lock_target,
        ),
    )

    with freeze_time(deployment.completed_at + datetime.timedelta(days=32)):
        run = svc.retention_enforce(trigger="test")

    assert run.status == "ok" and run.failures == []
    assert [h["target_id"] for h in run.held] == [str(held_alert.pk)]
    assert run.held[0]["skipped"] == "placed on hold during the sweep"
    assert [d["target_id"] for d in run.deleted] == [str(alerts[1].pk)]
    assert not AuditEvent.objects.filter(action="retention.failed").exists()
    assert not AuditEvent.objects.filter(action="retention.deleted", target_id=str(held_alert.pk)).exists()
    from matching.models import Alert

    assert Alert.objects.get(pk=held_alert.pk).probe_crop is not None
