"""Home-page panels for the field team: live sessions and the alerts waiting for them."""

from __future__ import annotations

from typing import Any

from compliance.choices import DeploymentStatus, Role
from compliance.views.home import register_home_panel
from matching import gallery
from matching.models.sessions import AlertStatus
from matching.selectors.sessions import alert_list, session_list


@register_home_panel(Role.LFR_OPERATOR, Role.ENGAGEMENT_OFFICER)
def live_matching_panel(user: Any) -> dict[str, Any]:
    """Live sessions of the user's deployments and how many alerts await them."""
    waiting = [AlertStatus.NEW, AlertStatus.VERIFYING] if user.role == Role.LFR_OPERATOR else [AlertStatus.REFERRED]
    # Not those that can no longer be acted on: a published record is frozen; a review needs the crop.
    actionable = alert_list(user=user).filter(status__in=waiting).exclude(deployment__status=DeploymentStatus.REVIEWED)
    if user.role == Role.LFR_OPERATOR:  # a review needs both images
        actionable = actionable.filter(gallery.entry_still_held(), probe_destroyed_at__isnull=True)
    return {
        "matching_live_sessions": list(session_list(user=user, live_only=True)[:20]),
        "matching_alerts_waiting": actionable.count(),
    }
