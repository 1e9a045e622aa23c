"""The one Celery app: configured from Django settings (CELERY_*), JSON only."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lfr_portal.settings")

app = Celery("lfr_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
