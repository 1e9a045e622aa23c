"""The API's default permission (kept free of service imports: DRF loads it while importing its views)."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission


class IsPortalUser(BasePermission):
    """An authenticated, active portal user. Camera units (matching's camera principals) authenticate too but
    are not users, so this refuses them everywhere except the frame endpoint, which sets its own permission."""

    message = "Sign in as a portal user to use this endpoint."

    def has_permission(self, request: Any, view: Any) -> bool:
        from django.contrib.auth import get_user_model

        user = request.user
        return isinstance(user, get_user_model()) and user.is_authenticated and user.is_active
