"""The one Celery app: configured from Django settings (CELERY_*), JSON only."""

import logging
import os
import time

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lfr_portal.settings")

app = Celery("lfr_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Celery's Django fix-up closes every database connection before and after each task unless this is set, so a
# worker would start a new PostgreSQL backend for every frame. With it set the fix-up only recycles connections
# every DB_REUSE_MAX tasks, and the handlers below do what Django does around a web request instead: drop a
# connection that is broken or older than CONN_MAX_AGE, and re-check a reused one (CONN_HEALTH_CHECKS).
app.conf.CELERY_DB_REUSE_MAX = 10_000

# A connection the previous task used this recently is not re-checked: a frame every 50 ms would otherwise pay a
# round trip (`SELECT 1`) for a check that the previous frame's own statements just made. A task that hit a
# database error leaves its connection checked and, if broken, closed (`_after_task`), as Django does.
HEALTH_CHECK_IDLE_SECONDS = 1.0
_last_task_end = [float("-inf")]


def _in_caller(task: object) -> bool:
    # Run eagerly in the caller's process, inside its request or transaction: its connections are not ours.
    return bool(getattr(getattr(task, "request", None), "is_eager", False))


@task_prerun.connect
def _before_task(task: object = None, **_kwargs: object) -> None:
    if _in_caller(task):
        return
    from django.db import close_old_connections, connections

    close_old_connections()
    if time.monotonic() - _last_task_end[0] < HEALTH_CHECK_IDLE_SECONDS:
        for conn in connections.all(initialized_only=True):
            conn.health_check_done = True


@task_postrun.connect
def _after_task(task: object = None, **_kwargs: object) -> None:
    if _in_caller(task):
        return
    from django.db import close_old_connections

    close_old_connections()
    _last_task_end[0] = time.monotonic()


# Redis ack emulation keeps every delivered message in an "unacked" hash until it is acknowledged, so that a worker
# that dies does not lose it: Redis redelivers it after the visibility timeout (an hour). That costs the worker's
# parent process three Redis round trips per message. A frame is worth nothing an hour later (it is long past the
# live budget and its bytes have left the frame store), and frame tasks are acknowledged on start anyway, so a
# worker that consumes the matching queue alone may run without it (LFR_BROKER_ACK_EMULATION=0). Any other queue
# carries tasks that must survive a dead worker, so a worker that consumes one turns it back on.
ACK_EMULATION_OPTIONAL_QUEUES = frozenset({"matching"})
logger = logging.getLogger(__name__)


@worker_init.connect
def _keep_ack_emulation_for_other_queues(sender: object = None, **_kwargs: object) -> None:
    worker_app = getattr(sender, "app", None)
    if worker_app is None:
        return
    options = dict(worker_app.conf.broker_transport_options or {})
    if options.get("ack_emulation", True):
        return
    others = sorted(set(worker_app.amqp.queues.consume_from) - ACK_EMULATION_OPTIONAL_QUEUES)
    if others:
        logger.warning(
            "LFR_BROKER_ACK_EMULATION=0 applies only to workers that consume the matching queue alone; this worker "
            "also consumes %s, so Redis ack emulation stays on.",
            ", ".join(others),
        )
        worker_app.conf.broker_transport_options = {**options, "ack_emulation": True}
