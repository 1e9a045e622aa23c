"""Live matching end to end with a real Celery worker and real Redis (skipped locally without Redis; CI fails).

The worker runs in a thread of this process (solo pool, queue "matching"), against the broker in
CELERY_BROKER_URL; frames wait in the Redis frame store and tasks carry ids only.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from compliance.gates import hold_authorisation
from compliance.services import deployments as deployment_services
from compliance.services import watchlists as watchlist_services
from lfr_portal.errors import ServiceError, TooManyRequests
from matching import engine, framestore
from matching.config import engine_config
from matching.models import Alert, MatchingSession
from matching.models.sessions import SessionStatus, StopReason
from matching.services import frames as frame_services
from matching.services import sessions as session_services
from tests.matching.live_helpers import blank_jpeg, build_live, clip_frames, face_jpeg
from tests.services import redis_broker_url, require

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def redis_live(settings, media, budget, monkeypatch):  # noqa: F811
    require(redis_broker_url() is not None, "Redis broker (CELERY_BROKER_URL=redis://...)")
    settings.LFR_FRAME_STORE_URL = ""  # the default: the Redis broker itself
    settings.LFR_MAX_SESSION_QUEUE = 50
    settings.LFR_LIVE_BUDGET_SECONDS = 60  # slow CI machines must not turn these tests into stale-frame tests
    framestore.reset()
    # Enrolment runs inline in build_live; do not leave enrolment messages in the shared broker.
    monkeypatch.setattr(watchlist_services, "_dispatch", lambda batch_id: None)
    import redis

    client = redis.Redis.from_url(redis_broker_url())
    client.delete("matching")  # a previous, interrupted run must not feed this one stale task messages
    yield client
    framestore.reset()


@contextlib.contextmanager
def worker(queues: tuple[str, ...] = ("matching",)) -> Iterator[object]:
    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_postrun
    from django.db import connections

    from lfr_portal.celery import app

    # The worker thread keeps its database connections between tasks, as a worker does; when the thread ends they
    # stay open until garbage collection, and the test database cannot be dropped at the end of the run while one
    # is. So they are noted in the worker's thread and closed once it has stopped.
    used = []

    def note_the_worker_threads_connections(**_kwargs: object) -> None:
        if threading.current_thread() is not threading.main_thread():
            used.extend(conn for conn in connections.all(initialized_only=True) if conn not in used)

    task_postrun.connect(note_the_worker_threads_connections, weak=False)
    try:
        with start_worker(
            app, pool="solo", concurrency=1, perform_ping_check=False, queues=list(queues), shutdown_timeout=60
        ) as started:
            yield started
    finally:
        task_postrun.disconnect(note_the_worker_threads_connections)
        for conn in used:  # the thread that opened them has ended
            conn.inc_thread_sharing()
            conn.close()


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def settled(session_id: int) -> bool:
    s = MatchingSession.objects.get(pk=session_id)
    return s.frames_processed + s.frames_dropped >= s.frames_accepted


def submit(live, session, data: bytes) -> str | None:
    try:
        return frame_services.frame_submit(
            actor=live.principal, session_id=session.pk, data=data, captured_at=timezone.now()
        ).frame_id
    except TooManyRequests:
        time.sleep(0.3)
        return None


def test_streaming_the_clip_raises_an_alert_and_leaves_no_biometrics_behind(redis_live, make_user):
    live = build_live(make_user)
    media_before = _media_files()
    frames = clip_frames(every=5, limit=32)
    assert len(frames) >= 30
    session = session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)
    with worker():
        for data in frames:
            submit(live, session, data)
            time.sleep(0.05)
        wait_for(lambda: settled(session.pk), 90, "the worker to process every frame")
    session.refresh_from_db()
    assert session.frames_processed >= 25, session.frames_dropped
    assert session.faces_seen >= 10
    alert = Alert.objects.get(session=session)
    entry_ids = list(live.deployment.watchlist.entries.values_list("pk", flat=True))
    assert alert.entry_id in entry_ids
    assert alert.sighting_count >= 5  # repeat sightings of the same person update one alert
    assert alert.distance <= alert.threshold

    session_services.session_stop(actor=live.operator, session=session)

    # Nothing of a frame or a non-matched face is left: not in Redis, not in the database, not in MEDIA_ROOT.
    client = redis_live
    assert not list(client.scan_iter(match=f"lfr:*:{{{session.pk}}}"))
    non_matches = _non_match_needles(frames, live.deployment.pk)
    assert non_matches, "the clip shows faces that are not on the watch-list"
    needles = _frame_needles(frames) + non_matches
    _assert_redis_free_of(client, needles)
    _assert_database_free_of(needles)
    assert _media_files() == media_before
    _assert_files_free_of(Path(settings.MEDIA_ROOT), needles)


def test_a_frame_queued_inside_the_window_but_processed_after_it_closed_raises_no_alert(redis_live, make_user):
    live = build_live(make_user, window_end=timezone.now() + datetime.timedelta(seconds=12))
    session = session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)
    assert submit(live, session, face_jpeg()) is not None  # queued while the window is open; no worker yet
    window_end = live.deployment.windows.get().end
    time.sleep(max(0.0, (window_end - timezone.now()).total_seconds()) + 0.5)
    with worker():
        wait_for(lambda: settled(session.pk), 30, "the worker to take the frame")
    session.refresh_from_db()
    assert not Alert.objects.exists()
    assert session.dropped_gates == 1 and session.frames_processed == 0
    assert session.status == SessionStatus.STOPPED and session.stop_reason == StopReason.WINDOW_ENDED


def test_suspending_the_deployment_mid_stream_stops_matching_within_seconds(redis_live, make_user):
    live = build_live(make_user)
    session = session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)
    frame = face_jpeg()
    refused: list[str] = []
    stop = threading.Event()

    def camera_loop() -> None:
        try:
            while not stop.is_set():
                try:
                    frame_services.frame_submit(
                        actor=live.principal, session_id=session.pk, data=frame, captured_at=timezone.now()
                    )
                except ServiceError as exc:
                    refused.append(exc.code)
                time.sleep(0.2)
        finally:
            connection.close()

    with worker():
        camera = threading.Thread(target=camera_loop, daemon=True)
        camera.start()
        try:
            wait_for(lambda: Alert.objects.filter(session=session).exists(), 60, "the first alert")
            deployment_services.deployment_suspend(actor=live.ao, deployment=live.deployment, reason="DPO concern")
            suspended_at = timezone.now()
            took = wait_for(
                lambda: MatchingSession.objects.get(pk=session.pk).status == SessionStatus.STOPPED, 5, "the stop"
            )
            assert took < 5
            wait_for(lambda: "session_not_live" in refused, 5, "the camera to be refused")
            processed_at_stop = MatchingSession.objects.get(pk=session.pk).frames_processed
            time.sleep(1.5)
        finally:
            stop.set()
            camera.join(5)
    session.refresh_from_db()
    assert session.stop_reason == StopReason.DEPLOYMENT_STOPPED
    assert session.frames_processed == processed_at_stop  # nothing matched after the stop
    assert not Alert.objects.filter(session=session, last_seen_at__gt=suspended_at).exists()
    assert not redis_live.exists(framestore.FRAMES_KEY.format(session_id=session.pk))


def test_a_redelivered_frame_creates_no_duplicate_and_no_double_count(redis_live, make_user):
    from matching.tasks import process_frame

    live = build_live(make_user)
    session = session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)
    captured_at = timezone.now()
    accepted = frame_services.frame_submit(
        actor=live.principal, session_id=session.pk, data=face_jpeg(), captured_at=captured_at
    )
    # The broker delivers the same message again (e.g. after a worker died before acknowledging it).
    process_frame.apply_async(args=[session.pk, accepted.frame_id, captured_at.isoformat()], queue="matching")
    with worker():
        wait_for(lambda: settled(session.pk), 30, "the frame to be processed")
        wait_for(lambda: redis_live.llen("matching") == 0, 10, "the duplicate to be consumed")
        time.sleep(1.0)
    session.refresh_from_db()
    assert session.frames_processed == 1 and session.faces_seen == 1
    alert = Alert.objects.get()
    assert alert.sighting_count == 1 and session.alerts_raised == 1
    session_services.session_stop(actor=live.operator, session=session)
    assert not list(redis_live.scan_iter(match=f"lfr:*:{{{session.pk}}}"))


@pytest.fixture
def without_ack_emulation(monkeypatch):
    """LFR_BROKER_ACK_EMULATION=0 for the workers started in this test."""
    from lfr_portal.celery import app

    options = {**(app.conf.broker_transport_options or {}), "ack_emulation": False}
    monkeypatch.setitem(app.conf, "broker_transport_options", options)
    return app


def test_a_matching_only_worker_runs_without_ack_emulation(redis_live, make_user, without_ack_emulation):
    live = build_live(make_user)
    session = session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)
    redis_live.delete("unacked", "unacked_index")
    with worker() as started:
        for data in clip_frames(every=5, limit=4):
            assert submit(live, session, data) is not None
        wait_for(lambda: settled(session.pk), 60, "the worker to process every frame")
        channel = started.consumer.task_consumer.channel
        # Plain BRPOP: no "unacked" bookkeeping, and nothing for Redis to redeliver.
        assert channel.ack_emulation is False
        assert not redis_live.exists("unacked", "unacked_index")
    session.refresh_from_db()
    assert (session.frames_processed, session.frames_dropped) == (4, 0)
    session_services.session_stop(actor=live.operator, session=session)


def test_a_worker_on_any_other_queue_keeps_ack_emulation(redis_live, without_ack_emulation, caplog):
    # Tasks on other queues must survive a worker that dies while running them, so the setting is ignored there.
    with caplog.at_level("WARNING", logger="lfr_portal.celery"), worker(("matching", "lfr-test-other")) as started:
        assert wait_for(lambda: started.consumer.task_consumer is not None, 30, "the worker to consume") >= 0
        assert started.consumer.task_consumer.channel.ack_emulation is True
    assert "also consumes lfr-test-other" in caplog.text
    redis_live.delete("_kombu.binding.lfr-test-other")


# --- searching for leftovers --------------------------------------------------------------------------------------


def test_the_worker_keeps_its_database_connection_from_one_frame_to_the_next(redis_live, make_user, monkeypatch):
    # Celery's Django fix-up would close the connection around every task, so each frame would start a new
    # PostgreSQL backend (lfr_portal/celery.py). The backend's process id must stay the same across frames.
    require(connection.vendor == "postgresql", "PostgreSQL (DATABASE_URL=postgres://...)")
    original = frame_services.frame_process
    backends: list[int] = []

    def recording(**kwargs):
        outcome = original(**kwargs)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backends.append(cursor.fetchone()[0])
        return outcome

    monkeypatch.setattr(frame_services, "frame_process", recording)
    live = build_live(make_user)
    session = session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)
    with worker():
        for _ in range(3):
            assert submit(live, session, face_jpeg()) is not None
            wait_for(lambda: settled(session.pk), 30, "the frame to be processed")
    assert len(backends) == 3
    assert len(set(backends)) == 1, backends
    session_services.session_stop(actor=live.operator, session=session)


def test_the_check_before_an_alert_sees_what_committed_while_it_waited_for_the_row_locks(
    make_user, media, budget, frame_store, queued
):
    # Another worker holds the rows (it is writing its own alert) while the operator's training is found to have
    # lapsed (gate 6), in its transaction. A statement that waited for a row lock would see only that row fresh
    # and everything else from before the wait, so the locks are taken first and the gates are read after them.
    require(connection.vendor == "postgresql", "PostgreSQL (DATABASE_URL=postgres://...)")

    from compliance.models import TrainingRecord

    live = build_live(make_user)
    session = session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)
    frame_id = submit(live, session, face_jpeg())
    locked, errors = threading.Event(), []

    def other_worker() -> None:
        try:
            with transaction.atomic():
                hold_authorisation(live.deployment.pk, exclusive=False)
                frame_services._lock_session(session.pk)
                locked.set()
                time.sleep(1.0)  # meanwhile the frame below passes its first check, is matched, then waits
                lapsed = timezone.localdate() - datetime.timedelta(days=1)
                TrainingRecord.objects.filter(user=live.operator).update(
                    completed_on=lapsed - datetime.timedelta(days=365), expires_on=lapsed
                )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    holder = threading.Thread(target=other_worker)
    holder.start()
    assert locked.wait(10)
    outcome = frame_services.frame_process(session_id=session.pk, frame_id=frame_id, captured_at=timezone.now())
    holder.join(10)
    assert not errors
    assert outcome == "gates"
    assert not Alert.objects.exists()


def test_no_alert_is_written_behind_a_suspension_that_committed_while_the_worker_wrote_it(
    make_user, media, budget, frame_store, queued
):
    # The DPO's suspension holds the deployment row and the audit chain until it commits. A worker that read the
    # gates before that commit would see "authorised", wait for the chain, and append its alert after the
    # suspension. The worker holds the deployment's authorisation (shared) before it reads the gates, so it reads
    # them after the suspension commits, or the suspension waits for its alert.
    require(connection.vendor == "postgresql", "PostgreSQL (DATABASE_URL=postgres://...)")

    from compliance.models import AuditEvent
    from compliance.services import deployments as deployment_services

    live = build_live(make_user)
    session = session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)
    frame_id = submit(live, session, face_jpeg())
    suspended, errors = threading.Event(), []

    def dpo() -> None:
        try:
            with transaction.atomic():
                deployment_services.deployment_suspend(actor=live.dpo, deployment=live.deployment, reason="Review")
                suspended.set()
                time.sleep(1.0)  # not committed yet: meanwhile the frame below is matched and tries to alert
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    holder = threading.Thread(target=dpo)
    holder.start()
    assert suspended.wait(10)
    outcome = frame_services.frame_process(session_id=session.pk, frame_id=frame_id, captured_at=timezone.now())
    holder.join(10)
    assert not errors
    assert outcome == "gates"
    assert not Alert.objects.exists()
    assert not AuditEvent.objects.filter(action="alert.raised").exists()


def test_a_frame_with_two_alerts_and_an_adjudication_of_the_second_do_not_deadlock(
    make_user, media, budget, frame_store, queued, settings
):
    # The frame's first alert holds the audit chain until the frame commits. An operator dismissing the second
    # person's recent alert holds that alert and then needs the chain: had the worker waited for that alert after
    # its first audit event, each would wait for the other (PostgreSQL aborts one). The worker locks both recent
    # alerts before it writes anything, so it simply waits for the dismissal.
    require(connection.vendor == "postgresql", "PostgreSQL (DATABASE_URL=postgres://...)")
    from PIL import Image

    from compliance import audit
    from tests.matching.live_helpers import WATCHED, face_path, jpeg

    settings.LFR_ALERT_REPEAT_SECONDS = 300
    second = "alex-lacamoire.png"
    live = build_live(make_user, faces=(WATCHED, second))
    people = [Image.open(face_path(name)).convert("RGB") for name in (WATCHED, second)]
    frame = Image.new("RGB", (sum(p.width for p in people), max(p.height for p in people)))
    frame.paste(people[0], (0, 0))
    frame.paste(people[1], (people[0].width, 0))
    both = jpeg(frame)
    session = session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)
    first = submit(live, session, both)
    assert frame_services.frame_process(session_id=session.pk, frame_id=first, captured_at=timezone.now()) == "alert"
    alerts = list(Alert.objects.order_by("pk"))
    assert len(alerts) == 2  # one per person, both awaiting review
    held, errors = threading.Event(), []

    def operator() -> None:
        try:
            with transaction.atomic():
                Alert.objects.select_for_update().get(pk=alerts[1].pk)  # as alert_dismiss locks it
                held.set()
                time.sleep(1.0)  # meanwhile the worker matches the next frame and starts on its alerts
                audit.record("alert.dismissed", target=alerts[1], deployment_id=live.deployment.pk)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    frame_id = submit(live, session, both)
    thread = threading.Thread(target=operator)
    thread.start()
    assert held.wait(10)
    outcome = frame_services.frame_process(session_id=session.pk, frame_id=frame_id, captured_at=timezone.now())
    thread.join(10)
    assert not errors
    assert outcome == "alert"
    assert sorted(Alert.objects.values_list("sighting_count", flat=True)) == [2, 2]


def test_frame_counters_commit_without_waiting_for_the_disk_and_alerts_always_wait_for_it(
    make_user, media, budget, frame_store, queued
):
    # A durable commit waits for a disk flush (2–4 ms on some machines) on every frame; the counters are
    # statistics, so their own transactions commit asynchronously. An alert's transaction never does.
    require(connection.vendor == "postgresql", "PostgreSQL (DATABASE_URL=postgres://...)")
    from django.test.utils import CaptureQueriesContext

    from lfr_portal import rawsql

    def relaxed(queries: CaptureQueriesContext) -> list[str]:
        return [q["sql"] for q in queries.captured_queries if "synchronous_commit" in q["sql"]]

    def setting(sql: str = "SHOW synchronous_commit") -> str:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchone()[0]

    configured = setting()
    # The clause really turns it off for its statement's own transaction, and only for that one.
    assert setting("SELECT current_setting('synchronous_commit')" + rawsql.relaxed_commit()) == "off"
    assert setting() == configured

    live = build_live(make_user)
    session = session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)
    with CaptureQueriesContext(connection) as accepted:
        frame_id = submit(live, session, blank_jpeg())
    assert [sql for sql in relaxed(accepted) if "frames_accepted" in sql]
    with CaptureQueriesContext(connection) as counted:
        outcome = frame_services.frame_process(session_id=session.pk, frame_id=frame_id, captured_at=timezone.now())
    assert outcome == "matched"
    assert len(relaxed(counted)) == 1 and "frames_processed" in relaxed(counted)[0]
    assert setting() == configured  # for that transaction only: the connection's own setting is untouched

    frame_id = submit(live, session, face_jpeg())
    with CaptureQueriesContext(connection) as alerted:
        outcome = frame_services.frame_process(session_id=session.pk, frame_id=frame_id, captured_at=timezone.now())
    assert outcome == "alert"
    assert relaxed(alerted) == []  # its counters are written in the alert's durable transaction
    session.refresh_from_db()
    assert (session.frames_accepted, session.frames_processed, session.alerts_raised) == (2, 2, 1)
    with transaction.atomic():
        assert rawsql.relaxed_commit() == ""  # inside any transaction it would relax all of it: never


def test_a_frame_taken_when_the_database_connection_had_died_is_still_matched(make_user, media, budget, frame_store):
    # The worker skips the health check on a connection it used a moment ago; if the database restarted in
    # between, the frame (already out of the store) must not be lost: the first statement reconnects once.
    require(connection.vendor == "postgresql", "PostgreSQL (DATABASE_URL=postgres://...)")
    live = build_live(make_user)
    session = session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)
    frame_id = submit(live, session, face_jpeg())
    connection.connection.close()  # as a database restart would leave it: Django still holds the dead connection
    outcome = frame_services.frame_process(session_id=session.pk, frame_id=frame_id, captured_at=timezone.now())
    assert outcome in ("alert", "matched"), outcome
    session.refresh_from_db()
    assert session.frames_processed == 1 and session.frames_dropped == 0


def test_the_redis_store_claims_and_takes_a_frame_in_one_step_and_only_once(redis_live):
    # A session's frames and claims share one cluster slot (the hash tag), so one script can do both.
    from redis.crc import key_slot

    store = framestore.get_store()
    session_id = 987_654
    keys = [framestore.FRAMES_KEY.format(session_id=session_id), framestore.CLAIMS_KEY.format(session_id=session_id)]
    assert len({key_slot(key.encode()) for key in keys}) == 1
    try:
        assert store.put(session_id, "a" * 32, b"frame-bytes", limit=5) == 1
        assert store.claim_take(session_id, "a" * 32) == (True, b"frame-bytes")
        assert store.depth(session_id) == 0
        assert store.claim_take(session_id, "a" * 32) == (False, None)  # a redelivery
        assert store.put(session_id, "b" * 32, b"more", limit=5) == 1
        assert store.session_ids() >= {session_id}
        assert store.purge(session_id) == 1
        assert store.claim_take(session_id, "b" * 32) == (True, None)  # purged before the worker got to it
        # A web process of the previous release stored frames under the old key names: a stop purges them too.
        legacy = [key.format(session_id=session_id) for key in framestore.LEGACY_KEYS]
        redis_live.hset(legacy[0], "c" * 32, b"old")
        redis_live.hset(legacy[1], "c" * 32, b"1")
        assert store.purge(session_id) == 1
        assert not redis_live.exists(*legacy)
    finally:
        redis_live.delete(*keys)


def test_a_worker_rechecks_its_connection_only_after_an_idle_spell(monkeypatch):
    # Around each task the worker does what Django does around a request (drop broken or expired connections),
    # but a connection the previous task used a moment ago is not re-checked with a round trip per frame.
    from django.db import close_old_connections

    from lfr_portal import celery as celery_app

    assert connection.settings_dict["CONN_HEALTH_CHECKS"]
    checks: list[bool] = []
    monkeypatch.setattr(connection, "is_usable", lambda: checks.append(True) or True)

    def a_task() -> None:
        celery_app._before_task(task=None)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        celery_app._after_task(task=None)

    close_old_connections()
    connection.ensure_connection()
    a_task()  # the first task after an idle spell (none ran before): checked
    assert checks == [True]
    a_task()  # right after another task: not checked again
    assert checks == [True]
    monkeypatch.setattr(celery_app, "_last_task_end", [time.monotonic() - celery_app.HEALTH_CHECK_IDLE_SECONDS - 1])
    a_task()  # idle for longer than HEALTH_CHECK_IDLE_SECONDS: checked
    assert checks == [True, True]
    connection.errors_occurred = True  # a task that hit a database error has its connection checked afterwards
    celery_app._after_task(task=None)
    assert checks == [True, True, True]


def _media_files() -> dict[str, int]:
    root = Path(settings.MEDIA_ROOT)
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def _frame_needles(frames: list[bytes]) -> list[bytes]:
    """A distinctive run of bytes from the middle of each frame (headers are alike, the entropy-coded data not)."""
    return [data[len(data) // 2 : len(data) // 2 + 48] for data in frames]


def _non_match_needles(frames: list[bytes], deployment_id: int) -> list[bytes]:
    """The float32 encodings of the faces in the clip that did not match, as stored bytes and as text."""
    from compliance.selectors.watchlists import load_gallery
    from matching.services.frames import _policy

    loaded = load_gallery(deployment_id)
    policy = _policy(_deployment(deployment_id))
    config = engine_config()
    needles: list[bytes] = []
    for data in frames:
        image = engine.decode_image(data, max_pixels=settings.LFR_MAX_FRAME_PIXELS)
        boxes = engine.detect_faces(image, config)
        if not boxes:
            continue
        encodings = engine.encode_faces(image, boxes, config)
        flags = engine.match(encodings, loaded.gallery, policy)
        for encoding, verdict in zip(encodings, flags, strict=True):
            if not verdict.alert:
                vector = np.asarray(encoding, dtype="<f4")
                needles.append(vector.tobytes()[:64])
                needles.append(f"{float(vector[0]):.6f}, {float(vector[1]):.6f}".encode())
    return needles


def _deployment(pk: int):
    from compliance.models import Deployment

    return Deployment.objects.get(pk=pk)


def _contains(blob: bytes, needles: list[bytes]) -> bool:
    return any(n in blob for n in needles)


def _assert_redis_free_of(client, needles: list[bytes]) -> None:
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        if kind == "string":
            values = [client.get(key) or b""]
        elif kind == "hash":
            values = list(client.hgetall(key).values())
        elif kind == "list":
            values = client.lrange(key, 0, -1)
        elif kind in ("set", "zset"):
            values = list(client.smembers(key)) if kind == "set" else client.zrange(key, 0, -1)
        else:
            continue
        for value in values:
            decoded = [value]
            with contextlib.suppress(Exception):
                decoded.append(base64.b64decode(value, validate=False))
            assert not any(_contains(v, needles) for v in decoded), f"Redis key {key!r} holds frame or face data"


def _assert_database_free_of(needles: list[bytes]) -> None:
    quote = connection.ops.quote_name
    for model in apps.get_models():
        table = model._meta.db_table
        columns = [f.column for f in model._meta.concrete_fields]
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {', '.join(quote(c) for c in columns)} FROM {quote(table)}")  # noqa: S608
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, memoryview):
                        value = value.tobytes()
                    if isinstance(value, str):
                        value = value.encode()
                    if isinstance(value, bytes):
                        assert not _contains(value, needles), f"table {table} holds frame or face data"


def _assert_files_free_of(root: Path, needles: list[bytes]) -> None:
    for path in root.rglob("*") if root.exists() else []:
        if path.is_file():
            assert not _contains(path.read_bytes(), needles), f"{path} holds frame or face data"
    for folder in (Path("/dev/shm/lfr-frames"),):
        assert not any(folder.glob("*/*.frame")) if folder.exists() else True
    assert os.environ.get("CELERY_BROKER_URL", "").startswith("redis")
