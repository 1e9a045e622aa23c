"""Feed a session from a video file, an image folder, a webcam or an RTSP URL through the frame service.

Frames are read with OpenCV (headless), encoded as JPEG in memory and submitted with the same service the API
uses (matching.services.frames.frame_submit) as the session's camera unit: nothing is written to disk.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.utils import timezone

from lfr_portal.errors import ServiceError
from matching.models import MatchingSession
from matching.principals import CameraPrincipal
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


def read_frames(source: str, *, every: int = 1) -> Iterator[bytes]:
    """JPEG bytes of every `every`-th frame of the source (a file, a folder of images, a webcam index, a URL)."""
    import cv2

    path = Path(source)
    if path.is_dir():
        for index, image_path in enumerate(sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)):
            if index % every == 0:
                image = cv2.imread(str(image_path))
                if image is not None:
                    ok, encoded = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), 90])
                    if ok:
                        yield encoded.tobytes()
        return
    capture = cv2.VideoCapture(int(source) if source.isdigit() else source)
    if not capture.isOpened():
        raise ValueError(f"Cannot open video source {source!r}")
    try:
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            if index % every == 0:
                ok, encoded = cv2.imencode(".jpg", frame, [int(cv2.IMWRITE_JPEG_QUALITY), 90])
                if ok:
                    yield encoded.tobytes()
            index += 1
    finally:
        capture.release()


def stream(
    *,
    session_id: int,
    source: str,
    fps: float,
    every: int = 1,
    max_frames: int | None = None,
    progress: Callable[[StreamStats], None] | None = None,
) -> StreamStats:
    """Submit frames at `fps` until the source ends, `max_frames` are sent, or the session stops."""
    session = MatchingSession.objects.select_related("camera_unit").get(pk=session_id)
    camera = CameraPrincipal(
        camera_unit_id=session.camera_unit_id, identifier=session.camera_unit.identifier, token_id=0
    )
    stats = StreamStats()
    interval = 1.0 / fps if fps > 0 else 0.0
    next_at = time.monotonic()
    for data in read_frames(source, every=max(1, every)):
        if max_frames is not None and stats.sent >= max_frames:
            break
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        next_at = max(next_at + interval, time.monotonic())
        stats.sent += 1
        try:
            frame_submit(actor=camera, session_id=session_id, data=data, captured_at=timezone.now())
            stats.accepted += 1
        except ServiceError as exc:
            stats.refused += 1
            stats.last_refusal = exc.code
            if exc.code in ("session_not_live", "window_closed", "deployment_not_authorised"):
                stats.stopped = True
        if progress is not None:
            stats.alerts = _alerts_raised(session_id)
            progress(stats)
        if stats.stopped:
            break
    stats.alerts = _alerts_raised(session_id)
    return stats


def _alerts_raised(session_id: int) -> int:
    return MatchingSession.objects.filter(pk=session_id).values_list("alerts_raised", flat=True).first() or 0
