"""Sessions and frames through the services: gates at start and per frame, backpressure, stale frames, stops."""

from __future__ import annotations

import datetime
import uuid
from pathlib import Path

import pytest
from django.utils import timezone

from compliance.models import AuditEvent
from compliance.services import deployments as deployment_services
from lfr_portal.errors import InvalidTransition, NotFound, NotPermitted, RuleViolation, TooManyRequests
from matching.models import Alert, MatchingSession
from matching.models.sessions import SessionStatus, StopReason
from matching.services import frames as frame_services
from matching.services import sessions as session_services
from matching.services.frames import FrameTooLarge
from matching.services.sessions import GateRefused
from tests.matching.live_helpers import blank_jpeg, face_jpeg, principal_for

pytestmark = pytest.mark.django_db


def _start(live, operator=None, camera=None):
    return session_services.session_start(
        actor=operator or live.operator, deployment=live.deployment, camera_unit=camera or live.camera
    )


def _submit(live, session, data=None, captured_at=None, principal=None):
    return frame_services.frame_submit(
        actor=principal or live.principal,
        session_id=session.pk,
        data=face_jpeg() if data is None else data,
        captured_at=captured_at or timezone.now(),
    )


def _process(session, accepted, captured_at=None):
    return frame_services.frame_process(
        session_id=session.pk, frame_id=accepted.frame_id, captured_at=captured_at or timezone.now()
    )


def test_session_starts_when_every_gate_passes_and_is_audited(live):
    session = _start(live)
    assert session.status == SessionStatus.LIVE
    event = AuditEvent.objects.get(action="session.started")
    assert event.deployment_id == live.deployment.pk
    assert event.actor_username == live.operator.username
    assert all(g["passed"] for g in event.after["gates"])


def test_session_refused_with_the_failed_gate_named_and_audited(live, make_user):
    deployment_services.deployment_suspend(actor=live.ao, deployment=live.deployment, reason="Compliance check")
    with pytest.raises(GateRefused) as refused:
        _start(live)
    assert refused.value.status_code == 409
    assert "Deployment authorised" in refused.value.message
    assert refused.value.details["passed"] is False
    event = AuditEvent.objects.get(action="session.refused")
    assert event.after["failed_gate"] == "authorisation"
    assert not MatchingSession.objects.exists()


def test_an_untrained_operator_is_refused_by_the_operator_gate(live):
    from compliance.models import TrainingRecord

    lapsed = timezone.localdate() - datetime.timedelta(days=1)
    TrainingRecord.objects.filter(user=live.operator).update(
        completed_on=lapsed - datetime.timedelta(days=365), expires_on=lapsed
    )
    with pytest.raises(GateRefused) as refused:
        _start(live)
    assert refused.value.details["gates"][-1]["name"] == "operator"
    assert AuditEvent.objects.filter(action="session.refused", after__failed_gate="operator").exists()


def test_an_unassigned_operator_is_told_nothing_about_the_deployment_but_the_attempt_is_audited(live, make_user):
    stranger = make_user("lfr_operator")
    with pytest.raises(NotFound):
        _start(live, operator=stranger)
    event = AuditEvent.objects.get(action="session.refused", actor_id=stranger.pk)
    assert event.after["code"] == "not_found" and "gates" not in event.after


def test_only_operators_start_sessions(live):
    with pytest.raises(NotPermitted):
        _start(live, operator=live.engagement)


def test_camera_must_belong_to_the_deployment(live):
    from tests.compliance.deployment_helpers import camera

    with pytest.raises(RuleViolation):
        _start(live, camera=camera("elsewhere"))
    assert AuditEvent.objects.filter(action="session.refused").exists()


def test_one_live_session_per_camera_but_several_cameras_at_once(live):
    first = _start(live)
    with pytest.raises(InvalidTransition):
        _start(live)
    second = _start(live, camera=live.other_camera)
    assert {first.pk, second.pk} == set(MatchingSession.objects.filter(status="live").values_list("pk", flat=True))


