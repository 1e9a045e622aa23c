"""User API tokens: for machine clients acting as a user, never for roles that must sign in with TOTP.

Tokens are django-rest-knox's: the database holds a SHA-512 digest of each, never the token, and each expires.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication
from rest_framework import exceptions

from lfr_portal.context import current_request_id, request_context


class UserTokenAuthentication(TokenAuthentication):
    """Token authentication (`Authorization: Token <token>`) that refuses the second-factor roles
    (LFR_SECOND_FACTOR_ROLES: Authorising Officers, DPOs and Administrators by default).

    Their second factor is checked on the browser session; a bearer token would let them skip it (domain.md 1).
    """

    def authenticate_credentials(self, key: bytes) -> tuple[Any, Any]:
        try:
            key.decode("utf-8")  # knox decodes it unguarded: bytes that are not UTF-8 would be a 500
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from exc
        user, token = super().authenticate_credentials(key)
        if getattr(user, "requires_second_factor", False):
            raise exceptions.AuthenticationFailed(
                _("Your role must sign in with a second factor: use the portal session, not an API token."),
                code="second_factor_required",
            )
        if getattr(user, "must_change_password", False):
            raise exceptions.AuthenticationFailed(
                _("Choose your own password in the portal (/accounts/password/) first."),
                code="password_change_required",
            )
        return user, token

    def _cleanup_token(self, auth_token: Any) -> bool:
        """knox deletes the presenting user's expired tokens here, unaudited; ours deletes them through the service
        that audits it. True when the presented token itself had expired (it is then refused)."""
        from compliance.services.accounts import api_tokens_delete_expired

        # The system's clean-up (under this request's id), whoever's session cookie rides on the request.
        with request_context(request_id=current_request_id(), actor=None):
            api_tokens_delete_expired(user=auth_token.user)
        return auth_token.expiry is not None and auth_token.expiry < timezone.now()


def authorization_header_scheme(description: str) -> dict[str, str]:
    """The OpenAPI security scheme of a token sent in the Authorization header."""
    return {"type": "apiKey", "in": "header", "name": "Authorization", "description": description}


class UserTokenAuthScheme(OpenApiAuthenticationExtension):
    target_class = "compliance.api.authentication.UserTokenAuthentication"
    name = "userToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return authorization_header_scheme(
            "A user API token: `Token <token>` (issued on the server with `manage.py api_token issue`; not for roles "
            "that sign in with a second factor)."
        )
