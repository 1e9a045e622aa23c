"""Settings that only the environment sets: read in a fresh interpreter, as a worker machine would start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# What the test sets itself, so a developer's or CI's own values cannot decide it.
INHERITED_NOT = ("LFR_BROKER", "LFR_VISIBILITY", "CELERY_", "DATABASE_URL")
# The settings read a developer's .env without overwriting: here nothing but the test's own environment counts.
READ_TRANSPORT_OPTIONS = """
import json, django, environ
environ.Env.read_env = classmethod(lambda cls, *args, **kwargs: None)
django.setup()
from lfr_portal.celery import app
print(json.dumps(app.conf.broker_transport_options))
"""


def fresh_interpreter(script: str, **env: str) -> subprocess.CompletedProcess:
    """Run `script` in a new Python with only this test's settings environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(INHERITED_NOT)}
    base.update({"DJANGO_SETTINGS_MODULE": "lfr_portal.settings", "PYTHONPATH": str(REPO_ROOT)}, **env)
    return subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=base, capture_output=True, text=True, timeout=120
    )


def transport_options(**env: str) -> dict:
    done = fresh_interpreter(READ_TRANSPORT_OPTIONS, **env)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("value", "expected"), [(None, True), ("0", False), ("1", True)])
def test_lfr_broker_ack_emulation_reaches_celerys_redis_transport_options(value, expected):
    # Nothing connects: the options are read from the URL and the environment only.
    env = {"CELERY_BROKER_URL": "redis://127.0.0.1:6379/9", "LFR_VISIBILITY_TIMEOUT": "1234"}
    if value is not None:
        env["LFR_BROKER_ACK_EMULATION"] = value
    options = transport_options(**env)
    assert options["ack_emulation"] is expected
    assert options["visibility_timeout"] == 1234


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        ("compliance.tasks.process_enrolment_batch", "enrolment"),
        ("compliance.tasks.destroy_due_watchlists", "enrolment"),
        ("matching.tasks.process_frame", "matching"),
        ("compliance.tasks.enforce_retention", "default"),
    ],
)
def test_tasks_are_routed_to_their_queues_by_name(task, queue):
    # By CELERY_TASK_ROUTES (by name), not the per-task `queue` attribute that Celery 6 removes. Pure routing: no
    # task module is imported here and no database is touched.
    from lfr_portal.celery import app

    route = app.amqp.router.route({}, task, args=(), kwargs={})
    assert route["queue"].name == queue


# What OPENBLAS_NUM_THREADS is at the moment numpy is first imported, when manage.py loads every app.
READ_BLAS_THREADS = """
import importlib.abc, json, os, runpy, sys
seen = {}
class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "numpy" and not seen:
            seen.update(openblas=os.environ.get("OPENBLAS_NUM_THREADS"), omp=os.environ.get("OMP_NUM_THREADS"))
sys.meta_path.insert(0, Watch())
sys.argv = ["manage.py", "check"]
runpy.run_path("manage.py", run_name="__main__")
print(json.dumps(seen))
"""


@pytest.mark.parametrize(("value", "expected"), [(None, "1"), ("2", "2")])
def test_every_process_has_one_blas_thread_when_numpy_loads_unless_the_operator_says_otherwise(value, expected):
    # A worker started by a service unit has no Makefile environment: OpenBLAS would start a thread per core in
    # each of the one-per-core matching processes. manage.py reaches the package only through the settings.
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    env.update({"DJANGO_SETTINGS_MODULE": "lfr_portal.settings", "PYTHONPATH": str(REPO_ROOT)})
    if value is not None:
        env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = value
    done = subprocess.run(
        [sys.executable, "-c", READ_BLAS_THREADS], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"openblas": expected, "omp": expected}


@pytest.mark.parametrize(("days", "refused"), [("0", True), ("-3", True), ("30", False)])
def test_user_api_tokens_must_expire_and_not_at_once(days, refused):
    setup = "import environ; environ.Env.read_env = classmethod(lambda c, *a, **k: None); import django; django.setup()"
    done = fresh_interpreter(setup, LFR_API_TOKEN_DAYS=days)
    assert (done.returncode != 0) is refused, done.stderr[-2000:]
    assert ("LFR_API_TOKEN_DAYS must be 1 or more" in done.stderr) is refused