def test_frame_for_a_watched_face_raises_an_alert_with_an_encrypted_probe(live, queued):
    session = _start(live)
    accepted = _submit(live, session)
    assert queued and queued[0][1] == accepted.frame_id
    assert _process(session, accepted) == "alert"
    alert = Alert.objects.get()
    assert alert.distance <= alert.threshold == live.deployment.match_threshold
    assert bytes(alert.probe_crop)[:3] != b"\xff\xd8\xff"  # encrypted, not a JPEG
    session.refresh_from_db()
    assert (session.frames_accepted, session.frames_processed, session.faces_seen, session.alerts_raised) == (
        1,
        1,
        1,
        1,
    )
    event = AuditEvent.objects.get(action="alert.raised")
    assert event.after["probe_sha256"] == alert.probe_sha256
    assert "probe_crop" not in event.after


def test_repeated_sightings_update_one_alert(live):
    session = _start(live)
    for _ in range(3):
        _process(session, _submit(live, session))
    alert = Alert.objects.get()
    assert alert.sighting_count == 3
    session.refresh_from_db()
    assert session.alerts_raised == 1 and session.sightings == 2
    # Every sighting is a biometric event: each repeat is audited (alert.sighted, or alert.probe_replaced when
    # the new crop is a closer likeness).
    repeats = AuditEvent.objects.filter(action__in=["alert.sighted", "alert.probe_replaced"], target_id=str(alert.pk))
    assert repeats.count() == 2
    assert sorted(e.after["sighting_count"] for e in repeats) == [2, 3]


def test_with_no_repeat_interval_every_sighting_is_a_new_alert(live, settings):
    # LFR_ALERT_REPEAT_SECONDS=0 turns merging off, even for sightings captured at the same instant.
    settings.LFR_ALERT_REPEAT_SECONDS = 0
    session = _start(live)
    captured = timezone.now()
    for _ in range(2):
        _process(session, _submit(live, session, captured_at=captured), captured_at=captured)
    assert Alert.objects.filter(session=session).count() == 2
    session.refresh_from_db()
    assert session.alerts_raised == 2 and session.sightings == 0


def test_a_sighting_after_the_alert_was_reviewed_or_its_crop_destroyed_is_a_new_alert(live):
    from matching.services import alerts as alert_services

    session = _start(live)
    _process(session, _submit(live, session))
    first = Alert.objects.get()
    crop_seen_by_reviewer = first.probe_crop
    alert_services.alert_dismiss(actor=live.operator, alert=first, note="Different person")
    _process(session, _submit(live, session))
    first.refresh_from_db()
    assert first.sighting_count == 1 and first.probe_crop == crop_seen_by_reviewer  # the decided crop is untouched
    second = Alert.objects.exclude(pk=first.pk).get()
    assert second.status == "new"
    assert alert_services.alert_destroy_probe(actor=None, alert_id=second.pk)
    _process(session, _submit(live, session))
    second.refresh_from_db()
    assert second.probe_crop is None and second.sighting_count == 1  # a destroyed crop never comes back
    assert Alert.objects.count() == 3


def test_a_face_not_on_the_list_is_only_counted(live):
    session = _start(live)
    assert _process(session, _submit(live, session, data=face_jpeg("obama.jpg"))) == "matched"
    session.refresh_from_db()
    assert session.faces_seen == 1 and not Alert.objects.exists()


def test_redelivered_frame_is_not_counted_twice(live):
    session = _start(live)
    accepted = _submit(live, session)
    assert _process(session, accepted) == "alert"
    assert _process(session, accepted) == "duplicate"
    session.refresh_from_db()
    assert session.frames_processed == 1 and Alert.objects.get().sighting_count == 1


def test_a_frame_that_goes_stale_in_the_queue_is_dropped_and_counted(live):
    from freezegun import freeze_time

    session = _start(live)
    captured = timezone.now()
    accepted = _submit(live, session, captured_at=captured)  # fresh when submitted
    # The worker gets it only after the live budget (5 s) has passed.
    with freeze_time(captured + datetime.timedelta(seconds=10)):
        assert _process(session, accepted, captured_at=captured) == "stale"
    session.refresh_from_db()
    assert session.dropped_stale == 1 and session.frames_processed == 0
    assert not Alert.objects.exists()


