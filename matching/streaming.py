"""Feed a session from a video file, an image folder, a webcam or an RTSP URL through the frame service.

Frames are read with OpenCV (headless), encoded as JPEG in memory and submitted with the same service the API
uses (matching.services.frames.frame_submit) as the session's camera unit: nothing is written to disk.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from compliance import audit
from compliance.models import CameraUnit
from lfr_portal.errors import NotPermitted, ServiceError
from matching.models import MatchingSession
from matching.principals import CameraPrincipal
from matching.selectors.sessions import active_token
from matching.services.frames import frame_submit

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


@dataclass
class StreamStats:
    sent: int = 0
    accepted: int = 0
    refused: int = 0
    alerts: int = 0
    last_refusal: str = ""
    stopped: bool = False


Frame = tuple[bytes, datetime.datetime | None]  # JPEG bytes, and when a live source delivered it (else None)


def is_live(source: str) -> bool:
    """A webcam index or an RTSP stream: frames arrive in real time, not when read. (An http:// URL may be a
    recording, and is replayed as one.)"""
    return source.isdigit() or source.lower().startswith(("rtsp://", "rtsps://"))


class LatestFrame:
    """Reads a live source as fast as it delivers, keeping only the newest frame and when it was grabbed.

    A reader that takes frames more slowly than the camera makes them is otherwise handed ever older frames from
    the capture's buffer, which would then be submitted as if they had just been seen: past the live budget and
    even outside the window, unnoticed."""

    def __init__(self, capture: Any, clock: Callable[[], datetime.datetime] = timezone.now) -> None:
        self.capture, self.clock = capture, clock
        self.condition = threading.Condition()
        self.frame: Any = None
        self.grabbed_at: datetime.datetime | None = None
        self.seq = 0
        self.ended = False
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="stream-reader", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        # Only this thread touches the capture, and it releases it: OpenCV does not guard a grab() in progress
        # against a release() from another thread.
        try:
            while not self.stopping:
                if not self.capture.grab():
                    break
                grabbed_at = self.clock()
                ok, frame = self.capture.retrieve()
                if not ok:
                    continue
                with self.condition:
                    self.frame, self.grabbed_at, self.seq = frame, grabbed_at, self.seq + 1
                    self.condition.notify_all()
        finally:
            self.capture.release()
            with self.condition:
                self.ended = True
                self.condition.notify_all()

    def after(self, seq: int) -> tuple[Any, datetime.datetime | None, int] | None:
        """The newest frame later than `seq`, waiting for one as long as the source lasts (a stalled stream ends
        when its own read times out); None once it has ended."""
        with self.condition:
            self.condition.wait_for(lambda: self.seq > seq or self.ended)
            if self.seq > seq:
                return self.frame, self.grabbed_at, self.seq
            return None

    def close(self) -> None:
        """Ask the reader to stop; it releases the capture itself after its current grab."""
        self.stopping = True


def read_frames(source: str, *, every: int = 1) -> Iterator[Frame]:
    """Frames of the source as (JPEG bytes, captured_at): every `every`-th frame of a file or a folder of images
    (captured_at None: a recording replayed as if live), or the newest frame of a webcam or stream URL each time
    one is asked for, with the time it was grabbed."""
    import cv2

    path = Path(source)
    if path.is_dir():
        for index, image_path in enumerate(sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)):
            if index % every == 0:
                image = cv2.imread(str(image_path))
                if image is not None:
                    ok, encoded = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), 90])
                    if ok:
                        yield encoded.tobytes(), None
        return
    capture = cv2.VideoCapture(int(source) if source.isdigit() else source)
    if not capture.isOpened():
        raise ValueError(f"Cannot open video source {source!r}")
    if is_live(source):
        yield from _live_frames(capture)
        return
    try:
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            if index % every == 0:
                ok, encoded = cv2.imencode(".jpg", frame, [int(cv2.IMWRITE_JPEG_QUALITY), 90])
                if ok:
                    yield encoded.tobytes(), None
            index += 1
    finally:
        capture.release()


def _live_frames(capture: Any) -> Iterator[Frame]:
    import cv2

    latest = LatestFrame(capture)
    try:
        seq = 0
        while (got := latest.after(seq)) is not None:
            frame, grabbed_at, seq = got
            ok, encoded = cv2.imencode(".jpg", frame, [int(cv2.IMWRITE_JPEG_QUALITY), 90])
            if ok:
                yield encoded.tobytes(), grabbed_at
    finally:
        latest.close()


class CameraNotUsable(NotPermitted):
    """The session's camera unit could not submit frames through the API: inactive, or without a usable token."""

    default_code = "camera_not_usable"


