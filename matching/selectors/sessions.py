"""Reads of sessions, alerts, camera tokens and workers, restricted to what the asking user may see.

Administrators never see alerts or anything biometric: they see sessions' counters on the operations page
(no alert content) and camera tokens. Alerts are for the operators and engagement officers assigned to the
deployment, the Authorising Officer and the DPO.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from compliance.choices import FIELD_ROLES, Role
from compliance.models import CameraUnit
from compliance.permissions import has_role
from matching import framestore
from matching.models import Alert, CameraToken, MatchingSession, WorkerHeartbeat
from matching.models.sessions import AlertStatus, SessionStatus

WORKER_STALE_AFTER = datetime.timedelta(seconds=60)
# Alerts someone still has to act on (domain.md 5): the operator's review, a second verification, the engagement.
AWAITING_ACTION = (AlertStatus.NEW, AlertStatus.VERIFYING, AlertStatus.REFERRED)
# Decided alerts the live console shows after the alerts awaiting action: the newest this many.
CONSOLE_DECIDED_SHOWN = 50
# Alerts awaiting action the console renders on each one-second refresh, newest first: far more than a team can
# work through, but bounded, so that a mis-set threshold cannot make every refresh render thousands of cards.
CONSOLE_AWAITING_SHOWN = 100


def session_list(*, user: Any, live_only: bool = False, deployment_id: int | None = None) -> QuerySet[MatchingSession]:
    """Field officers see the sessions of deployments they are assigned to; AO, DPO and Administrator all."""
    qs = MatchingSession.objects.select_related("deployment", "camera_unit", "started_by", "stopped_by")
    if has_role(user, Role.AUTHORISING_OFFICER, Role.DPO, Role.ADMINISTRATOR):
        pass
    elif has_role(user, *FIELD_ROLES):
        qs = qs.filter(deployment__assigned_officers=user)
    else:
        return MatchingSession.objects.none()
    if live_only:
        qs = qs.filter(status=SessionStatus.LIVE)
    if deployment_id is not None:
        qs = qs.filter(deployment_id=deployment_id)
    return qs.order_by("-started_at", "-id")


def session_get(*, user: Any, pk: int) -> MatchingSession:
    """One session the user may see (MatchingSession.DoesNotExist otherwise)."""
    return session_list(user=user).get(pk=pk)


def alert_list(
    *, user: Any, session_id: int | None = None, deployment_id: int | None = None, status: str | None = None
) -> QuerySet[Alert]:
    """Alerts of deployments the user is assigned to (operators, engagement officers), or all (AO, DPO).

    Never for Administrators, applicants or compilers: alerts are biometric records.
    """
    qs = Alert.objects.select_related("session", "deployment", "camera_unit", "first_verifier", "second_verifier")
    if has_role(user, Role.AUTHORISING_OFFICER, Role.DPO):
        pass
    elif has_role(user, *FIELD_ROLES):
        qs = qs.filter(deployment__assigned_officers=user)
    else:
        return Alert.objects.none()
    if session_id is not None:
        qs = qs.filter(session_id=session_id)
    if deployment_id is not None:
        qs = qs.filter(deployment_id=deployment_id)
    if status:
        qs = qs.filter(status=status)
    return qs.defer("probe_crop").order_by("-captured_at", "-id")


def console_alert_list(
    *,
    user: Any,
    session_id: int,
    decided_shown: int | None = None,
    awaiting_shown: int | None = None,
) -> tuple[list[Alert], int, int]:
    """The live console's alerts of a session: the alerts still awaiting someone's action (the newest
    `awaiting_shown`), then the newest `decided_shown` decided ones; and how many awaiting and decided alerts that
    leaves out. No decided alert ever displaces one awaiting action: the home panel counts those."""
    decided_shown = CONSOLE_DECIDED_SHOWN if decided_shown is None else decided_shown
    awaiting_shown = CONSOLE_AWAITING_SHOWN if awaiting_shown is None else awaiting_shown
    alerts = alert_list(user=user, session_id=session_id)
    awaiting_qs = alerts.filter(status__in=AWAITING_ACTION)
    awaiting = list(awaiting_qs[: awaiting_shown + 1])
    awaiting_hidden = awaiting_qs.count() - awaiting_shown if len(awaiting) > awaiting_shown else 0
    decided = alerts.exclude(status__in=AWAITING_ACTION)
    shown = list(decided[: decided_shown + 1])
    decided_hidden = decided.count() - decided_shown if len(shown) > decided_shown else 0
    return awaiting[:awaiting_shown] + shown[:decided_shown], awaiting_hidden, decided_hidden


def alert_get(*, user: Any, pk: int) -> Alert:
    """One alert the user may see (Alert.DoesNotExist otherwise)."""
    return alert_list(user=user).get(pk=pk)


def camera_unit_list(*, user: Any) -> QuerySet[CameraUnit]:
    """Camera units and their token state, for the Administrator who manages tokens (and AO/DPO to read)."""
    if not has_role(user, Role.ADMINISTRATOR, Role.AUTHORISING_OFFICER, Role.DPO):
        return CameraUnit.objects.none()
    return CameraUnit.objects.order_by("identifier")


def camera_unit_token_rows(*, user: Any) -> list[dict[str, Any]]:
    """Each camera unit the user may see with its current token (the active one, else the latest revoked one).

    Never a secret: only the prefix, who issued it and when, when it was last used and whether it is revoked.
    """
    tokens = CameraToken.objects.select_related("issued_by", "revoked_by").order_by("-issued_at", "-id")
    units = camera_unit_list(user=user).prefetch_related(Prefetch("api_tokens", queryset=tokens, to_attr="tokens"))
    rows = []
    for unit in units:
        active = next((t for t in unit.tokens if t.revoked_at is None), None)
        rows.append({"camera": unit, "token": active or next(iter(unit.tokens), None), "active": active is not None})
    return rows


def active_token(camera_unit: CameraUnit) -> CameraToken | None:
    return CameraToken.objects.filter(camera_unit=camera_unit, revoked_at__isnull=True).first()


def workers(*, at: datetime.datetime | None = None) -> list[dict[str, Any]]:
    """Every worker that has written a heartbeat, with whether it is alive (seen within a minute)."""
    at = at or timezone.now()
    return [
        {
            "hostname": hb.hostname,
            "queues": hb.queues,
            "pid": hb.pid,
            "started_at": hb.started_at,
            "last_seen": hb.last_seen,
            "alive": at - hb.last_seen <= WORKER_STALE_AFTER,
        }
        for hb in WorkerHeartbeat.objects.order_by("hostname")
    ]


def live_workers(*, at: datetime.datetime | None = None) -> int:
    at = at or timezone.now()
    return WorkerHeartbeat.objects.filter(last_seen__gte=at - WORKER_STALE_AFTER).count()


def operations_overview(*, user: Any) -> dict[str, Any]:
    """The operations page (Administrator, DPO): workers, and per live session queue depth, drops and latency.

    Counters only: no alert, no entry, no image.
    """
    if not has_role(user, Role.ADMINISTRATOR, Role.DPO):
        return {"workers": [], "sessions": []}
    store = framestore.get_store()
    sessions = []
    for session in session_list(user=user, live_only=True):
        try:
            depth: int | None = store.depth(session.pk)
        except Exception:  # noqa: BLE001 - the page still shows the rest when the store is unreachable
            depth = None
        sessions.append({"session": session, "queue_depth": depth})
    return {"workers": workers(), "sessions": sessions}
