"""The DPO's audit pack for one deployment (domain.md 7), as a PDF built with the deployment PDFs' styles.

It holds no identities and no biometrics: watch-list content appears as counts by category, alerts as counts.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from compliance import audit
from compliance.choices import WatchlistCategory
from compliance.models import AuditEvent, Deployment, EvidentialHold
from compliance.pdfs import (
    _build,
    _p,
    _table,
    _when,
    application_rows,
    as_decided,
    authorisation_rows,
    comparable_snapshot,
    signage_and_leaflets,
)
from compliance.selectors.watchlists import LEFT_BEHIND_KEYS


def _watchlist_rows(deployment: Deployment) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
    from compliance.models import Watchlist, WatchlistEntry

    watchlist = Watchlist.objects.filter(deployment=deployment).first()
    if watchlist is None:
        return [(_("Watch-list"), _("None compiled"))], []
    summary = [
        (_("Status"), watchlist.get_status_display()),
        (_("Approved at"), _when(watchlist.approved_at)),
        (_("Size when approved"), watchlist.approved_size),
        (_("Content hash at approval"), watchlist.content_hash),
        (_("Destroyed at"), _when(watchlist.destroyed_at)),
        (_("Entries destroyed"), watchlist.destroyed_entry_count),
        (_("Destruction checked"), _destruction_check(watchlist)),
    ]
    counts = dict(WatchlistEntry.objects.filter(watchlist=watchlist).values_list("category").annotate(n=Count("id")))
    if not counts:
        # After destruction only counts remain, in the watch-list's evidence or the approval's audit event.
        evidence = watchlist.destruction_evidence or {}
        counts = evidence.get("by_category") or evidence.get("counts") or {}
        if not counts:
            approved = (
                AuditEvent.objects.filter(
                    deployment_id=deployment.pk, action__in=["watchlist.destroyed", "watchlist.approved"]
                )
                .order_by("-seq")
                .first()
            )
            after = (approved.after or {}) if approved else {}
            counts = after.get("counts") or {}
    by_category = [
        (str(WatchlistCategory(c).label) if c in WatchlistCategory.values else c, n) for c, n in sorted(counts.items())
    ]
    return summary, by_category


def _session_rows(deployment: Deployment) -> list[tuple[str, Any]]:
    from matching.models import MatchingSession

    rows = []
    for s in MatchingSession.objects.filter(deployment=deployment).select_related("camera_unit").order_by("started_at"):
        rows.append(
            (
                f"{s.camera_unit.identifier} #{s.pk}",
                f"{_when(s.started_at)} → {_when(s.stopped_at)} "
                f"({s.get_stop_reason_display() or s.get_status_display()}); "
                f"faces seen {s.faces_seen}, alerts {s.alerts_raised}",
            )
        )
    return rows


def _alert_rows(deployment: Deployment) -> list[tuple[str, Any]]:
    from matching.models import Alert

    alerts = Alert.objects.filter(deployment=deployment)
    statuses = Counter(dict(alerts.values_list("status").annotate(n=Count("id"))))
    outcomes = Counter(dict(alerts.exclude(outcome="").values_list("outcome").annotate(n=Count("id"))))
    from matching.models.sessions import AlertStatus, Outcome

    rows: list[tuple[str, Any]] = [(_("Total alerts"), alerts.count())]
    rows += [(str(AlertStatus(k).label), v) for k, v in sorted(statuses.items()) if k in AlertStatus.values]
    rows += [
        (_("Outcome: %(o)s") % {"o": Outcome(k).label}, v) for k, v in sorted(outcomes.items()) if k in Outcome.values
    ]
    rows.append((_("Probe images destroyed"), alerts.filter(probe_destroyed_at__isnull=False).count()))
    return rows


def _destruction_check(watchlist: Any) -> str:
    """Whether the search after destruction found nothing left (its evidence), in words."""
    if watchlist.destroyed_at is None:
        return "—"
    evidence = watchlist.destruction_evidence or {}
    if "clean" not in evidence:
        return _("not recorded")
    if evidence["clean"]:
        return _("nothing left: rows, files and cache searched")
    return _("INCOMPLETE: %(left)s") % {"left": "; ".join(f"{k} {v}" for k, v in _left_behind(evidence).items()) or "?"}


def _left_behind(evidence: dict[str, Any]) -> dict[str, Any]:
    return {key: evidence[key] for key in LEFT_BEHIND_KEYS if evidence.get(key)}


# Every event that records a deletion or its check, whichever path deleted (the retention sweep, the watch-list
# destruction task, a revocation's hook, a person).
EVIDENCE_ACTIONS = (
    "watchlist.destroyed",
    "watchlist.destruction_verified",
    "watchlist.destruction_incomplete",
    "signage.photos_destroyed",
    "alert.probe_destroyed",
    "eu.use_data_deleted",
    "eu.deletion_verified",
    "eu.deletion_failed",
    "session.frames_purged",
    "session.frames_purge_failed",
)
# Listed one by one up to this many; beyond it they are counted by action, and the pack says so.
EVIDENCE_LISTED = 150


def _retention_rows(deployment: Deployment) -> list[tuple[str, Any]]:
    rows = []
    events = AuditEvent.objects.filter(deployment_id=deployment.pk).filter(
        Q(action__startswith="retention.") | Q(action__in=EVIDENCE_ACTIONS)
    )
    for event in events.order_by("seq")[:EVIDENCE_LISTED]:
        after = event.after or {}
        detail = {
            k: after[k]
            for k in ("data_class", "checks", "found", "clean", "reason", "lift_reason", "entries", "photos")
            if k in after
        }
        detail.update(_left_behind(after) if after.get("clean") is False else {})
        rows.append(
            (f"#{event.seq} {event.action} {_when(event.at)}", f"{event.target_type}:{event.target_id} {detail}")
        )
    total = events.count()
    if total > EVIDENCE_LISTED:
        by_action = dict(events.values_list("action").annotate(n=Count("seq")).order_by("action"))
        rows.append(
            (
                _("%(n)s more events, not listed") % {"n": total - EVIDENCE_LISTED},
                _("all %(total)s by action: %(counts)s (the audit log holds each)")
                % {"total": total, "counts": ", ".join(f"{a} {n}" for a, n in by_action.items())},
            )
        )
    for hold in EvidentialHold.objects.filter(deployment_id=deployment.pk).select_related("placed_by", "lifted_by"):
        state = _("lifted %(t)s") % {"t": _when(hold.lifted_at)} if hold.lifted_at else _("active")
        rows.append(
            (
                _("Evidential hold on %(t)s:%(i)s") % {"t": hold.target_type, "i": hold.target_id},
                f"{hold.reason} — {hold.placed_by.username} {_when(hold.placed_at)} ({state})",
            )
        )
    return rows


def _article_12_story(deployment: Deployment) -> list[Any]:
    """EU AI Act Art. 12(3): every period of use, and per match the list checked, the input and the verifiers."""
    from compliance.services.eu_ai_act import article_12_log

    log = article_12_log(deployment)
    periods = [
        (f"{_('Session')} {p['session_id']} ({p['camera_unit']})", f"{_when(p['start'])} → {_when(p['end'])}")
        for p in log["periods_of_use"]
    ]
    matches = [
        (
            f"{_('Alert')} {m['alert_id']}",
            _("list %(list)s (hash %(hash)s); frame %(frame)s, probe SHA-256 %(probe)s; verified by %(who)s")
            % {
                "list": m["reference_database"]["watchlist_id"],
                "hash": m["reference_database"]["content_hash"],
                "frame": m["input_data"]["frame_id"],
                "probe": m["input_data"]["probe_sha256"] or "—",
                "who": ", ".join(m["verifiers"]) or "—",
            },
        )
        for m in log["matches"]
    ]
    return [
        _p(_("Art. 12(3) log: periods of use"), "Heading3"),
        _table(periods) if periods else _p(_("No session has run.")),
        _p(_("Art. 12(3) log: matches"), "Heading3"),
        _table(matches) if matches else _p(_("No match.")),
    ]


def audit_pack_pdf(deployment: Deployment) -> bytes:
    """Authorisation and snapshot hash, watch-list by category, signage, leaflets, notice, sessions, alert
    statistics and outcomes, retention evidence, and the chain verification with the last event's hash."""
    story: list[Any] = [_p(_("Application"), "Heading2"), _table(application_rows(deployment))]

    story.append(_p(_("Authorisation decisions"), "Heading2"))
    decisions = list(deployment.authorisations.select_related("decided_by").order_by("decided_at"))
    if not decisions:
        story.append(_p(_("No decision has been recorded.")))
    current = comparable_snapshot(deployment)
    for authorisation in decisions:
        story.append(_table(authorisation_rows(authorisation)))
        story += as_decided(authorisation, current)

    eu = getattr(deployment, "eu_ai_act", None) if hasattr(deployment, "eu_ai_act") else None
    if eu is not None:
        story.append(_p(_("EU AI Act record"), "Heading2"))
        story.append(
            _table(
                [
                    (_("Art. 5(1)(h) objective"), eu.get_objective_display()),
                    (_("Authority"), f"{eu.get_authority_kind_display()} {eu.authority_name}"),
                    (_("Authority reference"), eu.authority_reference),
                    (_("Decision"), f"{eu.get_authority_decision_display()} {eu.authority_decided_on or ''}"),
                    (_("Urgent start"), eu.urgency_justification if eu.urgent else _("No")),
                    (_("EU database registration"), eu.eu_database_reference),
                    (_("Terminated"), f"{_when(eu.terminated_at)} {eu.termination_reason}" if eu.terminated_at else ""),
                ]
                + [(n.get_authority_display(), f"{_when(n.notified_at)} {n.reference}") for n in eu.notifications.all()]
            )
        )
        story += _article_12_story(deployment)

    summary, by_category = _watchlist_rows(deployment)
    story += [_p(_("Watch-list (no identities)"), "Heading2"), _table(summary)]
    story.append(_table(by_category) if by_category else _p(_("No entries by category recorded.")))

    story += signage_and_leaflets(deployment)
    story.append(_p(_("Public notice"), "Heading2"))
    story.append(
        _table(
            [
                (_("Given at"), _when(deployment.public_notice_at)),
                (_("Where"), deployment.public_notice_where),
                (_("Text"), deployment.public_notice_text),
                (_("Critical-threat justification"), deployment.critical_threat_justification),
            ]
        )
    )

    story.append(_p(_("Sessions"), "Heading2"))
    sessions = _session_rows(deployment)
    story.append(_table(sessions) if sessions else _p(_("No sessions were run.")))
    story.append(_p(_("Alert statistics and adjudication outcomes"), "Heading2"))
    story.append(_table(_alert_rows(deployment)))

    story.append(_p(_("Retention evidence"), "Heading2"))
    retention = _retention_rows(deployment)
    story.append(_table(retention) if retention else _p(_("No retention actions recorded yet.")))

    story.append(_p(_("Audit chain verification"), "Heading2"))
    # Everything below comes from the one verification: a fresh read would show events appended (or a checkpoint
    # made) after it, as if they had been verified.
    report = audit.verify_chain()
    verified_to = report.ok and report.last_seq >= 1
    story.append(
        _table(
            [
                (_("Result"), _("Intact") if report.ok else _("BROKEN: %(r)s") % {"r": report.reason}),
                (_("Events verified"), report.count),
                (
                    _("Verified from"),
                    _("genesis")
                    if report.from_seq == 1
                    else _("checkpoint #%(s)s (%(h)s)") % {"s": report.from_seq - 1, "h": report.from_hash},
                ),
                (_("Last event verified"), f"#{report.last_seq}" if verified_to else "—"),
                (_("Hash of the last event verified"), report.last_hash if verified_to else "—"),
                (_("Events about this deployment"), AuditEvent.objects.filter(deployment_id=deployment.pk).count()),
                (_("Verified at"), _when(timezone.now())),
            ]
        )
    )
    return _build(_("Audit pack %(ref)s") % {"ref": deployment.reference}, story)
