"""Frames: accepted from a camera unit (API or the stream command), matched by a worker, then gone.

A frame's bytes go to the frame store (RAM or Redis, never disk or the broker); the Celery task carries ids
only. The worker re-checks the session and every gate when it takes the frame and again before it writes an
alert, drops stale frames, and keeps nothing of a face that did not match: only counters (domain.md 4, 6).
"""

from __future__ import annotations

import datetime
import functools
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from compliance import audit
from compliance.choices import DeploymentStatus
from compliance.gates import Anchor, GateReport, anchored_gates, hold_authorisation
from compliance.models import Deployment, DeploymentWindow
from compliance.models.deployments import window_containing
from lfr_portal import rawsql
from lfr_portal.errors import InvalidTransition, NotFound, NotPermitted, RuleViolation, ServiceError, TooManyRequests
from lfr_portal.rawsql import Columns, adapt_datetime, column, table
from matching import engine, framestore, gallery
from matching.config import engine_config
from matching.models import MatchingSession
from matching.models.sessions import SessionStatus, StopReason
from matching.principals import CameraPrincipal
from matching.services import alerts as alert_services
from matching.services.sessions import session_stop_by_system, stop_reason_for, stop_reason_for_status

logger = logging.getLogger(__name__)

LATENCY_ALPHA = 0.1  # weight of the newest sample in the rolling latency average
FUTURE_TOLERANCE = datetime.timedelta(seconds=5)  # camera clocks drift a little; more than this is refused


class FrameTooLarge(ServiceError):
    status_code = 413
    default_code = "frame_too_large"


class QueueUnavailable(ServiceError):
    status_code = 503
    default_code = "queue_unavailable"


@dataclass(frozen=True)
class FrameAccepted:
    frame_id: str
    queue_depth: int


def live_budget() -> datetime.timedelta:
    return datetime.timedelta(seconds=float(settings.LFR_LIVE_BUDGET_SECONDS))


def _bump(session_id: int, **increments: int) -> None:
    MatchingSession.objects.filter(pk=session_id).update(**{k: F(k) + v for k, v in increments.items()})


def sniff_image(data: bytes) -> None:
    """Refuse anything that is not JPEG or PNG by its magic bytes, before it is stored anywhere (the engine's own
    check, so a camera sending WEBP or HEIC is told which format it sent)."""
    try:
        engine.sniff_format(bytes(data[:16]))
    except engine.ImageError as exc:
        # The engine names the format it recognised (in English); the plain refusal keeps its translatable text.
        message = exc.message if exc.code == "unsupported_format" else _("The frame is not a JPEG or PNG image.")
        raise RuleViolation(message, code=exc.code) from exc


def _enqueue(session_id: int, frame_id: str, captured_at: datetime.datetime) -> None:
    from matching.tasks import process_frame

    args = [session_id, frame_id, captured_at.isoformat()]
    # The arguments are ids and a time only; Celery's own saferepr of them cost 0.2 ms of the POST's CPU.
    process_frame.apply_async(args=args, queue="matching", argsrepr=repr(args), kwargsrepr="{}")


def _refuse_and_stop(session_id: int, reason: str, detail: str) -> None:
    session_stop_by_system(session_id, reason, detail)
    _bump(session_id, frames_refused=1)


