"""Who may do what: small predicates shared by services, selectors, views and the API."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework.permissions import BasePermission

from compliance.choices import Rank, Role
from lfr_portal.errors import NotPermitted


def has_role(user: Any, *roles: str) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.is_active and user.role in roles)


def require_role(user: Any, *roles: str, action: str) -> None:
    """Refuse unless the user holds one of the roles; the message names the action and the roles allowed."""
    if not has_role(user, *roles):
        names = ", ".join(str(Role(r).label) for r in roles)
        raise NotPermitted(_("Only %(roles)s may %(action)s.") % {"roles": names, "action": action}, code="wrong_role")


def minimum_authorising_rank() -> Rank:
    return Rank.from_setting(settings.LFR_MIN_AUTHORISING_RANK)


def has_authorising_rank(user: Any) -> bool:
    """Whether the user holds at least the minimum authorising rank: what require_authorising_rank refuses, read
    without raising, so pages offer only what the services allow."""
    return getattr(user, "rank", Rank.STAFF) >= minimum_authorising_rank()


def require_authorising_rank(user: Any) -> None:
    minimum = minimum_authorising_rank()
    if user.rank < minimum:
        raise NotPermitted(
            _("Authorising requires the rank of %(min)s or above; %(user)s is %(rank)s.")
            % {"min": minimum.label, "user": user.get_username(), "rank": Rank(user.rank).label},
            code="rank_too_low",
        )


class RolePermission(BasePermission):
    """DRF permission: the view's `allowed_roles` (tuple of Role values) decides access."""

    message = "Your role does not give access to this endpoint."

    def has_permission(self, request: Any, view: Any) -> bool:
        roles = getattr(view, "allowed_roles", ())
        return has_role(request.user, *roles)


def role_permission(*roles: str) -> type[BasePermission]:
    """Build a DRF permission class allowing exactly these roles (for per-action permissions)."""

    class _Allowed(BasePermission):
        message = "Your role does not give access to this endpoint."

        def has_permission(self, request: Any, view: Any) -> bool:
            return has_role(request.user, *roles)

    _Allowed.__name__ = "Allowed_" + "_".join(roles)
    return _Allowed
