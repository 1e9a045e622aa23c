"""User API tokens: for machine clients acting as a user, never for roles that must sign in with TOTP."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication


class UserTokenAuthentication(TokenAuthentication):
    """DRF token authentication that refuses the second-factor roles (LFR_SECOND_FACTOR_ROLES: Authorising
    Officers, DPOs and Administrators by default).

    Their second factor is checked on the browser session; a bearer token would let them skip it (domain.md 1).
    """

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
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
