"""Retention test helpers: completed deployments with alerts (plain rows for the matcher's output)."""

from __future__ import annotations

import datetime

from django.utils import timezone

from compliance.crypto import encrypt_bytes
from compliance.models import Deployment, User
from compliance.services import deployments as deployment_services
from tests.compliance import deployment_helpers


def completed_deployment(applicant: User, ao: User) -> Deployment:
    deployment = deployment_helpers.authorised(applicant, ao)
    deployment_services.deployment_close(actor=ao, deployment=deployment, reason="Operation finished.")
    return Deployment.objects.get(pk=deployment.pk)


def alert_for(
    deployment: Deployment, operator: User, *, n: int = 1, outcome: str = "", live: bool = False, start=None
) -> list:
    """Alerts as the matcher leaves them: a stopped session and alerts holding an encrypted probe crop."""
    from matching.models import Alert, MatchingSession

    camera = deployment.camera_units.first()
    start = start or timezone.now() - datetime.timedelta(hours=2)
    session = MatchingSession.objects.create(
        deployment=deployment,
        camera_unit=camera,
        status="live" if live else "stopped",
        started_by=operator,
        started_at=start,
        stopped_at=None if live else start + datetime.timedelta(hours=1),
        stop_reason="" if live else "operator",
        faces_seen=1000,
        alerts_raised=n,
    )
    alerts = []
    for i in range(n):
        alerts.append(
            Alert.objects.create(
                session=session,
                deployment=deployment,
                camera_unit=camera,
                entry_id=100 + i,
                distance=0.41,
                threshold=0.5,
                policy="threshold",
                captured_at=start + datetime.timedelta(minutes=i),
                last_seen_at=start + datetime.timedelta(minutes=i),
                probe_crop=encrypt_bytes(b"\xff\xd8 not really a jpeg " + bytes([i])),
                probe_sha256=f"{i:064d}",
                source_frame_id=f"frame-{i}",
                status="engaged" if outcome else "dismissed",
                outcome=outcome,
                identity_confirmed=True if outcome else None,
            )
        )
    return alerts
