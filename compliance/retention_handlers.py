"""The built-in retention handlers (domain.md 6): watch-lists and alert probe images.

Each handler deletes through the owning app's service (the watch-list engineer's `watchlist_destroy`; the
matching app's `alert_destroy_probe`) and verifies with that app's own evidence where it exists.
Imported by `compliance.services.retention` when the registry is first used.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

from django.db.models import Q
from django.utils.translation import gettext as _

from compliance.choices import DeploymentStatus
from compliance.models import Deployment
from compliance.models.retention import RetentionDataClass
from compliance.services.retention import DueItem, TraceReport, register_retention_handler, trace_check
from lfr_portal.errors import NotFound

S = DeploymentStatus
WATCHLIST_TARGET = "compliance.watchlist"
ALERT_TARGET = "matching.alert"

# When each class of deployment stops needing its data: completion starts the period; revocation,
# cancellation and rejection mean the watch-list goes at once (domain.md 6).
_ENDED_AT_ONCE = (S.REVOKED, S.CANCELLED, S.REJECTED)
_ENDED_AFTER_PERIOD = (S.COMPLETED, S.REVIEWED)


def deployment_ended_at(deployment: Deployment) -> datetime.datetime | None:
    """When the deployment's use ended (completion, revocation, cancellation or rejection), if it has."""
    if deployment.status in _ENDED_AFTER_PERIOD:
        return deployment.completed_at
    if deployment.status == S.REVOKED:
        return deployment.revoked_at
    if deployment.status == S.CANCELLED:
        return deployment.cancelled_at
    if deployment.status == S.REJECTED:
        return deployment.updated_at
    return None


# ----------------------------------------------------------------------------------------------------------------
# Watch-lists


def _watchlists_due(now: datetime.datetime, period: datetime.timedelta) -> Iterator[DueItem]:
    from compliance.models import Watchlist
    from compliance.models.watchlists import WatchlistStatus

    candidates = (
        Watchlist.objects.exclude(status=WatchlistStatus.DESTROYED)
        .filter(deployment__status__in=[*_ENDED_AT_ONCE, *_ENDED_AFTER_PERIOD])
        .select_related("deployment")
    )
    for watchlist in candidates:
        deployment = watchlist.deployment
        ended = deployment_ended_at(deployment)
        if ended is None:
            continue
        due_at = ended if deployment.status in _ENDED_AT_ONCE else ended + period
        if due_at <= now:
            yield DueItem(
                data_class=RetentionDataClass.WATCHLIST,
                target_type=WATCHLIST_TARGET,
                target_id=str(watchlist.pk),
                deployment_id=deployment.pk,
                due_at=due_at,
                label=deployment.reference,
            )


def _watchlist_delete(item: DueItem, actor: Any) -> dict[str, Any]:
    from compliance.services.watchlists import watchlist_destroy

    watchlist = watchlist_destroy(actor=None, deployment=item.deployment_id, reason="retention policy")
    return {
        "entries_destroyed": watchlist.destroyed_entry_count if watchlist else 0,
        "content_hash": watchlist.content_hash if watchlist else "",
    }


def _watchlist_verify(item: DueItem) -> TraceReport:
    from compliance.selectors import watchlists as wl_selectors

    evidence = wl_selectors.destruction_evidence(item.deployment_id)
    report = TraceReport(
        checks={
            "rows:entries": evidence["entry_rows"],
            "rows:enrolment_batches": evidence["batch_rows"],
            "rows:enrolment_items": evidence["item_rows"],
            "field:encodings": evidence["encodings"],
            "files": evidence["files"] + int(evidence["folder_exists"]),
        }
    )
    if not evidence["clean"]:
        report.found.append(f"watch-list traces remain: {evidence}")
    # Only this process's cache can be searched from here; every other process (each worker) drops the decrypted
    # gallery within LFR_GALLERY_CACHE_IDLE_SECONDS of its last use, on access or by its own sweeper thread.
    cached = wl_selectors.gallery_cached(item.deployment_id)
    report.checks["cache:gallery_this_process"] = int(cached)
    report.checks["cache:gallery_other_processes_evict_within_s"] = evidence["gallery_cache_idle_seconds"]
    if cached:
        report.found.append("the decrypted gallery is still cached in this process")
    return report


# ----------------------------------------------------------------------------------------------------------------
# Alerts and their probe images (held alerts are skipped by the registry)


def _alerts_due(now: datetime.datetime, period: datetime.timedelta) -> Iterator[DueItem]:
    from matching.models import Alert

    ended = Q(deployment__status__in=[*_ENDED_AT_ONCE, *_ENDED_AFTER_PERIOD])
    alerts = (
        Alert.objects.filter(ended, probe_destroyed_at__isnull=True)
        .select_related("deployment")
        .only(
            "id",
            "deployment__id",
            "deployment__status",
            "deployment__reference",
            "deployment__completed_at",
            "deployment__revoked_at",
            "deployment__cancelled_at",
            "deployment__updated_at",
        )  # fmt: skip
    )
    for alert in alerts.iterator(chunk_size=500):
        ended_at = deployment_ended_at(alert.deployment)
        if ended_at is None or ended_at + period > now:
            continue
        yield DueItem(
            data_class=RetentionDataClass.ALERT,
            target_type=ALERT_TARGET,
            target_id=str(alert.pk),
            deployment_id=alert.deployment_id,
            due_at=ended_at + period,
            label=alert.deployment.reference,
        )


def _alert_delete(item: DueItem, actor: Any) -> dict[str, Any]:
    """Destroy the probe crop through the matching app's service; the alert row stays, holding only scores,
    times and the adjudication outcome."""
    from matching.models import Alert
    from matching.services.alerts import alert_destroy_probe

    destroyed = alert_destroy_probe(actor=actor, alert_id=int(item.target_id), reason="retention policy")
    probe_sha256 = Alert.objects.filter(pk=item.target_id).values_list("probe_sha256", flat=True).first()
    return {"probe_destroyed": destroyed, "probe_sha256": probe_sha256 or ""}


def _alert_lock(target_id: str) -> int | None:
    """Lock the alert (alert_destroy_probe locks it first too); its deployment, or NotFound without a probe."""
    from matching.models import Alert

    found = (
        Alert.objects.select_for_update()
        .filter(pk=int(target_id), probe_destroyed_at__isnull=True)
        .values_list("deployment_id", flat=True)
        .first()
    )
    if found is None:
        raise NotFound(_("There is no alert %(id)s whose probe image is still kept.") % {"id": target_id})
    return found


def _alert_verify(item: DueItem) -> TraceReport:
    from matching.models import Alert

    alert_filter = Alert.objects.filter(pk=item.target_id)
    return trace_check(
        fields={"probe crops": alert_filter.filter(probe_crop__isnull=False)},
        rows={"undestroyed alerts": alert_filter.filter(probe_destroyed_at__isnull=True)},
        cache_keys=[f"alert-probe:{item.target_id}"],
    )


register_retention_handler(
    RetentionDataClass.WATCHLIST,
    target_type=WATCHLIST_TARGET,
    due=_watchlists_due,
    delete=_watchlist_delete,
    verify=_watchlist_verify,
)
register_retention_handler(
    RetentionDataClass.ALERT,
    target_type=ALERT_TARGET,
    due=_alerts_due,
    delete=_alert_delete,
    verify=_alert_verify,
    holdable=True,
    lock_target=_alert_lock,
)
