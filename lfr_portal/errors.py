"""Domain errors raised by services, and the one JSON error shape every API error takes."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404, JsonResponse
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


class ServiceError(Exception):
    """A rule refused the action. `code` is stable for clients; `message` is for people."""

    status_code = 400
    default_code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = str(message)
        self.code = code or self.default_code
        self.details = details


def add_to_form(form: Any, exc: ServiceError) -> None:
    """Show a refusal on a Django form: its message in the summary, each field rule next to its field (or in the
    summary when the form has no such field), so the input stays as typed and no reason is lost."""
    form.add_error(None, exc.message)
    if isinstance(exc.details, dict):
        for field, errors in exc.details.items():
            if isinstance(errors, dict):
                continue  # structured evidence for API clients (e.g. a false-alert assessment), not a message
            for error in errors if isinstance(errors, list) else [errors]:
                form.add_error(field if field in form.fields else None, str(error))


class RuleViolation(ServiceError):
    """Input that breaks a governance rule; `details` maps field names to the rules they break."""

    status_code = 400
    default_code = "rule_violation"


class NotPermitted(ServiceError):
    """The actor's role, rank, training or relationship to the record forbids the action."""

    status_code = 403
    default_code = "not_permitted"


class InvalidTransition(ServiceError):
    """The record is not in a state the action applies to (someone else may have got there first)."""

    status_code = 409
    default_code = "invalid_transition"


class NotFound(ServiceError):
    status_code = 404
    default_code = "not_found"


class TooManyRequests(ServiceError):
    status_code = 429
    default_code = "too_many_requests"


# How an error answer looks, for the OpenAPI schema of the endpoints that list their error statuses.
ERROR = OpenApiResponse(description='{"error": {"code", "message", "details"}}')


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def _drf_code(exc: drf_exceptions.APIException) -> str:
    codes = exc.get_codes()
    if isinstance(codes, str):
        return codes
    return getattr(exc, "default_code", "error")


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler: every error, ours or DRF's, in `{"error": {code, message, details}}`."""
    from lfr_portal.uploads import limit_refusal

    exc = limit_refusal(exc) or exc  # too many files or too large a body, met while DRF parsed the request
    if isinstance(exc, ServiceError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        details = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        return Response(error_body("validation_error", "The request is not valid.", details), status=400)
    if isinstance(exc, OverflowError | DataError):
        # A number, id or time beyond what the database (or Python's dates, converted to UTC) can hold, e.g. an id
        # of 23 digits or 0001-01-01T00:00+14:00: the client's input, refused like any other (logged, in case a
        # fault of ours ever looks the same).
        logger.warning("API input out of range: %s", exc, exc_info=exc)
        message = "A number, id or time in the request is outside the range this service can hold."
        return Response(error_body("out_of_range", message), status=400)
    if isinstance(exc, Http404 | ObjectDoesNotExist):  # a selector's .get() on an id the user may not see
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled API error", exc_info=exc)
        return Response(error_body("server_error", "An internal error occurred; it has been logged."), status=500)
    if isinstance(exc, drf_exceptions.ValidationError):
        response.data = error_body("validation_error", "The request is not valid.", response.data)
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
        response.data = error_body(_drf_code(exc), str(detail))
    return response


def json_error_response(code: str, message: str, status: int, details: Any = None) -> JsonResponse:
    return JsonResponse(error_body(code, message, details), status=status)