def test_backpressure_refuses_with_429_over_the_queue_depth(live, settings, frame_store):
    settings.LFR_MAX_SESSION_QUEUE = 2
    session = _start(live)
    _submit(live, session, data=blank_jpeg())
    _submit(live, session, data=blank_jpeg())
    with pytest.raises(TooManyRequests) as refused:
        _submit(live, session, data=blank_jpeg())
    assert refused.value.status_code == 429 and refused.value.code == "queue_full"
    assert frame_store.depth(session.pk) == 2
    session.refresh_from_db()
    assert session.frames_refused == 1


def test_frames_are_checked_for_size_and_type(live, settings, frame_store):
    session = _start(live)
    settings.LFR_MAX_FRAME_BYTES = 1000
    with pytest.raises(FrameTooLarge):
        _submit(live, session, data=face_jpeg())
    settings.LFR_MAX_FRAME_BYTES = 4_000_000
    with pytest.raises(RuleViolation) as refused:
        _submit(live, session, data=b"GIF89a" + b"\0" * 100)
    assert refused.value.code == "unsupported_format" and "GIF" in refused.value.message
    assert frame_store.depth(session.pk) == 0  # refused before anything was stored
    session.refresh_from_db()
    assert session.frames_accepted == 0


def test_camera_may_only_submit_to_its_own_sessions(live):
    session = _start(live)
    with pytest.raises(NotPermitted):
        _submit(live, session, principal=principal_for(live.other_camera))
    assert AuditEvent.objects.filter(action="camera.refused", actor_username="camera:van-live-2").exists()


def test_frames_to_a_stopped_session_are_refused(live):
    session = _start(live)
    session_services.session_stop(actor=live.operator, session=session)
    with pytest.raises(InvalidTransition) as refused:
        _submit(live, session)
    assert refused.value.code == "session_not_live"


