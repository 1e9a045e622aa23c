"""Reads of deployments, restricted to what the asking user may see; the public sees only published records."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, Max, Min, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from compliance import gates
from compliance.choices import FIELD_ROLES, DeploymentStatus, Role
from compliance.models import (
    AuditEvent,
    Deployment,
    DeploymentWindow,
    LeafletRecord,
    SignageRecord,
    TrainingRecord,
    User,
    WatchlistEntry,
)
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
    """Deployments whose post-deployment review is due: completed ones, and revoked ones that ran sessions and are
    not yet reviewed (services.deployments.review_open; one that never ran has nothing to review or publish)."""
    from matching.models import MatchingSession  # the matching app builds on this one

    ran = Exists(MatchingSession.objects.filter(deployment_id=OuterRef("pk")))
    return deployment_list(user=user).filter(Q(status=S.COMPLETED) | Q(ran, status=S.REVOKED, reviewed_at__isnull=True))


# Published: reviewed after completion, or reviewed after a revocation (final, so the review leaves it `revoked`;
# only one that ran sessions can be reviewed). compliance.transparency.is_published says the same of one deployment.
PUBLISHED = Q(status=S.REVIEWED) | Q(status=S.REVOKED, reviewed_at__isnull=False)


def published_deployments() -> QuerySet[Deployment]:
    """Every deployment whose record is public (a reviewed one, or a revoked one that ran and was reviewed): its
    alerts no longer change."""
    return Deployment.objects.filter(PUBLISHED)


def deployment_published_list() -> QuerySet[Deployment]:
    """Published deployments for the public transparency page, newest first; no login needed."""
    return (
        Deployment.objects.filter(PUBLISHED)
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


# How many of an applicant's deployments the home page checks against the gates (one gate statement each).
READINESS_LIMIT = 10


@dataclass(frozen=True)
class Outstanding:
    """One thing a deployment still lacks before its sessions can run: the gate, in that gate's own words, and
    whom it waits for ("" when the applicant's team can do it; else a Role value)."""

    gate: str
    reason: str
    waiting_for: str = ""


@dataclass(frozen=True)
class Readiness:
    deployment: Deployment  # annotated with `next_start`, the start of its next (or current) window
    outstanding: list[Outstanding] = field(default_factory=list)


@dataclass(frozen=True)
class ReadinessList:
    """The checked deployments that lack something, soonest window first; `more` when there were others, with
    later windows, left unchecked (READINESS_LIMIT)."""

    rows: list[Readiness]
    more: bool


def _readiness_candidates(*, user: Any, at: datetime.datetime) -> QuerySet[Deployment]:
    """The user's authorised or suspended deployments with a window still open or ahead at `at`, with the facts
    of the team gate (an assigned, active LFR operator; one of them trained on that day) and whether the watch-list
    has entries, read in the same statement."""
    next_start = DeploymentWindow.objects.filter(deployment_id=OuterRef("pk"), end__gt=at).order_by("start", "id")
    operators = Deployment.assigned_officers.through.objects.filter(
        deployment_id=OuterRef("pk"), user__role=Role.LFR_OPERATOR, user__is_active=True
    )
    trained = TrainingRecord.objects.filter(TrainingRecord.valid_at(at), user_id=OuterRef("user_id"))
    return (
        deployment_list(user=user)
        .filter(status__in=[S.AUTHORISED, S.SUSPENDED])
        .prefetch_related(None)
        .annotate(
            next_start=Subquery(next_start.values("start")[:1]),
            has_operator=Exists(operators),
            has_trained_operator=Exists(operators.filter(Exists(trained))),
            has_entries=Exists(WatchlistEntry.objects.filter(watchlist__deployment_id=OuterRef("pk"))),
        )
        .filter(next_start__isnull=False)
        .order_by("next_start", "id")
    )


def _outstanding(deployment: Deployment, report: gates.GateReport) -> list[Outstanding]:
    """What the gate report and the team facts say is missing, the team's own work first. The window gate is
    left out (a window ahead is not a fault) and so is gate 6 as the report gives it (without an operator it is
    not evaluated): whether anyone assigned could start a session comes from the candidates' annotations."""
    items: list[Outstanding] = []
    for gate in report.gates:
        if gate.passed or gate.name in ("window", "operator"):
            continue
        if gate.name == "authorisation":
            waiting = Role.AUTHORISING_OFFICER if deployment.status == S.SUSPENDED else ""
            items.append(Outstanding(gate.name, gate.reason, waiting))
        elif gate.name == "watchlist":
            if deployment.has_entries:
                items.append(Outstanding(gate.name, gate.reason, Role.AUTHORISING_OFFICER))
            else:
                items.append(Outstanding(gate.name, _("The watch-list has no entries yet."), Role.WATCHLIST_COMPILER))
        else:
            items.append(Outstanding(gate.name, gate.reason))
    if not deployment.has_operator:
        items.append(Outstanding("operator", _("No LFR operator is assigned to the deployment.")))
    elif not deployment.has_trained_operator:
        items.append(Outstanding("operator", _("No assigned LFR operator holds current LFR training.")))
    return sorted(items, key=lambda item: bool(item.waiting_for))


def deployment_readiness(
    *, user: Any, at: datetime.datetime | None = None, limit: int = READINESS_LIMIT
) -> ReadinessList:
    """For the user's authorised or suspended deployments with a window open or ahead (the `limit` soonest), what
    their gates still lack at `at` (default now), from the gate code itself (compliance.gates). Reads one list
    statement plus one gate check per deployment, so at most `limit` of them."""
    at = at or timezone.now()
    candidates = list(_readiness_candidates(user=user, at=at)[: limit + 1])
    rows = []
    for deployment in candidates[:limit]:
        outstanding = _outstanding(deployment, gates.deployment_gates(deployment.pk, at=at))
        if outstanding:
            rows.append(Readiness(deployment, outstanding))
    return ReadinessList(rows=rows, more=len(candidates) > limit)
