"""The identity a camera unit acts under: not a user, attributable in the audit log, holding no role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, eq=False)
class CameraPrincipal:
    """Authenticated by a camera token; it can submit frames to its own unit's live sessions and nothing else.

    `role` is not a portal role, so every role check (compliance.permissions.has_role) refuses it.
    """

    camera_unit_id: int
    identifier: str
    token_id: int

    is_authenticated = True
    is_active = True
    is_anonymous = False
    is_staff = False
    is_superuser = False
    role = "camera_unit"
    pk = None

    def audit_identity(self) -> dict[str, Any]:
        return {
            "actor_id": None,
            "actor_username": f"camera:{self.identifier}",
            "actor_role": "camera_unit",
            "actor_rank": "",
        }

    def get_username(self) -> str:
        return f"camera:{self.identifier}"

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return False

    def __str__(self) -> str:
        return self.get_username()