def test_stopping_purges_queued_frames_and_queued_tasks_do_nothing(
    live, frame_store, django_capture_on_commit_callbacks
):
    session = _start(live)
    accepted = [_submit(live, session) for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        session_services.session_stop(actor=live.operator, session=session)
    assert frame_store.depth(session.pk) == 0
    assert session.pk not in frame_store.session_ids()
    assert [_process(session, a) for a in accepted] == ["purged"] * 3
    session.refresh_from_db()
    assert session.dropped_purged == 3 and session.frames_processed == 0  # counted once, by the purge
    stop = AuditEvent.objects.get(action="session.stopped")
    assert stop.after["reason"] == StopReason.OPERATOR and stop.actor_username == live.operator.username
    purged = AuditEvent.objects.get(action="session.frames_purged")  # the deletion, counted and verified
    assert purged.after == {"frames": 3, "left": 0} and purged.target_id == str(session.pk)
    assert purged.seq > stop.seq and purged.deployment_id == session.deployment_id


def test_frame_processed_after_the_window_closed_raises_no_alert(live, frame_store):
    from freezegun import freeze_time

    session = _start(live)
    accepted = _submit(live, session)
    window = live.deployment.windows.get()
    # The worker gets the frame just after the window's end (and within the live budget of its capture).
    with freeze_time(window.end + datetime.timedelta(milliseconds=500)):
        outcome = _process(session, accepted, captured_at=window.end - datetime.timedelta(seconds=1))
    assert outcome == "gates"
    assert not Alert.objects.exists()
    session.refresh_from_db()
    assert session.status == SessionStatus.STOPPED and session.stop_reason == StopReason.WINDOW_ENDED
    assert session.dropped_gates == 1


def test_suspension_stops_live_sessions_at_once(live, django_capture_on_commit_callbacks):
    session = _start(live)
    with django_capture_on_commit_callbacks(execute=True):
        deployment_services.deployment_suspend(actor=live.ao, deployment=live.deployment, reason="DPO concern")
    session.refresh_from_db()
    assert session.status == SessionStatus.STOPPED
    assert session.stop_reason == StopReason.DEPLOYMENT_STOPPED
    assert "suspended" in session.stop_detail


def test_per_frame_gate_check_stops_the_session_when_a_gate_fails(live):
    from compliance.models import Deployment

    session = _start(live)
    accepted = _submit(live, session)
    # A suspension whose hook has not run yet (e.g. committed by another process a moment ago): the worker stops
    # the session first, with the reason the hook would have given.
    Deployment.objects.filter(pk=live.deployment.pk).update(status="suspended")
    assert _process(session, accepted) == "gates"
    session.refresh_from_db()
    assert session.status == SessionStatus.STOPPED and session.stop_reason == StopReason.DEPLOYMENT_STOPPED
    assert session.stop_detail.startswith("authorisation:")
    assert not Alert.objects.exists()


@pytest.mark.parametrize("status", ["suspended", "submitted"])  # submitted: the authorisation was voided
def test_a_frame_posted_before_the_stop_hook_ran_stops_the_session_with_the_hooks_reason(live, status):
    from compliance.models import Deployment

    session = _start(live)
    Deployment.objects.filter(pk=live.deployment.pk).update(status=status)
    with pytest.raises(InvalidTransition) as caught:
        _submit(live, session)
    assert caught.value.code == "deployment_not_authorised"
    session.refresh_from_db()
    assert session.status == SessionStatus.STOPPED and session.stop_reason == StopReason.DEPLOYMENT_STOPPED


def test_operator_losing_assignment_mid_session_stops_matching_at_the_next_frame(live):
    session = _start(live)
    accepted = _submit(live, session)
    # Unassigned after the start: gate 6 is re-checked for every frame with the operator who started it.
    live.deployment.assigned_officers.remove(live.operator)
    assert _process(session, accepted) == "gates"
    session.refresh_from_db()
    assert session.status == SessionStatus.STOPPED and "operator" in session.stop_detail
    assert session.stop_reason == StopReason.GATE_FAILED
    assert not Alert.objects.exists()


@pytest.mark.parametrize("change", ["training_expired", "deactivated", "no_longer_an_operator"])
def test_the_operator_who_started_the_session_is_checked_at_every_frame(live, change):
    # Gate 6 reads the operator with the session in the frame's one gate statement: each of these stops it.
    from compliance.models import User

    session = _start(live)
    accepted = _submit(live, session)
    if change == "training_expired":
        live.operator.training_records.update(expires_on=timezone.localdate() - datetime.timedelta(days=1))
    elif change == "deactivated":
        User.objects.filter(pk=live.operator.pk).update(is_active=False)
    else:
        User.objects.filter(pk=live.operator.pk).update(role="dpo")
    assert _process(session, accepted) == "gates"
    session.refresh_from_db()
    assert session.status == SessionStatus.STOPPED and "operator" in session.stop_detail
    assert session.stop_reason == StopReason.GATE_FAILED
    assert not Alert.objects.exists()


def test_beat_stops_sessions_whose_operator_training_expired(live):
    session = _start(live)
    live.operator.training_records.update(expires_on=timezone.localdate() - datetime.timedelta(days=1))
    assert session_services.sessions_enforce_gates() == [session.pk]


def test_beat_stops_sessions_whose_window_ended(live):
    session = _start(live)
    window = live.deployment.windows.get()
    assert session_services.sessions_enforce_gates(at=window.end + datetime.timedelta(seconds=1)) == [session.pk]
    session.refresh_from_db()
    assert session.stop_reason == StopReason.WINDOW_ENDED


def test_only_assigned_operators_stop_sessions(live, make_user):
    session = _start(live)
    with pytest.raises(NotPermitted):
        session_services.session_stop(actor=make_user("lfr_operator"), session=session)
    with pytest.raises(NotPermitted):
        session_services.session_stop(actor=live.admin, session=session)
    session_services.session_stop(actor=live.operator2, session=session)
    with pytest.raises(InvalidTransition):
        session_services.session_stop(actor=live.operator, session=session)


def test_sweep_purges_frames_left_for_stopped_sessions(live, frame_store):
    session = _start(live)
    _submit(live, session)
    MatchingSession.objects.filter(pk=session.pk).update(status="stopped", stopped_at=timezone.now())
    assert session_services.frame_store_sweep() == 1
    assert frame_store.session_ids() == set()
    assert AuditEvent.objects.get(action="session.frames_purged").after == {"frames": 1, "left": 0}


def test_a_purge_that_fails_is_audited(live, frame_store, monkeypatch):
    session = _start(live)
    _submit(live, session)

    def unreachable(session_id):
        raise ConnectionError("frame store down")

    monkeypatch.setattr(frame_store, "purge", unreachable)
    assert session_services.purge_frames(session.pk) == 0
    failed = AuditEvent.objects.get(action="session.frames_purge_failed")
    assert failed.after == {"error": "ConnectionError"} and failed.target_id == str(session.pk)


def test_per_frame_gate_check_costs_one_query(live):
    # The worker runs this for every frame: the deployment row with its authorisation, watch-list, windows,
    # signage and operator facts in one query. A gate that starts querying on its own shows up here.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from compliance.gates import deployment_gates

    deployment_gates(live.deployment.pk, at=timezone.now())  # warm the gallery cache, as a worker would be
    with CaptureQueriesContext(connection) as queries:
        report = deployment_gates(live.deployment.pk, at=timezone.now(), operator=live.operator)
    assert report.passed, report.as_dict()
    assert len(queries.captured_queries) == 1, [q["sql"][:120] for q in queries.captured_queries]


def test_a_frame_without_alerts_costs_two_queries_in_the_worker(live):
    # The session with its operator and the deployment with every gate's facts and its windows in one statement,
    # then the counters in one conditional update: the per-frame database cost the benchmarks rest on. A new
    # query here must be a decision, not a drift.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    session = _start(live)
    _process(session, _submit(live, session, blank_jpeg()))  # warms the gallery cache, as a worker's first frame
    accepted = _submit(live, session, blank_jpeg())
    with CaptureQueriesContext(connection) as queries:
        assert _process(session, accepted) == "matched"
    assert len(queries.captured_queries) == 2, [q["sql"][:120] for q in queries.captured_queries]
    session.refresh_from_db()
    assert session.frames_processed == 2 and session.frames_dropped == 0


def test_an_alert_frame_checks_locks_and_rechecks_the_session_and_loads_nothing_lazily(live):
    # The session with every gate before matching; then the row locked, and the gates read again after the lock
    # (a new statement, so it sees what committed while it waited). The columns the alert needs are in those
    # reads: a deferred column would show here as another read of the session or a read of its operator.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    session = _start(live)
    _process(session, _submit(live, session, blank_jpeg()))  # warms the gallery cache
    accepted = _submit(live, session, face_jpeg())
    with CaptureQueriesContext(connection) as queries:
        assert _process(session, accepted) == "alert"
    reads = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]
    # On PostgreSQL the deployment's authorisation is held (shared) before the session row is locked, so a
    # suspension cannot commit between the second check and the alert rows (SQLite locks the whole database).
    shared = [i for i, sql in enumerate(reads) if "pg_advisory_xact_lock_shared" in sql]
    locked = [i for i, sql in enumerate(reads) if sql.lstrip().startswith('SELECT id FROM "matching_matchingsession"')]
    assert len(locked) == 1 and shared == ([locked[0] - 1] if connection.vendor == "postgresql" else []), reads
    session_reads = [sql for sql in reads if 'FROM "matching_matchingsession"' in sql]
    assert len(session_reads) == 3, session_reads
    assert session_reads[1] == reads[locked[0]], session_reads[1]
    assert not [sql for sql in reads if sql.lstrip().startswith('SELECT "compliance_user"')]
    alert = Alert.objects.get()
    assert (alert.session_id, alert.camera_unit_id, alert.deployment_id) == (
        session.pk,
        session.camera_unit_id,
        session.deployment_id,
    )


