"""Worker heartbeats: each Celery worker writes a row every LFR_WORKER_HEARTBEAT_SECONDS, so a dead one shows
as stale on the operations page and in /healthz within a minute. Also the broker and worker health checks.
"""

from __future__ import annotations

import datetime
import logging
import os
import threading
from typing import Any

from celery.signals import worker_process_init, worker_ready, worker_shutdown
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from lfr_portal import health
from matching.models import WorkerHeartbeat

logger = logging.getLogger(__name__)

_stop = threading.Event()
_thread: threading.Thread | None = None


def beat(*, hostname: str, queues: list[str], started_at: datetime.datetime) -> None:
    """Record that this worker is alive now."""
    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname,
        defaults={"queues": sorted(queues), "pid": os.getpid(), "started_at": started_at, "last_seen": timezone.now()},
    )


def _run(hostname: str, queues: list[str]) -> None:
    started_at = timezone.now()
    interval = max(1, int(settings.LFR_WORKER_HEARTBEAT_SECONDS))
    while not _stop.is_set():
        try:
            close_old_connections()
            beat(hostname=hostname, queues=queues, started_at=started_at)
        except Exception:  # noqa: BLE001 - a missed beat shows as staleness; the worker keeps working
            logger.exception("Worker heartbeat failed")
        finally:
            connection.close()
        _stop.wait(interval)


def start(hostname: str, queues: list[str]) -> threading.Thread:
    """Start the heartbeat thread of this worker process (idempotent)."""
    global _thread
    if _thread is not None and _thread.is_alive():
        return _thread
    _stop.clear()
    _thread = threading.Thread(target=_run, args=(hostname, queues), name="lfr-heartbeat", daemon=True)
    _thread.start()
    return _thread


@worker_process_init.connect
def _warm_up_matcher(**kwargs: Any) -> None:
    # Each pool process loads the models once at start; otherwise the first live frame takes seconds and
    # the frames queued behind it go stale.
    from matching.config import engine_config
    from matching.engine import warm_up

    try:
        warm_up(engine_config())
    except Exception:  # noqa: BLE001 - a worker that cannot load the models still reports, and frames will say why
        logger.exception("Could not load the matcher models at worker start")


@worker_ready.connect
def _on_worker_ready(sender: Any = None, **kwargs: Any) -> None:
    hostname = getattr(sender, "hostname", None) or "worker"
    try:
        queues = list(sender.app.amqp.queues.consume_from)
    except Exception:  # noqa: BLE001
        queues = []
    start(hostname, queues)


@worker_shutdown.connect
def _on_worker_shutdown(sender: Any = None, **kwargs: Any) -> None:
    _stop.set()
    hostname = getattr(sender, "hostname", None)
    if hostname:
        try:
            WorkerHeartbeat.objects.filter(hostname=hostname).delete()
        except Exception:  # noqa: BLE001 - the row will simply go stale
            logger.warning("Could not remove the heartbeat of %s", hostname)


@health.register("broker")
def broker_check() -> str:
    """The broker answers (Redis ping, or the filesystem broker's folder is writable)."""
    url = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://")):
        import redis

        redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2).ping()
        return "ok"
    folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in")
    return "ok" if folder and os.access(folder, os.W_OK) else "error: broker folder not writable"


@health.register("workers")
def workers_check() -> str:
    """At least one worker wrote a heartbeat within the last minute."""
    from matching.selectors.sessions import live_workers

    return "ok" if live_workers() else "error: no worker heartbeat in the last 60 s"


@health.register("frame_store")
def frame_store_check() -> str:
    from matching import framestore

    framestore.get_store().ping()
    return "ok"