def frame_submit(
    *,
    actor: Any,
    session_id: int,
    data: bytes,
    captured_at: datetime.datetime,
    enqueue: bool = True,
    size: int | None = None,
) -> FrameAccepted:
    """Accept a frame for a live session of the submitting camera unit and queue it for matching. `size`: the
    frame's true size when `data` holds only its first bytes (the upload handler stops just past the limit).

    Refusals: 404 unknown session, 403 another camera's session, 413 too large, 400 not an image or a bad
    capture time (no time zone, in the future, older than the live budget, before the session started), 409
    session not live or outside the window (the session is then stopped), 429 queue full.
    """
    if not isinstance(actor, CameraPrincipal):
        raise NotPermitted(_("Only a camera unit submits frames."), code="not_a_camera")
    now = timezone.now()
    session = _submit_state(session_id, now)
    if session is None:
        raise NotFound(_("No such session."), code="session_not_found")
    if session.camera_unit_id != actor.camera_unit_id:
        audit.record_now(
            "camera.refused",
            actor=actor,
            target=session,
            deployment_id=session.deployment_id,
            after={"reason": "session_of_another_camera", "camera_unit": actor.identifier},
        )
        raise NotPermitted(_("This camera unit may only submit frames to its own sessions."), code="wrong_camera")
    if len(data) > settings.LFR_MAX_FRAME_BYTES:
        _bump(session.pk, frames_refused=1)
        raise FrameTooLarge(
            _("The frame is %(n)s bytes; at most %(max)s are accepted.")
            % {"n": max(size or 0, len(data)), "max": settings.LFR_MAX_FRAME_BYTES}
        )
    sniff_image(data)
    if timezone.is_naive(captured_at):
        raise RuleViolation(_("The capture time must include a time zone."), code="invalid_captured_at")
    if captured_at > now + FUTURE_TOLERANCE:
        raise RuleViolation(_("The capture time is in the future."), code="invalid_captured_at")
    if not session.is_live:
        _bump(session.pk, frames_refused=1)
        raise InvalidTransition(_("The session is not live."), code="session_not_live")
    # The full gate check runs in the worker; these two are cheap and stop the session at once. The status comes
    # first, as in the gate check, so the stop reason is the one the deployment's stop hook gives.
    status = session.deployment_status
    if status != DeploymentStatus.AUTHORISED:
        _refuse_and_stop(session.pk, stop_reason_for_status(status), f"deployment {status}")
        raise InvalidTransition(_("The deployment is not authorised."), code="deployment_not_authorised")
    if not session.window_open:
        _refuse_and_stop(session.pk, StopReason.WINDOW_ENDED, "window closed")
        raise InvalidTransition(_("The authorised time window is closed."), code="window_closed")
    # The worker would drop these frames unmatched (frame_process, which keeps its own checks: a frame can go stale
    # in the queue); refused here, the camera is told why instead of seeing 202 for a frame never matched.
    _refuse_unmatchable_capture(session, captured_at, now)
    frame_id = uuid.uuid4().hex
    store = framestore.get_store()
    try:
        depth = store.put(session.pk, frame_id, data, limit=settings.LFR_MAX_SESSION_QUEUE)
    except framestore.FrameStoreUnsafe as exc:
        logger.error("Frame refused for session %s: %s", session.pk, exc)
        _bump(session.pk, frames_refused=1)
        raise QueueUnavailable(
            _("The frame store would write frames to disk, so no frame is accepted until that is put right."),
            code="frame_store_unsafe",
        ) from exc
    if depth is None:
        _bump(session.pk, frames_refused=1)
        raise TooManyRequests(
            _("The session already has %(n)s frames waiting; slow down.") % {"n": settings.LFR_MAX_SESSION_QUEUE},
            code="queue_full",
        )
    # A stop may have committed (and purged) between our status check and the put: the frame is counted only
    # while the session is still live, so a frame can never be left behind for a stopped session.
    with rawsql.cursor() as cursor:
        accept = _accept_sql(connection.vendor, rawsql.relaxed_commit())
        cursor.execute(accept, [adapt_datetime(now), session.pk, SessionStatus.LIVE.value])
        counted = cursor.rowcount == 1
    if not counted:
        store.take(session.pk, frame_id)
        raise InvalidTransition(_("The session is not live."), code="session_not_live")
    if enqueue:
        try:
            _enqueue(session.pk, frame_id, captured_at)
        except Exception as exc:  # noqa: BLE001 - the broker is down: the frame must not linger
            store.take(session.pk, frame_id)
            _bump(session.pk, frames_accepted=-1)
            logger.exception("Could not queue a frame for session %s", session.pk)
            raise QueueUnavailable(_("The matching queue is unavailable; try again shortly.")) from exc
    return FrameAccepted(frame_id=frame_id, queue_depth=depth)