def test_a_frame_gone_from_the_store_of_a_live_session_is_counted_once_as_purged(live, frame_store):
    # Expired before a worker took it: no stop's purge counted it, so the worker does, exactly once.
    session = _start(live)
    accepted = _submit(live, session, blank_jpeg())
    assert frame_store.take(session.pk, accepted.frame_id) is not None  # as its TTL would
    assert _process(session, accepted) == "purged"
    assert _process(session, accepted) == "duplicate"
    session.refresh_from_db()
    assert (session.dropped_purged, session.frames_processed, session.status) == (1, 0, SessionStatus.LIVE)


def test_a_frame_for_a_session_stopped_while_it_was_matched_is_counted_as_purged(live, monkeypatch):
    from matching import engine

    session = _start(live)
    accepted = _submit(live, session, blank_jpeg())
    real = engine.process_frame

    def stop_meanwhile(*args, **kwargs):
        result = real(*args, **kwargs)
        session_services.session_stop(actor=live.operator, session=MatchingSession.objects.get(pk=session.pk))
        return result

    monkeypatch.setattr(engine, "process_frame", stop_meanwhile)
    assert _process(session, accepted) == "purged"
    session.refresh_from_db()
    assert session.frames_processed == 0 and session.dropped_purged == 1


def test_each_processed_frame_updates_the_latency_figures_the_console_shows(live):
    session = _start(live)
    # The slow frame below was captured 0.9 s ago: let the session have started before that.
    MatchingSession.objects.filter(pk=session.pk).update(started_at=timezone.now() - datetime.timedelta(seconds=5))
    session.refresh_from_db()
    slow = timezone.now() - datetime.timedelta(milliseconds=900)
    _process(session, _submit(live, session, blank_jpeg(), captured_at=slow), captured_at=slow)
    session.refresh_from_db()
    first = session.latency_ms_last
    assert 900 <= first < 4000 and session.latency_ms_max == first and session.latency_ms_avg == pytest.approx(first)
    quick = timezone.now()
    _process(session, _submit(live, session, blank_jpeg(), captured_at=quick), captured_at=quick)
    session.refresh_from_db()
    second = session.latency_ms_last
    assert second < first and session.latency_ms_max == first  # the maximum keeps the slow frame
    assert session.latency_ms_avg == pytest.approx(0.9 * first + 0.1 * second)  # a rolling average
    assert session.frames_processed == 2 and session.faces_seen == 0


