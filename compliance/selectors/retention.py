"""Reads for the DPO workspace (domain.md 6, 7): retention status, holds, runs, compliance exceptions, image access,
thresholds in force, equality monitoring. Everything is restricted to the DPO unless said otherwise."""

from __future__ import annotations

import datetime
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncMonth
from django.utils import timezone

from compliance.choices import DeploymentStatus, Role
from compliance.models import (
    AuditCheckpoint,
    AuditEvent,
    Deployment,
    EqualityField,
    EqualityRecord,
    EvidentialHold,
    RetentionPolicy,
    RetentionRun,
)
from compliance.models.retention import RetentionDataClass
from compliance.permissions import has_role
from compliance.selectors.accounts import audit_event_list

# Compliance exceptions: gate refusals and every other refused action (domain.md 2.3: refusals are audited).
EXCEPTION_FILTER = Q(action__icontains="refused") | Q(action__icontains="gate") | Q(action__icontains="failed")
# Viewing an alert's probe image is audited by the matching app (domain.md 7).
IMAGE_VIEW_REGEX = r"^(alert|matching)\..*(image|probe).*viewed"
VERIFY_ACTIONS = ("audit.verified", "audit.verification_failed")


def _is_dpo(user: Any) -> bool:
    return has_role(user, Role.DPO)


@dataclass(frozen=True)
class PolicyRow:
    data_class: str
    label: str
    period_hours: int | None
    default_hours: int | None
    min_hours: int | None
    max_hours: int | None
    updated_by: str
    updated_at: datetime.datetime | None
    note: str

    @property
    def kept(self) -> bool:
        return self.period_hours is None

    @property
    def period_label(self) -> str:
        if self.period_hours is None:
            return "kept"
        if self.period_hours % 24 == 0 and self.period_hours >= 48:
            return f"{self.period_hours // 24} days"
        return f"{self.period_hours} hours"


def retention_policy_rows(*, user: Any) -> list[PolicyRow]:
    """Each data class with the period in force and its statutory bounds (DPO only)."""
    from compliance.services.retention import policy_bounds, retention_hours

    if not _is_dpo(user):
        return []
    stored = {p.data_class: p for p in RetentionPolicy.objects.select_related("updated_by")}
    rows = []
    for data_class in RetentionDataClass:
        bounds = policy_bounds(data_class)
        policy = stored.get(data_class)
        rows.append(
            PolicyRow(
                data_class=data_class.value,
                label=str(data_class.label),
                period_hours=retention_hours(data_class),
                default_hours=bounds.default_hours,
                min_hours=bounds.min_hours,
                max_hours=bounds.max_hours,
                updated_by=policy.updated_by.username if policy and policy.updated_by else "",
                updated_at=policy.updated_at if policy else None,
                note=policy.note if policy else "",
            )
        )
    return rows


def evidential_hold_list(*, user: Any, active_only: bool = False) -> QuerySet[EvidentialHold]:
    """Holds, newest first: the DPO and authorising officers see them all."""
    if not has_role(user, Role.DPO, Role.AUTHORISING_OFFICER):
        return EvidentialHold.objects.none()
    qs = EvidentialHold.objects.select_related("placed_by", "lifted_by")
    if active_only:
        qs = qs.filter(lifted_at__isnull=True)
    return qs


def evidential_hold_get(*, user: Any, pk: int) -> EvidentialHold:
    return evidential_hold_list(user=user).get(pk=pk)


def retention_run_list(*, user: Any) -> QuerySet[RetentionRun]:
    if not _is_dpo(user):
        return RetentionRun.objects.none()
    return RetentionRun.objects.select_related("audit_checkpoint")


def audit_checkpoint_list(*, user: Any) -> QuerySet[AuditCheckpoint]:
    if not _is_dpo(user):
        return AuditCheckpoint.objects.none()
    return AuditCheckpoint.objects.all()


