"""PDF documents for deployments (ReportLab): the authorisation record and the deployment record."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from typing import Any
from xml.sax.saxutils import escape

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from compliance.choices import OffenceType, WatchlistCategory
from compliance.models import AuditEvent, AuthorisationDecision, Deployment
from compliance.transparency import COLUMNS, deployment_record

_STYLES = getSampleStyleSheet()


def _when(value: Any) -> str:
    if value is None:
        return "—"
    return timezone.localtime(value).strftime("%d/%m/%Y %H:%M")


def _p(text: Any, style: str = "BodyText") -> Paragraph:
    return Paragraph(escape(str(text if text not in (None, "") else "—")).replace("\n", "<br/>"), _STYLES[style])


def _table(rows: Iterable[tuple[Any, Any]]) -> Table:
    data = [[_p(label), _p(value)] for label, value in rows]
    table = Table(data, colWidths=[55 * mm, 115 * mm])
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BACKGROUND", (0, 0), (0, -1), colors.whitesmoke),
            ]
        )
    )
    return table


def _build(title: str, story: list[Any]) -> bytes:
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer, pagesize=A4, title=title, author=settings.LFR_FORCE_NAME, leftMargin=20 * mm, rightMargin=20 * mm
    )
    doc.build([_p(settings.LFR_FORCE_NAME, "Heading4"), _p(title, "Title"), *story])
    return buffer.getvalue()


def _labels(values: list[str], choices: Any) -> str:
    return ", ".join(str(choices(v).label) for v in values if v in choices.values) or "—"


def application_rows(deployment: Deployment) -> list[tuple[str, Any]]:
    windows = "\n".join(str(w) for w in sorted(deployment.windows.all(), key=lambda w: w.start))
    offences = _labels(deployment.offence_types, OffenceType)
    if deployment.other_offence:
        offences += f" ({deployment.other_offence})"
    return [
        (_("Reference"), deployment.reference),
        (_("Title"), deployment.title),
        (_("Status"), deployment.get_status_display()),
        (_("Applicant"), f"{deployment.applicant} ({deployment.applicant.get_rank_display()})"),
        (_("Use case"), deployment.get_use_case_display() if deployment.use_case else ""),
        (_("Objectives"), deployment.objectives),
        (_("Offence types"), offences),
        (_("Location"), f"{deployment.location_name}\n{deployment.location_address}"),
        (_("Coordinates"), f"{deployment.latitude}, {deployment.longitude}"),
        (_("Zone of recognition"), deployment.zone_of_recognition),
        (_("Grounds for the location"), deployment.location_grounds),
        (_("Time windows"), windows),
        (_("Necessity"), deployment.necessity),
        (_("Proportionality"), deployment.proportionality),
        (_("Alternatives considered"), deployment.alternatives_considered),
        (_("Watch-list categories"), _labels(deployment.watchlist_categories, WatchlistCategory)),
        (_("Maximum watch-list size"), deployment.watchlist_max_size),
        (_("Match threshold"), deployment.match_threshold),
        (_("Alert policy"), f"{deployment.get_alert_policy_display()} (margin {deployment.alert_margin})"),
        (_("DPIA"), f"{deployment.dpia_reference} v{deployment.dpia_version}"),
        (_("Equality Impact Assessment"), deployment.eia_reference),
        (_("Appropriate Policy Document"), deployment.apd_reference),
        (_("Public notice"), f"{_when(deployment.public_notice_at)} — {deployment.public_notice_where}"),
        (_("Public notice text"), deployment.public_notice_text),
        (_("Critical-threat justification"), deployment.critical_threat_justification),
        (_("Standalone attestation"), _("Yes") if deployment.standalone_attested else _("No")),
        (_("Camera units"), ", ".join(c.identifier for c in deployment.camera_units.all())),
    ]


def decided_by_as_recorded(authorisation: Any) -> str:
    """Who made the decision, as its audit event froze them (domain.md 7: name and role at the time): a later
    promotion, demotion or rename must not rewrite the record of who authorised. Without that event (an older
    record, or one pruned from the log), the officer as they are now, said to be so."""
    authorised = authorisation.decision == AuthorisationDecision.AUTHORISED
    decision = {"after__snapshot_hash": authorisation.snapshot_hash}
    if authorised:
        decision["after__authorisation_id"] = authorisation.pk
    event = (
        AuditEvent.objects.filter(
            action="deployment.authorised" if authorised else "deployment.rejected",
            deployment_id=authorisation.deployment_id,
            actor_id=authorisation.decided_by_id,
            **decision,
        )
        .order_by("-seq")
        .only("actor_username", "actor_rank")
        .first()
    )
    if event is not None:
        return f"{event.actor_username} ({event.actor_rank})" if event.actor_rank else event.actor_username
    decided_by = authorisation.decided_by
    return _("%(name)s (%(rank)s now: the audit record of the decision is not available)") % {
        "name": decided_by.get_username(),
        "rank": decided_by.get_rank_display(),
    }


def authorisation_rows(authorisation: Any) -> list[tuple[Any, Any]]:
    """One authorisation decision as label/value rows (authorisation record and audit pack)."""
    voided = f"{_when(authorisation.voided_at)} {authorisation.void_reason}" if authorisation.is_void else ""
    return [
        (_("Decision"), authorisation.get_decision_display()),
        (_("Decided by"), decided_by_as_recorded(authorisation)),
        (_("Decided at"), _when(authorisation.decided_at)),
        (_("Rationale"), authorisation.rationale),
        (_("Conditions"), authorisation.conditions),
        (_("Expires at"), _when(authorisation.expires_at)),
        (_("Snapshot hash (SHA-256)"), authorisation.snapshot_hash),
        (_("Voided"), voided),
    ]


SNAPSHOT_LABELS = {
    "reference": _lazy("Reference"),
    "applicant_id": _lazy("Applicant"),
    "windows": _lazy("Time windows"),
    "camera_units": _lazy("Camera units"),
}


def comparable_snapshot(deployment: Deployment) -> dict[str, Any]:
    """The application as it stands, in the form a stored snapshot has (JSON: dates as text)."""
    from compliance.services.deployments import application_snapshot

    return _as_json(application_snapshot(deployment))


def _as_json(snapshot: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(snapshot, cls=DjangoJSONEncoder))


def _snapshot_label(key: str) -> str:
    if key in SNAPSHOT_LABELS:
        return str(SNAPSHOT_LABELS[key])
    try:
        return str(Deployment._meta.get_field(key).verbose_name).capitalize()
    except FieldDoesNotExist:
        return key


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(" – ".join(map(str, v)) if isinstance(v, list) else str(v) for v in value) or "—"
    return "—" if value in (None, "") else str(value)


def as_decided(authorisation: Any, current: dict[str, Any]) -> list[Any]:
    """Where the application has changed since `authorisation` froze it: the fields as the decision saw them
    (fields its snapshot predates are left out)."""
    decided = _as_json(authorisation.snapshot)
    differs = [key for key in sorted(decided) if decided[key] != current.get(key)]
    if not differs:
        return []
    return [
        _p(_("The application as this decision saw it, where it differs from the application above:")),
        _table([(_snapshot_label(key), _shown(decided[key])) for key in differs]),
    ]


def authorisation_record_pdf(deployment: Deployment) -> bytes:
    """The application, the decision (with the application as it saw it, where that differs), the snapshot hash
    and a signatures block."""
    authorisation = deployment.authorisations.select_related("decided_by").first()
    story: list[Any] = [_p(_("Application"), "Heading2"), _table(application_rows(deployment))]
    story.append(_p(_("Decision"), "Heading2"))
    if authorisation is None:
        story.append(_p(_("No decision has been recorded.")))
    else:
        story.append(_table(authorisation_rows(authorisation)))
        story += as_decided(authorisation, comparable_snapshot(deployment))
    story += [Spacer(1, 8 * mm), _p(_("Signatures"), "Heading2")]
    signatures = Table(
        [
            [_p(_("Applicant")), _p(str(deployment.applicant)), _p(_("Signature:")), _p(_("Date:"))],
            [
                _p(_("Authorising Officer")),
                _p(str(authorisation.decided_by) if authorisation else ""),
                _p(_("Signature:")),
                _p(_("Date:")),
            ],
        ],
        colWidths=[40 * mm, 45 * mm, 55 * mm, 30 * mm],
        rowHeights=[18 * mm, 18 * mm],
    )
    signatures.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story.append(signatures)
    story.append(Spacer(1, 4 * mm))
    story.append(_p(_("Generated %(t)s from the portal's records.") % {"t": _when(timezone.now())}, "Italic"))
    return _build(_("Authorisation record %(ref)s") % {"ref": deployment.reference}, story)


def signage_and_leaflets(deployment: Deployment) -> list[Any]:
    """Signs (how many, where, placed and removed by whom and when) and leaflets (how many, by whom, per session or
    shift): domain.md 2.4 puts both in the deployment record and the audit pack."""
    signage = [
        (
            f"{s.sign_count} × {s.position_description}",
            _("placed %(at)s by %(by)s; %(removed)s")
            % {
                "at": _when(s.placed_at),
                "by": s.placed_by,
                "removed": _("removed %(at)s by %(by)s") % {"at": _when(s.removed_at), "by": s.removed_by}
                if s.removed_at
                else _("not yet removed"),
            },
        )
        for s in deployment.signage.select_related("placed_by", "removed_by")
    ]
    leaflets = [
        (
            _when(lf.shift_start),
            _("%(count)s handed out by %(by)s%(shift)s")
            % {
                "count": lf.count,
                "by": lf.handed_out_by,
                "shift": f" ({lf.shift_description})" if lf.shift_description else "",
            },
        )
        for lf in deployment.leaflets.select_related("handed_out_by")
    ]
    return [
        _p(_("Signage"), "Heading2"),
        _table(signage) if signage else _p(_("No signage recorded.")),
        _p(_("Leaflets"), "Heading2"),
        _table(leaflets) if leaflets else _p(_("No leaflets recorded.")),
    ]


def deployment_record_pdf(deployment: Deployment) -> bytes:
    """The deployment record: the published figures, signage, leaflets and the review."""
    record = deployment_record(deployment)
    story: list[Any] = [
        _p(_("Published figures"), "Heading2"),
        _table([(label, record[key]) for key, label in COLUMNS]),
        _p(_("Authorisation"), "Heading2"),
    ]
    authorisation = deployment.authorisation or deployment.authorisations.first()
    story.append(
        _table(
            [
                (_("Reference"), deployment.reference),
                (_("Status"), deployment.get_status_display()),
                (_("Snapshot hash (SHA-256)"), authorisation.snapshot_hash if authorisation else ""),
                (_("Authorised at"), _when(deployment.authorised_at)),
                (_("Completed at"), _when(deployment.completed_at)),
            ]
        )
    )
    story += signage_and_leaflets(deployment)
    story.append(_p(_("Post-deployment review"), "Heading2"))
    review = getattr(deployment, "review", None) if hasattr(deployment, "review") else None
    if review is None:
        story.append(_p(_("Not yet reviewed.")))
    else:
        story.append(
            _table(
                [
                    (_("Objective met"), review.get_objective_met_display()),
                    (_("Outcome"), review.outcome_summary),
                    (_("Issues"), review.issues),
                    (_("Complaints"), f"{review.complaint_count} {review.complaints}"),
                    (_("Reviewed at"), _when(review.reviewed_at)),
                ]
            )
        )
    return _build(_("Deployment record %(ref)s") % {"ref": deployment.reference}, story)