def test_a_frame_the_broker_cannot_take_is_refused_and_neither_kept_nor_counted(live, monkeypatch):
    from matching import framestore
    from matching.services.frames import QueueUnavailable

    session = _start(live)

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(frame_services, "_enqueue", broker_down)
    with pytest.raises(QueueUnavailable) as refused:
        _submit(live, session, blank_jpeg())
    assert refused.value.status_code == 503
    assert framestore.get_store().depth(session.pk) == 0  # the frame does not linger in the store
    session.refresh_from_db()
    assert session.frames_accepted == 0 and session.status == SessionStatus.LIVE


def test_a_frame_captured_before_the_session_started_is_not_matched_by_the_worker(live, frame_store):
    # The gates hold when the worker takes it, but the camera saw it before matching was authorised to start.
    # frame_submit refuses such a frame (below); the worker keeps its own check, so one queued by any other path
    # is not matched either.
    session = _start(live)
    before = session.started_at - datetime.timedelta(seconds=2)
    accepted = frame_services.FrameAccepted(frame_id=uuid.uuid4().hex, queue_depth=1)
    frame_store.put(session.pk, accepted.frame_id, face_jpeg(), limit=10)
    assert _process(session, accepted, captured_at=before) == "captured_outside_window"
    assert not Alert.objects.filter(session=session).exists()
    session.refresh_from_db()
    assert session.dropped_gates == 1 and session.frames_processed == 0 and session.status == SessionStatus.LIVE
    later = timezone.now()
    assert _process(session, _submit(live, session, face_jpeg(), captured_at=later), captured_at=later) == "alert"


def test_a_suspension_while_a_frame_is_matched_stops_its_alert_at_the_second_check(live, monkeypatch):
    # The gates held when the worker took the frame; the deployment is suspended while the face is matched.
    # The check before an alert is written must catch it: no alert, the frame counted as dropped, the session
    # stopped.
    from matching import engine

    session = _start(live)
    accepted = _submit(live, session, face_jpeg())
    real = engine.process_frame

    def suspended_meanwhile(*args, **kwargs):
        result = real(*args, **kwargs)
        assert result.alerts, "the watched face must match, or this test proves nothing"
        deployment_services.deployment_suspend(actor=live.ao, deployment=live.deployment, reason="DPO concern.")
        return result

    monkeypatch.setattr(engine, "process_frame", suspended_meanwhile)
    assert _process(session, accepted) == "gates"
    assert not Alert.objects.filter(session=session).exists()
    session.refresh_from_db()
    assert session.dropped_gates == 1 and session.frames_processed == 0
    assert session.status == SessionStatus.STOPPED


