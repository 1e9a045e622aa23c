"""Wires live matching into the rest of the portal at start-up (imported by MatchingConfig.ready)."""

from __future__ import annotations

from compliance import transparency
from compliance.services import deployments as deployment_services
from matching import demo, heartbeat, live_panels  # noqa: F401  (worker signals, health checks, home panels)
from matching.services.alerts import deployment_statistics
from matching.services.sessions import deployment_has_sessions, sessions_stop_for_deployment

# Suspension, revocation, cancellation and completion stop running sessions as soon as they commit.
if sessions_stop_for_deployment not in deployment_services.on_deployment_stopped:
    deployment_services.on_deployment_stopped.append(sessions_stop_for_deployment)

# A deployment that ran sessions is closed, reviewed and published, never cancelled.
if deployment_has_sessions not in deployment_services.deployment_used:
    deployment_services.deployment_used.append(deployment_has_sessions)

transparency.register_statistics_provider(deployment_statistics)

demo.register()
