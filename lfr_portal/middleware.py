"""Request id and actor for the audit log; the second-factor wall; JSON errors for API clients."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import is_valid_path, reverse

from lfr_portal import context
from lfr_portal.errors import ServiceError, json_error_response

logger = logging.getLogger(__name__)
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def is_api_path(path: str) -> bool:
    return path.startswith("/api/")


class ApiTrailingSlashMiddleware:
    """An API write sent to a URL without its trailing slash. CommonMiddleware would answer it with a redirect (a
    500 page with DEBUG), and the client would lose the body or send it again as a GET: so say which URL to use,
    in the API's error shape. Runs before CommonMiddleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if (
            settings.APPEND_SLASH
            and is_api_path(path)
            and not path.endswith("/")
            and request.method not in ("GET", "HEAD", "OPTIONS")
        ):
            urlconf = getattr(request, "urlconf", None)
            if not is_valid_path(path, urlconf) and is_valid_path(f"{path}/", urlconf):
                message = f"API URLs end with a slash: send this {request.method} to {request.path}/ instead."
                return json_error_response("trailing_slash_required", message, 404)
        return self.get_response(request)


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


class _SignInStepMiddleware:
    """A step of signing in that an authenticated user must finish before reaching anything but `exempt_url_names`
    (static files and the public pages always): pages redirect to the step, the API answers 403 `api_code`."""

    exempt_url_names: tuple[str, ...] = ("logout", "login", "healthz", "healthz-web")
    api_code = ""
    api_message = ""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def pending(self, user: Any) -> bool:
        raise NotImplementedError

    def step_url(self, user: Any) -> str:
        raise NotImplementedError

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and self.pending(user) and not self._exempt(request):
            if is_api_path(request.path):
                return json_error_response(self.api_code, self.api_message, 403)
            return redirect(self.step_url(user))
        return self.get_response(request)

    def _exempt(self, request: HttpRequest) -> bool:
        path = request.path
        static = settings.STATIC_URL if settings.STATIC_URL.startswith("/") else "/" + settings.STATIC_URL
        if path.startswith(static) or path.startswith("/transparency/"):
            return True
        return any(path == reverse(name) for name in self.exempt_url_names)


class RequireSecondFactorMiddleware(_SignInStepMiddleware):
    """Roles that must use TOTP reach nothing beyond enrolment and verification until they have used it."""

    exempt_url_names = ("otp_enrol", "otp_verify", *_SignInStepMiddleware.exempt_url_names)
    api_code = "second_factor_required"
    api_message = "Sign in with your authenticator code before using the API."

    def pending(self, user: Any) -> bool:
        return getattr(user, "requires_second_factor", False) and not user.is_verified()

    def step_url(self, user: Any) -> str:
        return reverse("otp_verify" if user.has_authenticator() else "otp_enrol")


class RequirePasswordChangeMiddleware(_SignInStepMiddleware):
    """A user whose password an Administrator set reaches nothing but the password page (after the second factor,
    which comes first) until they have chosen their own."""

    exempt_url_names = ("password_change", *RequireSecondFactorMiddleware.exempt_url_names)
    api_code = "password_change_required"
    api_message = "Choose your own password (/accounts/password/) first."

    def pending(self, user: Any) -> bool:
        return getattr(user, "must_change_password", False)

    def step_url(self, user: Any) -> str:
        return reverse("password_change")


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