def camera_principal(session: MatchingSession) -> CameraPrincipal:
    """The session's camera unit as the frame API would let it in (services.cameras.camera_authenticate): active,
    with a token that is not revoked. The command runs on the server and presents no token, but an Administrator who
    revokes a lost van's token or deactivates the unit must stop this path too; a refusal is audited."""
    unit = CameraUnit.objects.get(pk=session.camera_unit_id)
    token = active_token(unit) if unit.active else None
    if token is not None:
        return CameraPrincipal(camera_unit_id=unit.pk, identifier=unit.identifier, token_id=token.pk)
    if not unit.active:
        code = "camera_inactive"
        message = _(
            "Camera %(c)s is not active, so no frames can be streamed as it. An Administrator must reactivate it first."
        ) % {"c": unit.identifier}
    else:
        code = "camera_token_revoked"
        message = _(
            "Camera %(c)s has no usable token (revoked, or never issued), so no frames can be streamed as it. An "
            "Administrator must issue or rotate its token first."
        ) % {"c": unit.identifier}
    audit.record_now(
        "camera.refused",
        target=session,
        deployment_id=session.deployment_id,
        after={"reason": code, "camera_unit": unit.identifier, "via": "stream"},
    )
    raise CameraNotUsable(message, code=code)


def stream(
    *,
    session_id: int,
    source: str,
    fps: float,
    every: int = 1,
    max_frames: int | None = None,
    progress: Callable[[StreamStats], None] | None = None,
) -> StreamStats:
    """Submit frames at `fps` until the source ends, `max_frames` are sent, or the session stops.

    Refused (CameraNotUsable) unless the session's camera unit is active with a usable token; checked again before
    every frame, as the API checks every request, so a revocation or deactivation stops a stream under way."""
    session = MatchingSession.objects.get(pk=session_id)
    camera_principal(session)
    stats = StreamStats()
    interval = 1.0 / fps if fps > 0 else 0.0
    next_at = time.monotonic()
    frames = read_frames(source, every=max(1, every))
    while max_frames is None or stats.sent < max_frames:
        # Wait first, then take the frame: a live source's newest frame is taken when it is due, not a tick early.
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        next_at = max(next_at + interval, time.monotonic())
        got = next(frames, None)
        if got is None:
            break
        data, grabbed_at = got
        stats.sent += 1
        try:
            camera = camera_principal(session)
            # A live frame carries the time it was grabbed; a recording is replayed as if seen now.
            frame_submit(actor=camera, session_id=session_id, data=data, captured_at=grabbed_at or timezone.now())
            stats.accepted += 1
        except ServiceError as exc:
            stats.refused += 1
            stats.last_refusal = exc.code
            if exc.code == "queue_full":  # backpressure: skip a beat rather than keep the queue full
                next_at += interval
            if isinstance(exc, CameraNotUsable) or exc.code in (
                "session_not_live",
                "window_closed",
                "deployment_not_authorised",
            ):
                stats.stopped = True
        if progress is not None:
            stats.alerts = _alerts_raised(session_id)
            progress(stats)
        if stats.stopped:
            break
    frames.close()
    stats.alerts = _alerts_raised(session_id)
    return stats


def _alerts_raised(session_id: int) -> int:
    return MatchingSession.objects.filter(pk=session_id).values_list("alerts_raised", flat=True).first() or 0
