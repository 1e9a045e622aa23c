"""Database connections kept between web requests and between worker tasks, re-checked only after an idle spell.

Django re-checks a reused connection (CONN_HEALTH_CHECKS) with a `SELECT 1` round trip before the first query of
each request, and the worker does the same around each task (lfr_portal/celery.py). A connection that this thread
finished using less than IDLE_SECONDS ago was working then: a camera posting a frame every 100 ms, or a worker
matching one, would otherwise pay a round trip per frame for a check its previous frame's own statements just made.
A request or task that hit a database error still has its connection checked at its end, and closed if broken
(Django's close_old_connections, which runs before these).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.core.signals import request_finished
from django.db import connections
from django.http import HttpRequest, HttpResponse

IDLE_SECONDS = 1.0


def mark_released() -> None:
    """At the end of a request or task: remember when each open connection was last known to work."""
    now = time.monotonic()
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            conn.lfr_released_at = now


def skip_recent_checks() -> None:
    """At the start of a request or task, after Django's reset: no health check for a connection used just now."""
    now = time.monotonic()
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and now - getattr(conn, "lfr_released_at", float("-inf")) < IDLE_SECONDS:
            conn.health_check_done = True


class ReuseRecentConnectionsMiddleware:
    """First in MIDDLEWARE: it runs after every request_started receiver, Django's reset of the check included."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        skip_recent_checks()
        return self.get_response(request)


def _on_request_finished(**_kwargs: object) -> None:
    mark_released()


def connect() -> None:
    """Stamp each connection as a request ends (after Django's close_old_connections, connected before this)."""
    request_finished.connect(_on_request_finished, dispatch_uid="lfr_portal.dbreuse.finished")
