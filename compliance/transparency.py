"""The published deployment record in the Met's format (domain.md 2.5), computed from the system's own records.

Matching registers a statistics provider and watch-lists a size provider; until they do, every figure is 0.
Nothing here may name a person: no officer, no applicant, no watch-list subject.

A record is published once the AO's post-deployment review is recorded: after completion (status `reviewed`), or
after a revocation that came once sessions had run (revocation is final, so the review leaves it `revoked`).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from compliance.choices import DeploymentStatus, UseCase
from compliance.models import Deployment
from compliance.models.deployments import AuthorisationDecision

logger = logging.getLogger(__name__)

STATISTIC_KEYS = (
    "total_alerts",
    "true_confirmed",
    "true_unconfirmed",
    "false_confirmed",
    "false_unconfirmed",
    "outcome_arrest",
    "outcome_other",
    "no_action",
    "engagements",
    "faces_seen",
    "duration_seconds",
)

# (key in deployment_record, column heading) in the Met's order, plus Engagements.
MET_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("location", _("Deployment Location")),
    ("date", _("Date")),
    ("duration", _("Duration")),
    ("use_case", _("LFR Use Case")),
    ("watchlist_size", _("Watchlist Size")),
    ("min_threshold", _("Min Threshold Setting")),
    ("total_alerts", _("Total Alerts")),
    ("true_confirmed", _("True Alerts – Confirmed")),
    ("true_unconfirmed", _("True Alerts – Unconfirmed")),
    ("false_confirmed", _("False Alerts – Confirmed")),
    ("false_unconfirmed", _("False Alerts – Unconfirmed")),
    ("false_alert_rate", _("False Alert Rate")),
    ("outcome_arrest", _("Outcome – Arrest")),
    ("outcome_other", _("Outcome – Other")),
    ("no_action", _("No action")),
    ("faces_seen", _("Faces seen (estimate)")),
    ("engagements", _("Engagements")),
)
# Added after the Met's columns (never in between, so a reader of earlier CSVs finds every column where it was).
COLUMNS: tuple[tuple[str, Any], ...] = (
    *MET_COLUMNS,
    ("window_duration", _("Authorised window time")),
    ("status", _("Status")),
)

StatisticsProvider = Callable[[Deployment], dict[str, int]]
WatchlistSizeProvider = Callable[[Deployment], int]
_statistics: list[StatisticsProvider] = []
_watchlist_size: list[WatchlistSizeProvider] = []


def register_statistics_provider(func: StatisticsProvider) -> StatisticsProvider:
    """Install `func(deployment) -> {total_alerts, ..., faces_seen, duration_seconds}`; the last one wins."""
    _statistics[:] = [func]
    return func


def register_watchlist_size_provider(func: WatchlistSizeProvider) -> WatchlistSizeProvider:
    """Install `func(deployment) -> int` giving the watch-list size used (it survives the list's destruction)."""
    _watchlist_size[:] = [func]
    return func


def deployment_statistics(deployment: Deployment) -> dict[str, int]:
    """The matching figures for a deployment, every key present (0 without a provider)."""
    figures = dict.fromkeys(STATISTIC_KEYS, 0)
    if _statistics:
        provided = _statistics[0](deployment) or {}
        figures.update({key: int(provided.get(key) or 0) for key in STATISTIC_KEYS})
    return figures


def watchlist_size(deployment: Deployment) -> int:
    return int(_watchlist_size[0](deployment) or 0) if _watchlist_size else 0


def format_duration(seconds: int) -> str:
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h {rest // 60:02d}m"


def elapsed_windows(
    deployment: Deployment, authorised: AuthorisedView | None = None
) -> list[tuple[datetime.datetime, datetime.datetime]]:
    """The authorised windows as they ran: cut at the deployment's completion (or revocation), and without those
    that had not begun by then. A deployment closed on the first of three days ran on that day only."""
    end_cap = deployment.completed_at or deployment.revoked_at
    windows = (authorised or authorised_view(deployment)).windows
    if end_cap is None:
        return list(windows)
    return [(start, min(end, end_cap)) for start, end in windows if start < end_cap]


def published_windows(
    deployment: Deployment, authorised: AuthorisedView | None = None
) -> list[tuple[datetime.datetime, datetime.datetime]]:
    """The windows the record publishes: those that ran; the planned ones when it ended before any began (its
    duration then says 0h)."""
    authorised = authorised or authorised_view(deployment)
    return elapsed_windows(deployment, authorised) or list(authorised.windows)


def window_seconds(deployment: Deployment, authorised: AuthorisedView | None = None) -> int:
    """Authorised window time up to the deployment's end (windows clipped to its completion or revocation; all of
    them while it has not ended): how long matching was allowed, not how long it ran."""
    total = sum((end - start for start, end in elapsed_windows(deployment, authorised)), datetime.timedelta())
    return int(total.total_seconds())


@dataclass(frozen=True)
class AuthorisedView:
    """The published facts of a deployment as they were authorised."""

    location_name: str
    location_address: str
    zone_of_recognition: str
    use_case: str
    match_threshold: Any
    windows: list[tuple[datetime.datetime, datetime.datetime]]


def authorised_view(deployment: Deployment) -> AuthorisedView:
    """What the record publishes about the application: as it stands, or, when a change voided its authorisation
    and it was completed without a new one (compliance.services.deployments: complete_voided), as it was last
    authorised: the change was never authorised and never ran, and must not be published as what happened."""
    snapshot = None
    if deployment.status in (DeploymentStatus.COMPLETED, DeploymentStatus.REVIEWED):  # still deciding: its edit
        last = (
            deployment.authorisations.filter(decision=AuthorisationDecision.AUTHORISED).order_by("-decided_at").first()
        )
        if last is not None and last.voided_at is not None:
            snapshot = last.snapshot
    if snapshot is None:
        return AuthorisedView(
            location_name=deployment.location_name,
            location_address=deployment.location_address,
            zone_of_recognition=deployment.zone_of_recognition,
            use_case=deployment.use_case,
            match_threshold=deployment.match_threshold,
            windows=[(w.start, w.end) for w in sorted(deployment.windows.all(), key=lambda w: w.start)],
        )
    return AuthorisedView(
        location_name=snapshot.get("location_name", ""),
        location_address=snapshot.get("location_address", ""),
        zone_of_recognition=snapshot.get("zone_of_recognition", ""),
        use_case=snapshot.get("use_case", ""),
        match_threshold=snapshot.get("match_threshold"),
        windows=[
            (datetime.datetime.fromisoformat(start), datetime.datetime.fromisoformat(end))
            for start, end in snapshot.get("windows", [])
        ],
    )


def is_published(deployment: Deployment) -> bool:
    """Whether the deployment's record is public (the rule of selectors.deployments.deployment_published_list)."""
    if deployment.status == DeploymentStatus.REVIEWED:
        return True
    return deployment.status == DeploymentStatus.REVOKED and deployment.reviewed_at is not None


def false_alert_rate(false_alerts: int, faces_seen: int) -> str:
    """False alerts as a share of faces seen (the Met's definition), as a percentage."""
    if faces_seen <= 0:
        return "0%" if false_alerts == 0 else "n/a"
    return f"{100 * false_alerts / faces_seen:.4f}%"


def deployment_record(deployment: Deployment) -> dict[str, Any]:
    """The full Met-format row for one deployment, plus `reference` and the added columns; every figure computed,
    never typed in. Published, `status` says how it ended (Completed or Revoked), never why: a revocation's reason
    is internal."""
    stats = deployment_statistics(deployment)
    authorised = authorised_view(deployment)
    windows = published_windows(deployment, authorised)
    first = timezone.localtime(windows[0][0]).date() if windows else None
    last = timezone.localtime(windows[-1][1] - datetime.timedelta(microseconds=1)).date() if windows else None
    if first and last and last != first:
        date = f"{first:%d/%m/%Y} – {last:%d/%m/%Y}"
    else:
        date = f"{first:%d/%m/%Y}" if first else ""
    # Duration is the time matching was live (domain.md 2.5: computed from the records), 0 when no session ran; the
    # time the authorised windows allowed is its own column, so a deployment that never ran cannot look as if it did.
    seconds = stats["duration_seconds"]
    allowed = window_seconds(deployment, authorised)
    # A reviewed deployment ran to completion; the review itself is not news to the public.
    status = DeploymentStatus.COMPLETED if deployment.status == DeploymentStatus.REVIEWED else deployment.status
    false_alerts = stats["false_confirmed"] + stats["false_unconfirmed"]
    return {
        "reference": deployment.reference,
        "location": authorised.location_name,
        "date": date,
        "duration": format_duration(seconds),
        "duration_seconds": seconds,
        "use_case": str(UseCase(authorised.use_case).label) if authorised.use_case in UseCase.values else "",
        "watchlist_size": watchlist_size(deployment),
        "min_threshold": authorised.match_threshold,
        "total_alerts": stats["total_alerts"],
        "true_confirmed": stats["true_confirmed"],
        "true_unconfirmed": stats["true_unconfirmed"],
        "false_confirmed": stats["false_confirmed"],
        "false_unconfirmed": stats["false_unconfirmed"],
        "false_alert_rate": false_alert_rate(false_alerts, stats["faces_seen"]),
        "outcome_arrest": stats["outcome_arrest"],
        "outcome_other": stats["outcome_other"],
        "no_action": stats["no_action"],
        "faces_seen": stats["faces_seen"],
        "engagements": stats["engagements"],
        "window_duration": format_duration(allowed),
        "window_duration_seconds": allowed,
        "status": str(DeploymentStatus(status).label),
    }


def public_detail(deployment: Deployment) -> dict[str, Any]:
    """What the public detail page shows: the record plus location, use case and the public-notice text."""
    authorised = authorised_view(deployment)
    return {
        **deployment_record(deployment),
        "location_address": authorised.location_address,
        "zone_of_recognition": authorised.zone_of_recognition,
        "public_notice_at": deployment.public_notice_at,
        "public_notice_where": deployment.public_notice_where,
        "public_notice_text": deployment.public_notice_text,
        "windows": published_windows(deployment, authorised),
    }