def compliance_exception_list(*, user: Any) -> QuerySet[AuditEvent]:
    """Gate refusals and other refused or failed actions from the audit log, newest first (DPO only)."""
    if not _is_dpo(user):
        return AuditEvent.objects.none()
    return audit_event_list(user=user).filter(EXCEPTION_FILTER)


def alert_image_access_list(*, user: Any) -> QuerySet[AuditEvent]:
    """Who viewed which alert image, and when (DPO only)."""
    if not _is_dpo(user):
        return AuditEvent.objects.none()
    return audit_event_list(user=user).filter(action__regex=IMAGE_VIEW_REGEX)


def last_chain_verification(*, user: Any) -> AuditEvent | None:
    if not _is_dpo(user):
        return None
    return audit_event_list(user=user).filter(action__in=VERIFY_ACTIONS).first()


def deployments_by_state(*, user: Any) -> dict[str, Any]:
    """Counts by status, and by month of creation and status (DPO only)."""
    if not _is_dpo(user):
        return {"by_status": [], "by_month": []}
    counts = dict(Deployment.objects.values_list("status").annotate(n=Count("id")))
    by_status = [(str(s.label), counts.get(s.value, 0)) for s in DeploymentStatus]
    months: dict[datetime.date, Counter] = defaultdict(Counter)
    rows = (
        Deployment.objects.annotate(month=TruncMonth("created_at"))
        .values_list("month", "status")
        .annotate(n=Count("id"))
        .order_by("month")
    )
    for month, status, n in rows:
        key = month.date() if isinstance(month, datetime.datetime) else month
        months[key][status] += n
    by_month = [
        {"month": month, "total": sum(c.values()), "counts": dict(c)}
        for month, c in sorted(months.items(), reverse=True)
    ]
    return {"by_status": by_status, "by_month": by_month[:12]}


def threshold_rows(*, user: Any) -> list[dict[str, Any]]:
    """Thresholds in force per deployment compared with the force policy (DPO only)."""
    if not _is_dpo(user):
        return []
    policy = float(settings.LFR_POLICY_THRESHOLD)
    rows = []
    qs = Deployment.objects.exclude(status__in=[DeploymentStatus.DRAFT, DeploymentStatus.CANCELLED]).order_by("-id")
    for deployment in qs.only("id", "reference", "status", "match_threshold", "alert_policy", "alert_margin")[:100]:
        threshold = deployment.match_threshold
        rows.append(
            {
                "deployment": deployment,
                "threshold": threshold,
                "policy": policy,
                "within_policy": threshold is not None and threshold <= policy,
                "alert_policy": deployment.get_alert_policy_display(),
                "margin": deployment.alert_margin,
            }
        )
    return rows


def equality_field_list(*, user: Any, active_only: bool = False) -> QuerySet[EqualityField]:
    """Monitoring fields: the DPO configures them; officers recording outcomes see the active ones."""
    if not getattr(user, "is_authenticated", False):
        return EqualityField.objects.none()
    qs = EqualityField.objects.all()
    if active_only or not _is_dpo(user):
        qs = qs.filter(active=True)
    return qs


def equality_false_alert_counts(*, user: Any) -> list[dict[str, Any]]:
    """False alerts and all recorded alerts by field value and month (DPO only): the Bridges ground 5 check."""
    if not _is_dpo(user):
        return []
    table: dict[tuple[str, str, datetime.date], list[int]] = defaultdict(lambda: [0, 0])
    for record in EqualityRecord.objects.only("values", "false_alert", "recorded_at").iterator():
        month = timezone.localtime(record.recorded_at).date().replace(day=1)
        for name, value in (record.values or {}).items():
            cell = table[(name, str(value), month)]
            cell[0] += 1
            cell[1] += int(record.false_alert)
    return [
        {"field": name, "value": value, "month": month, "recorded": total, "false_alerts": false}
        for (name, value, month), (total, false) in sorted(table.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2]))
    ]