def _refuse_unmatchable_capture(
    session: MatchingSession, captured_at: datetime.datetime, now: datetime.datetime
) -> None:
    """Refuse (and count as refused) a frame already older than the live budget, or seen before the session
    started: a live system does not match stale frames, nor anything the camera saw before matching began
    (domain.md 4)."""
    budget = live_budget()
    if now - captured_at > budget:
        _bump(session.pk, frames_refused=1)
        message = _(
            "The frame was captured %(age)s seconds ago, more than the live budget of %(budget)s seconds: it would "
            "not be matched. Send frames as they are captured, and check the camera's clock."
        ) % {"age": int((now - captured_at).total_seconds()), "budget": f"{budget.total_seconds():g}"}
        raise RuleViolation(message, code="stale_frame", details={"captured_at": [message]})
    if captured_at < session.started_at:
        _bump(session.pk, frames_refused=1)
        message = _(
            "The frame was captured before the session started, so it may not be matched. Send only frames "
            "captured since the session started, and check the camera's clock."
        )
        raise RuleViolation(message, code="captured_before_session", details={"captured_at": [message]})


def _policy(deployment: Deployment) -> engine.AlertPolicy:
    margin = float(deployment.alert_margin or 0) if deployment.alert_policy == "margin" else 0.0
    return engine.AlertPolicy(kind=deployment.alert_policy, threshold=float(deployment.match_threshold), margin=margin)


def _stop_for_gates(session_id: int, report: Any) -> None:
    reason, detail = stop_reason_for(report)
    session_stop_by_system(session_id, reason, detail)


@functools.cache
def _submit_state_sql(vendor: str) -> tuple[str, Columns]:
    """Per frame POST: the session (with its start, which no frame may predate), its deployment's status and
    whether a window is open, in one statement."""
    s = Columns(MatchingSession, "s", ("deployment_id", "camera_unit_id", "status", "started_at"))
    start, end = column(DeploymentWindow, "start"), column(DeploymentWindow, "end")
    return (
        f"""SELECT {s.sql}, d.{column(Deployment, "status")},
            EXISTS (SELECT 1 FROM {table(DeploymentWindow)} x
                     WHERE x.deployment_id = s.deployment_id AND x.{start} <= %s AND x.{end} > %s)
        FROM {table(MatchingSession)} s JOIN {table(Deployment)} d ON d.id = s.deployment_id
        WHERE s.id = %s""",
        s,
    )


def _submit_state(session_id: int, at: datetime.datetime) -> MatchingSession | None:
    """The session (only what a frame POST checks), with `deployment_status` and `window_open` (windows are
    half-open, as `window_containing`)."""
    sql, s = _submit_state_sql(connection.vendor)
    when = adapt_datetime(at)
    with rawsql.cursor() as cursor:
        cursor.execute(sql, [when, when, session_id])
        row = cursor.fetchone()
    if row is None:
        return None
    session = s.instance(row[: s.width])
    session.deployment_status, session.window_open = row[s.width], bool(row[s.width + 1])
    return session


@functools.cache
def _accept_sql(vendor: str, relaxed: str) -> str:
    """Count an accepted frame, only while the session is live (a stop may have committed meanwhile); `relaxed`:
    `rawsql.relaxed_commit()`."""
    return (
        f"UPDATE {table(MatchingSession)} SET frames_accepted = frames_accepted + 1, last_frame_at = %s{relaxed}"
        " WHERE id = %s AND status = %s"
    )


# The worker reads the session (and the operator who started it, for gate 6) in the gate check's own statement.
SESSION_ANCHOR = Anchor(MatchingSession, ("deployment_id", "camera_unit_id", "status", "started_at", "started_by_id"))


def _session_and_gates(session_id: int, at: datetime.datetime) -> tuple[MatchingSession | None, GateReport | None]:
    """The session with `started_by`, and every gate for its deployment and operator at `at`, in one statement."""
    found = anchored_gates(SESSION_ANCHOR, session_id, at=at)
    return found if found is not None else (None, None)


