"""Request id and actor for the audit log; the second-factor wall; JSON errors for API clients."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from lfr_portal import context
from lfr_portal.errors import ServiceError, json_error_response

logger = logging.getLogger(__name__)
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def is_api_path(path: str) -> bool:
    return path.startswith("/api/")


class RequestContextMiddleware:
    """Gives every request an id (honouring a well-formed X-Request-ID) and echoes it in the response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get(settings.LFR_REQUEST_ID_HEADER, "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        with context.request_context(request_id=request_id):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class ActorMiddleware:
    """Puts the authenticated user into the audit context (API token users are bound by the API layer)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        context.set_actor(user if user is not None and user.is_authenticated else None)
        return self.get_response(request)


class RequireSecondFactorMiddleware:
    """Roles that must use TOTP reach nothing beyond enrolment and verification until they have used it."""

    exempt_url_names = ("otp_enrol", "otp_verify", "logout", "login", "healthz", "healthz-web")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and getattr(user, "requires_second_factor", False)
            and not user.is_verified()
            and not _exempt(request, self.exempt_url_names)
        ):
            if is_api_path(request.path):
                return json_error_response(
                    "second_factor_required", "Sign in with your authenticator code before using the API.", 403
                )
            has_device = user.totpdevice_set.filter(confirmed=True).exists()
            return redirect(reverse("otp_verify" if has_device else "otp_enrol"))
        return self.get_response(request)


def _exempt(request: HttpRequest, names: tuple[str, ...]) -> bool:
    """Static files, the public pages and the named pages are reachable before either step is done."""
    path = request.path
    if path.startswith(settings.STATIC_URL if settings.STATIC_URL.startswith("/") else "/" + settings.STATIC_URL):
        return True
    if path.startswith("/transparency/"):
        return True
    return any(path == reverse(name) for name in names)


class RequirePasswordChangeMiddleware:
    """A user whose password an Administrator set reaches nothing but the password page (after the second factor,
    which comes first) until they have chosen their own."""

    exempt_url_names = ("password_change", *RequireSecondFactorMiddleware.exempt_url_names)

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and getattr(user, "must_change_password", False)
            and not _exempt(request, self.exempt_url_names)
        ):
            if is_api_path(request.path):
                return json_error_response(
                    "password_change_required", "Choose your own password (/accounts/password/) first.", 403
                )
            return redirect(reverse("password_change"))
        return self.get_response(request)


class ApiErrorMiddleware:
    """An API client never gets an HTML error page: 404s, service errors and crashes become the JSON shape."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if is_api_path(request.path) and response.status_code == 404 and "json" not in response.get("Content-Type", ""):
            return json_error_response("not_found", "No such API endpoint or object.", 404)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_path(request.path):
            if isinstance(exception, ServiceError):
                # A refused action on a page: say which rule refused it, with the right status code.
                return render(request, "errors/refused.html", {"error": exception}, status=exception.status_code)
            return None
        if isinstance(exception, ServiceError):
            return json_error_response(exception.code, exception.message, exception.status_code, exception.details)
        logger.exception("Unhandled error on %s", request.path, exc_info=exception)
        return json_error_response("server_error", "An internal error occurred; it has been logged.", 500)
