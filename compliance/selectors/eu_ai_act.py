"""Reads of the EU AI Act pack (domain.md 8) for the deployment pages; only in EU mode.

The caller has already fetched the deployment through `deployments.deployment_get`, so whoever may see the
deployment may see its EU record. Nothing here creates a record: a missing one reads as an empty, unsaved record.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from compliance.models import Deployment, EuAiActRecord, EuNotification
from compliance.services import eu_ai_act as eu


def eu_record_get(*, user: Any, deployment: Deployment) -> EuAiActRecord:
    """The deployment's EU AI Act record, or an unsaved empty one (never written here)."""
    return EuAiActRecord.objects.filter(deployment=deployment).first() or EuAiActRecord(deployment=deployment)


def eu_notification_list(*, user: Any, deployment: Deployment) -> QuerySet[EuNotification]:
    """Notifications of this use to the authorities, oldest first."""
    return EuNotification.objects.filter(record__deployment=deployment).select_related("notified_by")


@dataclass(frozen=True)
class UrgencyDeadline:
    """Where an urgent use stands against the 24 h rule of Art. 5(3). `state` is one of: granted, terminated,
    not_started (the clock starts with the first session), running, passed."""

    state: str
    hours: int
    started_at: datetime.datetime | None = None
    deadline: datetime.datetime | None = None
    remaining: datetime.timedelta | None = None


def eu_urgency_deadline(record: EuAiActRecord, *, now: datetime.datetime | None = None) -> UrgencyDeadline | None:
    """The 24 h deadline of an urgent use, or None when the use is not flagged urgent."""
    if not record.urgent:
        return None
    hours = eu.deadline_hours()
    if record.terminated_at is not None:
        return UrgencyDeadline(state="terminated", hours=hours)
    if record.authorisation_granted:
        return UrgencyDeadline(state="granted", hours=hours)
    started = eu.first_session_start(record.deployment_id)
    if started is None:
        return UrgencyDeadline(state="not_started", hours=hours)
    deadline = started + datetime.timedelta(hours=hours)
    remaining = deadline - (now or timezone.now())
    state = "running" if remaining > datetime.timedelta(0) else "passed"
    return UrgencyDeadline(state=state, hours=hours, started_at=started, deadline=deadline, remaining=remaining)