@functools.cache
def _lock_session_sql(vendor: str) -> str:
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""  # SQLite locks the whole database
    return f"SELECT id FROM {table(MatchingSession)} WHERE id = %s{lock}"


def _lock_session(session_id: int) -> None:
    """Hold the session row until the transaction ends, so a stop cannot commit before the alert rows do."""
    with rawsql.cursor() as cursor:
        cursor.execute(_lock_session_sql(connection.vendor), [session_id])


def frame_process(*, session_id: int, frame_id: str, captured_at: datetime.datetime) -> str:
    """Match one queued frame; returns what happened ("matched", "duplicate", "purged", "stale", ...).

    Idempotent per frame id: the first delivery claims the frame; a redelivery does nothing and counts nothing.
    """
    claimed, data = framestore.get_store().claim_take(session_id, frame_id)
    if not claimed:
        return "duplicate"
    now = timezone.now()
    # Governance at the last moment: all six gates must hold now, including the training and assignment of the
    # operator who started the session (domain.md 2.3: "checked again when each frame is matched").
    try:
        session, report = _session_and_gates(session_id, now)
    except (OperationalError, InterfaceError):
        # The frame is already out of the store. A worker does not re-check a connection it used a moment ago
        # (lfr_portal/celery.py), so after a database restart the first statement finds it dead: reconnect once,
        # and the frame is still matched or counted rather than lost.
        if connection.in_atomic_block:
            raise
        connection.close()
        session, report = _session_and_gates(session_id, now)
    if session is None or not session.is_live:
        # Stopping purged the store and counted what it held; count only a frame the purge did not see.
        if data is not None and session is not None:
            _bump(session_id, dropped_purged=1)
        return "purged"
    if data is None:
        # Gone from the store before the session was read as live: no stop's purge took it (a purge runs only after
        # the stop commits), so it expired, and nothing else counted it.
        _bump(session_id, dropped_purged=1)
        return "purged"
    if now - captured_at > live_budget():
        del data
        _bump(session_id, dropped_stale=1)
        return "stale"
    if not report.passed:
        del data
        _bump(session_id, dropped_gates=1)
        _stop_for_gates(session_id, report)
        return "gates"
    if captured_at < session.started_at or window_containing(report.deployment.gate_windows, captured_at) is None:
        # Authorised now, but the camera saw it before the session started or outside the window: not matched.
        del data
        _bump(session_id, dropped_gates=1)
        return "captured_outside_window"
    try:
        loaded = gallery.load_gallery_of(report.deployment)
    except ServiceError as exc:
        del data
        _bump(session_id, dropped_gates=1)
        session_stop_by_system(session_id, StopReason.GATE_FAILED, f"watchlist: {exc.message}")
        return "gates"
    policy = _policy(report.deployment)
    try:
        image = engine.decode_image(data, max_pixels=settings.LFR_MAX_FRAME_PIXELS)
    except engine.ImageError:
        _bump(session_id, dropped_undecodable=1)
        return "undecodable"
    finally:
        del data
    result = engine.process_frame(image, loaded.gallery, policy, engine_config())
    return _record(session_id, session.deployment_id, frame_id, captured_at, result, image, policy, loaded)


@functools.cache
def _count_frame_sql(relaxed: str) -> str:
    """The per-frame counter update: the matched frame, its faces and alerts, and the latency statistics.

    Written as SQL because it runs for every frame: through the ORM's F()/Case() expressions it cost about 1 ms
    more per frame than the database work itself. `status` in the WHERE clause counts the frame only while the
    session is live. `relaxed`: `rawsql.relaxed_commit()`, which is empty in the transaction of a frame's alerts."""
    return f"""
        UPDATE {table(MatchingSession)} SET
            frames_processed = frames_processed + 1,
            faces_seen = faces_seen + %s,
            alerts_raised = alerts_raised + %s,
            sightings = sightings + %s,
            latency_ms_last = %s,
            latency_ms_avg = CASE WHEN frames_processed = 0 THEN %s
                                  ELSE latency_ms_avg * {1 - LATENCY_ALPHA} + %s * {LATENCY_ALPHA} END,
            latency_ms_max = CASE WHEN latency_ms_max < %s THEN %s ELSE latency_ms_max END{relaxed}
        WHERE id = %s AND status = %s"""