def test_the_tmpfs_frame_store_refuses_a_folder_on_disk(tmp_path):
    # Frames must never reach a disk: a shm:// store is only built on a RAM file system.
    from django.core.exceptions import ImproperlyConfigured

    from matching import framestore

    assert framestore.filesystem_type(Path("/dev/shm")) in framestore.RAM_FILESYSTEMS
    if framestore.filesystem_type(tmp_path) in framestore.RAM_FILESYSTEMS:
        pytest.skip(f"{tmp_path} is itself on a RAM file system here")
    with pytest.raises(ImproperlyConfigured, match="RAM file system"):
        framestore.ShmFrameStore(str(tmp_path / "frames"))
    assert not (tmp_path / "frames").exists()
    store = framestore.ShmFrameStore(f"/dev/shm/lfr-test-{uuid.uuid4().hex}")
    store.root.rmdir()


def test_the_per_frame_statements_run_prepared_on_postgresql(live):
    # Planning the gate statement cost more than running it; prepared, PostgreSQL plans it once per connection.
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are a PostgreSQL feature")
    session = _start(live)
    for _ in range(2):
        _process(session, _submit(live, session, blank_jpeg()))
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("compliance_deploymentwindow" in sql and "matching_matchingsession" in sql for sql in prepared)
    assert any(sql.lstrip().startswith("UPDATE") and "frames_processed" in sql for sql in prepared)
    session.refresh_from_db()
    assert session.frames_processed == 2


def test_an_alert_crop_is_cut_with_every_other_face_of_the_frame_to_pixelate(live, monkeypatch):
    # The crop is kept for weeks: a bystander next to the person sought must not be kept in it (engine.crop_face
    # pixelates whichever of these faces reach into it; tests/matching/test_engine.py shows how).
    from PIL import Image

    from matching import engine
    from tests.matching.live_helpers import WATCHED, face_path, jpeg

    watched = Image.open(face_path(WATCHED)).convert("RGB")
    bystander = Image.open(face_path("obama.jpg")).convert("RGB")
    frame = Image.new("RGB", (watched.width + bystander.width, max(watched.height, bystander.height)))
    frame.paste(watched, (0, 0))
    frame.paste(bystander, (watched.width, 0))
    crops = []
    real_crop = engine.crop_face
    monkeypatch.setattr(
        engine, "crop_face", lambda image, box, **kw: crops.append((box, kw)) or real_crop(image, box, **kw)
    )
    session = _start(live)

    assert _process(session, _submit(live, session, jpeg(frame))) == "alert"

    [(box, kwargs)] = crops
    hidden = kwargs["hide"]
    assert box in hidden and len(hidden) == 2  # the matched face and the bystander
    [other] = [b for b in hidden if b != box]
    assert other.left >= watched.width  # the bystander's box, on the right half


@pytest.mark.parametrize("repeat_seconds", [0, 30])
def test_two_faces_matching_one_entry_in_a_frame_raise_one_alert(live, settings, repeat_seconds):
    # One person cannot be in a frame twice (a poster, a reflection, a lookalike): the closer face alerts, once,
    # and the frame is still counted. With no repeat interval the second face used to break the frame's
    # transaction on the one-alert-per-frame-and-entry constraint, losing every alert of the frame.
    from PIL import Image

    from tests.matching.live_helpers import WATCHED, face_path, jpeg

    settings.LFR_ALERT_REPEAT_SECONDS = repeat_seconds
    watched = Image.open(face_path(WATCHED)).convert("RGB")
    frame = Image.new("RGB", (watched.width * 2, watched.height))
    frame.paste(watched, (0, 0))
    frame.paste(watched.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (watched.width, 0))
    session = _start(live)

    assert _process(session, _submit(live, session, jpeg(frame))) == "alert"

    [alert] = Alert.objects.all()
    assert alert.sighting_count == 1
    counted = MatchingSession.objects.get(pk=session.pk)
    assert (counted.frames_processed, counted.faces_seen, counted.alerts_raised) == (1, 2, 1)
