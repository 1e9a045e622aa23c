"""Project-wide views: health check and error pages that answer API clients in JSON."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views import defaults

from lfr_portal.errors import json_error_response
from lfr_portal.middleware import is_api_path


def _database_check() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        return f"error: {exc.__class__.__name__}"
    return "ok"


def _health_response(checks: dict[str, str]) -> JsonResponse:
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if healthy else "unhealthy", "checks": checks}, status=200 if healthy else 503)


def healthz(request: HttpRequest) -> JsonResponse:
    """The whole service: 200 when the database answers and every registered check passes (matching adds the
    broker, the workers' heartbeats and the frame store), so it turns 503 when every worker is down."""
    from lfr_portal import health

    return _health_response({"database": _database_check(), **health.extra_checks()})


def healthz_web(request: HttpRequest) -> JsonResponse:
    """A web node alone, for a load balancer's probe: 200 when this process answers and reaches the database. Down
    workers or a down broker do not take the web node out of rotation (officers can still read and decide)."""
    return _health_response({"database": _database_check()})


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """400s Django raises itself. Too many files or too large a body (met when a middleware first reads the form)
    are named with their limit; anything else is Django's plain answer."""
    from lfr_portal.uploads import limit_refusal

    refusal = limit_refusal(exception) if exception is not None else None
    if refusal is None:
        if is_api_path(request.path):
            return json_error_response("bad_request", "The request could not be read.", 400)
        return defaults.bad_request(request, exception)
    if is_api_path(request.path):
        return json_error_response(refusal.code, refusal.message, refusal.status_code)
    return render(request, "errors/refused.html", {"error": refusal}, status=refusal.status_code)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_path(request.path):
        return json_error_response("not_found", "No such API endpoint or object.", 404)
    return render(request, "errors/404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if is_api_path(request.path):
        return json_error_response("server_error", "An internal error occurred; it has been logged.", 500)
    return render(request, "errors/500.html", status=500)
