"""Project-wide views: health check and error pages that answer API clients in JSON."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from lfr_portal.errors import json_error_response
from lfr_portal.middleware import is_api_path


def healthz(request: HttpRequest) -> JsonResponse:
    """For load balancers: 200 when the database answers (matching adds broker and worker checks)."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        checks["database"] = f"error: {exc.__class__.__name__}"
    from lfr_portal import health

    checks.update(health.extra_checks())
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if healthy else "unhealthy", "checks": checks}, status=200 if healthy else 503)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_path(request.path):
        return json_error_response("not_found", "No such API endpoint or object.", 404)
    return render(request, "errors/404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if is_api_path(request.path):
        return json_error_response("server_error", "An internal error occurred; it has been logged.", 500)
    return render(request, "errors/500.html", status=500)
