"""Home-page panels for the field team: live sessions and the alerts waiting for them."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q

from compliance.choices import Role
from compliance.selectors.deployments import published_deployments
from compliance.views.home import register_home_panel
from matching import gallery
from matching.models.sessions import AlertStatus
from matching.selectors.sessions import alert_list, session_list
from matching.services.alerts import two_person_required

# Sessions listed with the alerts awaiting the user; the count above them covers every session.
WAITING_SESSIONS_SHOWN = 20


@register_home_panel(Role.LFR_OPERATOR, Role.ENGAGEMENT_OFFICER)
def live_matching_panel(user: Any) -> dict[str, Any]:
    """Live sessions of the user's deployments, how many alerts await them, and each session holding those alerts
    (live or stopped), so that the count leads to its console."""
    if user.role == Role.LFR_OPERATOR:
        waiting = [AlertStatus.NEW, AlertStatus.VERIFYING]
    else:  # an engagement officer engages referred alerts, and under two-person verification may verify
        waiting = [AlertStatus.REFERRED, *([AlertStatus.VERIFYING] if two_person_required() else [])]
    # Not those that can no longer be acted on: a published record is frozen; a review needs the crop.
    actionable = alert_list(user=user).filter(status__in=waiting).exclude(deployment__in=published_deployments())
    # A review needs both images (engaging a referred alert does not), and nobody verifies twice.
    reviews = Q(status__in=[AlertStatus.NEW, AlertStatus.VERIFYING])
    actionable = actionable.exclude(reviews & (~Q(gallery.entry_still_held()) | Q(probe_destroyed_at__isnull=False)))
    actionable = actionable.exclude(status=AlertStatus.VERIFYING, first_verifier=user)
    per_session = dict(actionable.order_by().values_list("session_id").annotate(n=Count("pk")))
    holding = session_list(user=user).filter(pk__in=per_session) if per_session else []
    return {
        "matching_live_sessions": list(session_list(user=user, live_only=True)[:20]),
        "matching_alerts_waiting": sum(per_session.values()),
        "matching_waiting_sessions": [
            {"session": s, "waiting": per_session[s.pk]} for s in holding[:WAITING_SESSIONS_SHOWN]
        ],
    }
