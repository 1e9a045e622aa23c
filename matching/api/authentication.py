"""`Authorization: Camera <token>`: a camera unit's credential, accepted only by the frame endpoint; and the rule that
an alert's review is made signed in, never with an API token (`ReviewedInPerson`)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission

from compliance.api.authentication import UserTokenAuthentication, authorization_header_scheme
from matching.principals import CameraPrincipal
from matching.services.cameras import camera_authenticate

KEYWORD = b"camera"


class CameraTokenAuthentication(BaseAuthentication):
    """Authenticates a camera unit by its token; yields a CameraPrincipal, never a user."""

    def authenticate(self, request: Any) -> tuple[CameraPrincipal, str] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Give the camera token as: Authorization: Camera <token>.")
        try:
            secret = parts[1].decode("ascii")
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed("The camera token is malformed.") from exc
        principal = camera_authenticate(secret)
        if principal is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked camera token.")
        return principal, secret

    def authenticate_header(self, request: Any) -> str:
        return "Camera"


class IsCamera(BasePermission):
    """Only a camera principal (the frame endpoint); people submit nothing here."""

    message = "Only a camera unit token may submit frames."

    def has_permission(self, request: Any, view: Any) -> bool:
        return isinstance(request.user, CameraPrincipal)


class ReviewedInPerson(BasePermission):
    """Dismissing or referring an alert is an officer's judgement of the camera's image against the watch-list's
    (domain.md 5: an alert is a prompt, not a decision; nobody acts on a score alone). It is made in a signed-in
    browser session, where the console shows both images, never with an API token, which a script could hold and
    use to decide on scores. Recording an engagement's outcome is a record of what happened, and stays open."""

    message = _(
        "Dismissing or referring an alert is a decision on its images: make it signed in to the portal (the live "
        "console shows them), not with an API token."
    )
    code = "review_in_person"

    def has_permission(self, request: Any, view: Any) -> bool:
        return not isinstance(request.successful_authenticator, UserTokenAuthentication)


class CameraAuthScheme(OpenApiAuthenticationExtension):
    target_class = "matching.api.authentication.CameraTokenAuthentication"
    name = "cameraToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return authorization_header_scheme("A camera unit's token: `Camera <token>` (issued by the Administrator).")
