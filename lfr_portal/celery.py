"""The one Celery app: configured from Django settings (CELERY_*), JSON only."""

import os
import time

from celery import Celery
from celery.signals import task_postrun, task_prerun

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
