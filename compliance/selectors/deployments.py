"""Reads of deployments, restricted to what the asking user may see; the public sees only published records."""

from __future__ import annotations

import datetime
from typing import Any

from django.db.models import Max, Min, Q, QuerySet
from django.utils import timezone

from compliance.choices import FIELD_ROLES, DeploymentStatus, Role
from compliance.models import AuditEvent, Deployment, LeafletRecord, SignageRecord, User
from compliance.permissions import has_role

S = DeploymentStatus


def _base() -> QuerySet[Deployment]:
    return (
        Deployment.objects.select_related("applicant", "authorisation", "authorisation__decided_by")
        .prefetch_related("windows", "camera_units")
        .annotate(first_start=Min("windows__start"), last_end=Max("windows__end"))
    )


def deployment_list(*, user: Any, status: str | None = None) -> QuerySet[Deployment]:
    """Applicants see their own; AOs and compilers every submitted one; the DPO all; field officers their own."""
    qs = _base()
    if has_role(user, Role.DPO):
        pass
    elif has_role(user, Role.APPLICANT):
        qs = qs.filter(applicant=user)
    elif has_role(user, Role.AUTHORISING_OFFICER, Role.WATCHLIST_COMPILER):
        qs = qs.exclude(status=S.DRAFT)
    elif has_role(user, *FIELD_ROLES):
        qs = qs.filter(assigned_officers=user).exclude(status__in=[S.DRAFT, S.SUBMITTED, S.REJECTED])
    else:
        return Deployment.objects.none()
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-id")


def deployment_get(*, user: Any, pk: int) -> Deployment:
    """One deployment the user may see (Deployment.DoesNotExist otherwise, which views turn into 404)."""
    return deployment_list(user=user).prefetch_related("assigned_officers").get(pk=pk)


def deployment_visible(*, user: Any, deployment: Deployment) -> bool:
    """Whether the user may see the deployment at all (the rule of deployment_list)."""
    return deployment_list(user=user).filter(pk=deployment.pk).exists()


def deployment_timeline(*, user: Any, deployment: Deployment) -> QuerySet[AuditEvent]:
    """Every audited event about the deployment, oldest first (the user must be able to see the deployment)."""
    if not deployment_visible(user=user, deployment=deployment):
        return AuditEvent.objects.none()
    return AuditEvent.objects.filter(deployment_id=deployment.pk).order_by("seq")


def signage_list(*, user: Any, deployment: Deployment) -> QuerySet[SignageRecord]:
    if not deployment_visible(user=user, deployment=deployment):
        return SignageRecord.objects.none()
    return SignageRecord.objects.filter(deployment=deployment).select_related("placed_by", "removed_by")


def leaflet_list(*, user: Any, deployment: Deployment) -> QuerySet[LeafletRecord]:
    if not deployment_visible(user=user, deployment=deployment):
        return LeafletRecord.objects.none()
    return LeafletRecord.objects.filter(deployment=deployment).select_related("handed_out_by")


def deployment_live_on(*, user: Any, day: datetime.date | None = None) -> QuerySet[Deployment]:
    """Deployments the user may see that are authorised (or suspended) with a window on the given day."""
    day = day or timezone.localdate()
    tz = timezone.get_current_timezone()
    start = datetime.datetime.combine(day, datetime.time.min, tzinfo=tz)
    end = start + datetime.timedelta(days=1)
    return (
        deployment_list(user=user)
        .filter(status__in=[S.AUTHORISED, S.SUSPENDED], windows__start__lt=end, windows__end__gt=start)
        .distinct()
    )


def deployment_awaiting_review(*, user: Any) -> QuerySet[Deployment]:
    return deployment_list(user=user, status=S.COMPLETED)


def deployment_published_list() -> QuerySet[Deployment]:
    """Published (reviewed) deployments for the public transparency page; no login needed."""
    return (
        Deployment.objects.filter(status=S.REVIEWED)
        .prefetch_related("windows")
        .annotate(first_start=Min("windows__start"))
        .order_by("-first_start", "-id")
    )


def deployment_published_get(*, reference: str) -> Deployment:
    return deployment_published_list().get(reference=reference)


def deployment_search(qs: QuerySet[Deployment], text: str) -> QuerySet[Deployment]:
    text = (text or "").strip()
    if not text:
        return qs
    return qs.filter(Q(reference__icontains=text) | Q(title__icontains=text) | Q(location_name__icontains=text))


def field_officer_candidates(*, user: Any) -> QuerySet[User]:
    """Operators and engagement officers an applicant may assign (active accounts)."""
    if not has_role(user, Role.APPLICANT):
        return User.objects.none()
    return User.objects.filter(role__in=FIELD_ROLES, is_active=True).order_by("role", "last_name", "username")
