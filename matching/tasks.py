"""Celery tasks of the matching app: thin wrappers that call engine or service functions."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import numpy as np
from celery import shared_task
from django.conf import settings

from compliance.crypto import encrypt_bytes
from lfr_portal.context import request_context
from matching.engine import EngineConfig, EngineError, decode_image, detect_faces, encode_faces, encoding_to_bytes

# Calibration datasets are photographs of people (LFW is 250×250); anything far larger is a mistake.
CALIBRATION_MAX_PIXELS = 40_000_000


def encode_calibration_file(
    path: str, config: dict[str, Any], max_pixels: int = CALIBRATION_MAX_PIXELS
) -> dict[str, Any]:
    """Encode one labelled dataset image: {"encoding": Fernet token | None, "error": code | None, "faces": n}.

    The encoding travels encrypted (LFR_ENCODING_KEYS): on workers this dict passes through the Celery result
    backend (Redis, or files under var/ in the embedded set-up), where a plain template must never sit.

    Datasets like LFW centre the labelled person but may show others behind them: with several usable faces
    the one nearest the image centre is taken, as the LFW protocol assumes.
    """
    engine = EngineConfig.from_dict(config)
    try:
        image = decode_image(Path(path).read_bytes(), max_pixels=max_pixels)
    except OSError:
        return {"encoding": None, "error": "unreadable", "faces": 0}
    except EngineError as exc:
        return {"encoding": None, "error": exc.code, "faces": 0}
    boxes = detect_faces(image, engine)
    if not boxes:
        return {"encoding": None, "error": "no_face", "faces": 0}
    centre = np.array(image.shape[:2], dtype=np.float64) / 2
    central = min(
        boxes, key=lambda b: float(np.hypot((b.top + b.bottom) / 2 - centre[0], (b.left + b.right) / 2 - centre[1]))
    )
    encoding = encode_faces(image, [central], engine)[0]
    token = encrypt_bytes(encoding_to_bytes(encoding)).decode("ascii")
    return {"encoding": token, "error": None, "faces": len(boxes)}


@shared_task(name="matching.tasks.encode_calibration_image", acks_late=True, time_limit=600, soft_time_limit=540)
def encode_calibration_image(path: str, config: dict[str, Any]) -> dict[str, Any]:
    """Encode one calibration image on a worker (queue "calibration"); the path must be readable by the worker."""
    return encode_calibration_file(path, config)


# --- Live matching (issue 6): the task carries ids and a timestamp only; the frame waits in matching.framestore.


@shared_task(
    name="matching.tasks.process_frame",
    # Acknowledged when it starts, not when it ends: the worker can then fetch the next frame's message while
    # this one is matched (with one prefetch slot per process, acks_late held the slot until the end, and each
    # frame waited for a broker round trip; docs/benchmarks.md). Nothing is lost: a redelivery of a frame finds
    # it already claimed and does nothing, and a frame stranded by a dead worker is stale long before any
    # redelivery, so acks_late bought nothing here. The sweep purges what such a frame left in the store.
    acks_late=False,
    ignore_result=True,
    # Below the broker's visibility timeout (checked in settings), so Redis never redelivers a running frame.
    time_limit=settings.LFR_MATCH_TIME_LIMIT,
    soft_time_limit=max(1, settings.LFR_MATCH_TIME_LIMIT - 5),
)
def process_frame(session_id: int, frame_id: str, captured_at: str) -> str:
    """Match one frame of a live session (queue "matching"); idempotent per frame id."""
    from matching.services.frames import frame_process

    with request_context(request_id=f"frame-{frame_id}"):
        return frame_process(
            session_id=session_id, frame_id=frame_id, captured_at=datetime.datetime.fromisoformat(captured_at)
        )


@shared_task(name="matching.tasks.enforce_live_sessions", ignore_result=True)
def enforce_live_sessions() -> list[int]:
    """Beat: stop sessions whose window ended or whose gates fail (suspension, revocation, watch-list)."""
    from matching.services.sessions import sessions_enforce_gates

    with request_context():
        return sessions_enforce_gates()


@shared_task(name="matching.tasks.sweep_frame_store", ignore_result=True)
def sweep_frame_store() -> int:
    """Beat: purge frames left in the store by stopped sessions or crashed workers."""
    from matching.services.sessions import frame_store_sweep

    with request_context():
        return frame_store_sweep()


@shared_task(name="matching.tasks.stream_demo_clip", ignore_result=True, time_limit=300)
def stream_demo_clip(session_id: int) -> int:
    """Demo: stream the sample clip into a live demo session (the one-click button in demo mode)."""
    from matching.demo import CLIP, demo_faces_dir
    from matching.streaming import stream

    folder = demo_faces_dir()
    if folder is None:
        return 0
    with request_context():
        return stream(session_id=session_id, source=str(folder / CLIP), fps=6, every=5).sent
