"""The one Celery app: configured from Django settings (CELERY_*), JSON only."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lfr_portal.settings")

app = Celery("lfr_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Celery's Django fix-up closes every database connection before and after each task unless this is set, so a
# worker would start a new PostgreSQL backend for every frame. With it set the fix-up only recycles connections
# every DB_REUSE_MAX tasks, and the handlers below do what Django does around a web request instead: drop a
# connection that is broken or older than CONN_MAX_AGE (and re-check a reused one, CONN_HEALTH_CHECKS).
app.conf.CELERY_DB_REUSE_MAX = 10_000


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(task: object = None, **_kwargs: object) -> None:
    if getattr(getattr(task, "request", None), "is_eager", False):
        return  # run in the caller's process, inside its request or transaction: not ours to close
    from django.db import close_old_connections

    close_old_connections()