def _count_frame(
    session_id: int, result: engine.FrameResult, captured_at: datetime.datetime, created: int, updated: int
) -> bool:
    """Count a processed frame if the session is still live; False when it is not (nothing is counted)."""
    latency = max(0, int((timezone.now() - captured_at).total_seconds() * 1000))
    with rawsql.cursor() as cursor:
        cursor.execute(
            _count_frame_sql(rawsql.relaxed_commit()),
            [result.faces_seen, created, updated, latency, float(latency), latency, latency, latency]
            + [session_id, SessionStatus.LIVE.value],
        )
        return cursor.rowcount == 1


def _closest_per_person(alerts: tuple[engine.FrameAlert, ...], gallery: engine.Gallery) -> list[engine.FrameAlert]:
    """One alert per person and frame: one person cannot be in a frame twice, so of two faces matching the same
    person (one entry, or two photos of them) only the closer alerts."""
    closest: dict[int, engine.FrameAlert] = {}
    for face in alerts:
        person = gallery.person_of(face.index)
        if person not in closest or face.distance < closest[person].distance:
            closest[person] = face
    return sorted(closest.values(), key=lambda face: face.index)


def _record(
    session_id: int,
    deployment_id: int,
    frame_id: str,
    captured_at: datetime.datetime,
    result: engine.FrameResult,
    image: Any,
    policy: engine.AlertPolicy,
    loaded: Any,
) -> str:
    """Write the frame's counters and any alerts, after checking the gates once more when there are alerts."""
    if not result.alerts:
        # Nothing to write but counters: one statement, counted only while the session is still live.
        if not _count_frame(session_id, result, captured_at, 0, 0):
            _bump(session_id, dropped_purged=1)
            return "purged"
        return "matched"
    stop_report = None
    with transaction.atomic():
        # Matching took time: an alert is only written if the window and every gate still hold now. The
        # deployment's authorisation (shared) and the session row are held first, so neither a suspension nor a
        # stop can commit between the check and the alert rows; the check is a new statement after the locks, so
        # it sees whatever committed while this worker waited for them.
        hold_authorisation(deployment_id, exclusive=False)
        _lock_session(session_id)
        session, report = _session_and_gates(session_id, timezone.now())
        if session is None or not session.is_live:
            _bump(session_id, dropped_purged=1)
            return "purged"
        created = updated = 0
        if not report.passed:
            stop_report = report
            _bump(session_id, dropped_gates=1)
        else:
            # Every face of the frame, so that each alert's crop pixelates whoever else it takes in.
            faces = (*(face.box for face in result.alerts), *result.non_matched_boxes)
            closest = _closest_per_person(result.alerts, loaded.gallery)
            # The entries of each alerting person: a recent alert on any of them takes the sighting.
            same_person = {face.index: [int(e) for e in loaded.gallery.same_person(face.index)] for face in closest}
            alert_services.alerts_lock_recent(
                session=session, entry_ids=[e for ids in same_person.values() for e in ids], captured_at=captured_at
            )
            for face in closest:
                _alert, is_new = alert_services.alert_record_sighting(
                    session=session,
                    frame_id=frame_id,
                    captured_at=captured_at,
                    face=face,
                    image=image,
                    policy=policy,
                    watchlist=loaded,
                    same_person=same_person[face.index],
                    others=faces,
                )
                created += is_new
                updated += not is_new
            _count_frame(session_id, result, captured_at, created, updated)  # live: the row is locked above
    if stop_report is not None:
        _stop_for_gates(session_id, stop_report)
        return "gates"
    return "alert" if created or updated else "matched"
