"""The EU AI Act jurisdiction pack (domain.md 8), on when settings.LFR_JURISDICTION == "eu".

- Art. 5(1)(h): the use names one of the three objectives.
- Art. 5(3): prior authorisation by a judicial or independent administrative authority, recorded; an urgent
  start is allowed without it, but unless it is granted within 24 h of the first session start, every session
  stops and all data and results of the use are deleted and the deletion verified. A rejection does the same at
  once. Once terminated, the use's gate stays closed.
- Art. 27 (FRIA items a–f) and Art. 49 (EU database registration) are required before authorisation.
- Art. 5(4): notifications to the market surveillance and data protection authorities are logged per use.
- Art. 14(5): two-person verification is forced on (matching.services.alerts.two_person_required).
- Art. 12(3): `article_12_log` gives every period of use and, per match, the reference database, input data and
  verifiers: everyone whose decision on the alert is recorded, a dismissal included (in the audit pack).
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Min, Prefetch, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from compliance import audit
from compliance.choices import DeploymentStatus, Role
from compliance.models import Deployment, EqualityRecord, EuAiActRecord, EuNotification, User
from compliance.models.retention import EuAuthorityKind, EuDecision, EuNotificationAuthority, EuObjective
from compliance.permissions import require_role
from compliance.text import lf_line_breaks
from lfr_portal.errors import InvalidTransition, NotPermitted, RuleViolation

logger = logging.getLogger(__name__)

FRIA_FIELDS = (
    "fria_a_processes",
    "fria_b_period_frequency",
    "fria_c_affected_persons",
    "fria_d_risks",
    "fria_e_human_oversight",
    "fria_f_mitigation",
)
APPLICANT_FIELDS = (
    "objective",
    "objective_detail",
    "urgent",
    "urgency_justification",
    "eu_database_reference",
    *FRIA_FIELDS,
)


def eu_mode() -> bool:
    return settings.LFR_JURISDICTION == "eu"


def deadline_hours() -> int:
    return int(settings.LFR_EU_AUTHORISATION_HOURS)


def _record(deployment: Deployment | int, *, lock: bool = False) -> EuAiActRecord:
    pk = deployment.pk if isinstance(deployment, Deployment) else deployment
    qs = EuAiActRecord.objects.select_for_update() if lock else EuAiActRecord.objects
    record = qs.filter(deployment_id=pk).first()
    if record is None:
        record, _created = EuAiActRecord.objects.get_or_create(deployment_id=pk)
        if lock:
            record = EuAiActRecord.objects.select_for_update().get(pk=record.pk)
    return record


def _stored(value: Any) -> Any:
    """A value as stored: text trimmed, with a browser's CRLF or CR line breaks as LF, so re-saving a textarea
    the API filled does not count as a change (and void an authorisation for nothing)."""
    value = lf_line_breaks(value)
    return value.strip() if isinstance(value, str) else value


def _payload(record: EuAiActRecord, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(record, name) for name in names}


def first_session_start(deployment_id: int) -> datetime.datetime | None:
    """When the use began: the first matching session's start (recorded by the matching app)."""
    from matching.models import MatchingSession

    return MatchingSession.objects.filter(deployment_id=deployment_id).aggregate(t=Min("started_at"))["t"]


# ----------------------------------------------------------------------------------------------------------------
# Writes


def eu_record_update(*, actor: User, deployment: Deployment, **fields: Any) -> EuAiActRecord:
    """The applicant records the objective, urgency, FRIA items a–f and the EU database reference; audited."""
    require_role(actor, Role.APPLICANT, action=_("complete the EU AI Act record"))
    if deployment.applicant_id != actor.pk:
        raise NotPermitted(_("Only the applicant may complete this record."), code="not_applicant")
    unknown = sorted(set(fields) - set(APPLICANT_FIELDS))
    if unknown:
        raise RuleViolation(_("Unknown fields."), details={name: [_("Not editable here.")] for name in unknown})
    if fields.get("objective") and fields["objective"] not in EuObjective.values:
        raise RuleViolation(_("Choose an objective."), details={"objective": [_("Choose an Art. 5(1)(h) objective.")]})
    from compliance.services.deployments import EDITABLE_STATES, deployment_void_for_change

    with transaction.atomic():
        # The deployment first (the void below locks it too): once the use has ended, what its authorisation and
        # audit pack rest on can no longer change, as the application itself cannot.
        status = Deployment.objects.select_for_update().values_list("status", flat=True).get(pk=deployment.pk)
        if status not in EDITABLE_STATES:
            raise InvalidTransition(
                _("The deployment is %(s)s: its EU AI Act record can no longer change.")
                % {"s": DeploymentStatus(status).label},
                code="deployment_ended",
            )
        existed = EuAiActRecord.objects.filter(deployment_id=deployment.pk).exists()
        record = _record(deployment, lock=True)
        if record.terminated_at is not None:
            raise InvalidTransition(_("This use has been terminated."), code="eu_terminated")
        before = _payload(record, tuple(fields))
        after = {name: _stored(value) for name, value in fields.items()}
        changed = [name for name in fields if before[name] != after[name]]
        if existed and not changed:
            return record  # the same record saved again: nothing to store, audit or void
        for name, value in after.items():
            setattr(record, name, value)
        record.save()
        audit.record(
            "eu.record_updated", actor=actor, target=record, deployment_id=deployment.pk, before=before, after=after
        )
        # The objective, urgency, FRIA and database reference are preconditions of the authorisation: changing
        # them after it voids it, as a material change to the application does (domain.md 2.2).
        deployment_void_for_change(actor=actor, deployment=deployment, changed=[f"eu_{name}" for name in changed])
    return record


def eu_authority_decision_record(
    *,
    actor: User,
    deployment: Deployment,
    authority_kind: str,
    authority_name: str,
    authority_reference: str,
    decision: str,
    decided_on: datetime.date,
) -> EuAiActRecord:
    """Record the judicial or independent administrative authority's decision (AO or DPO). A rejection stops
    every session and deletes all data and results of the use at once, verified."""
    require_role(actor, Role.AUTHORISING_OFFICER, Role.DPO, action=_("record the authority's decision"))
    from compliance.services.deployments import refuse_own_application

    # A grant opens the EU gate for good and lifts the 24-hour termination: never the applicant's to record.
    refuse_own_application(actor, deployment)
    errors: dict[str, list[str]] = {}
    if authority_kind not in EuAuthorityKind.values:
        errors["authority_kind"] = [_("Choose a judicial or independent administrative authority.")]
    if not (authority_name or "").strip():
        errors["authority_name"] = [_("Name the authority.")]
    if not (authority_reference or "").strip():
        errors["authority_reference"] = [_("Give the authority's reference.")]
    if decision not in (EuDecision.GRANTED, EuDecision.REJECTED):
        errors["decision"] = [_("Record whether the authorisation was granted or rejected.")]
    if decided_on is None:
        errors["decided_on"] = [_("Give the date of the decision.")]
    elif decided_on > timezone.localdate():
        errors["decided_on"] = [_("The decision date cannot be in the future.")]
    if errors:
        raise RuleViolation(_("The authority's decision is incomplete."), details=errors)
    with transaction.atomic():
        record = _record(deployment, lock=True)
        if record.terminated_at is not None:
            raise InvalidTransition(_("This use has been terminated."), code="eu_terminated")
        # Art. 5(3): an urgent use whose authorisation was not recorded within the deadline ends; a grant recorded
        # after it cannot save it (the beat may simply not have run yet).
        late_grant = decision == EuDecision.GRANTED and _deadline_passed(record)
        if not late_grant:
            before = {"decision": record.authority_decision}
            record.authority_kind = authority_kind
            record.authority_name = authority_name.strip()
            record.authority_reference = authority_reference.strip()
            record.authority_decision = decision
            record.authority_decided_on = decided_on
            record.authority_recorded_at = timezone.now()
            record.save()
            audit.record(
                "eu.authority_decision_recorded",
                actor=actor,
                target=record,
                deployment_id=deployment.pk,
                before=before,
                after={
                    "decision": decision,
                    "authority_kind": authority_kind,
                    "authority_name": record.authority_name,
                    "authority_reference": record.authority_reference,
                    "decided_on": decided_on,
                },
            )
    if late_grant:
        # What was submitted is kept, though it changes nothing: the refusal is evidence too.
        audit.record_now(
            "eu.authority_decision_refused",
            actor=actor,
            target=record,
            deployment_id=deployment.pk,
            after={
                "reason": "deadline_passed",
                "decision": decision,
                "authority_kind": authority_kind,
                "authority_name": authority_name.strip(),
                "authority_reference": authority_reference.strip(),
                "decided_on": decided_on,
            },
        )
        eu_terminate_use(deployment_id=deployment.pk, reason=_deadline_reason(), actor=actor)
        raise InvalidTransition(
            _(
                "The authorisation was not recorded within %(h)s hours of the first session: the use has been "
                "terminated and its data and results deleted."
            )
            % {"h": deadline_hours()},
            code="eu_deadline_passed",
        )
    if decision == EuDecision.REJECTED:
        eu_terminate_use(deployment_id=deployment.pk, reason=_("The authority rejected the use."), actor=actor)
    return EuAiActRecord.objects.get(pk=record.pk)


def eu_notification_log(
    *, actor: User, deployment: Deployment, authority: str, reference: str = "", notified_at: datetime.datetime
) -> EuNotification:
    """Log a notification of this use to the market surveillance or data protection authority; audited."""
    require_role(actor, Role.AUTHORISING_OFFICER, Role.DPO, Role.APPLICANT, action=_("log authority notifications"))
    from compliance.selectors.deployments import deployment_visible

    if not deployment_visible(user=actor, deployment=deployment):
        raise NotPermitted(_("You may not see this deployment."), code="not_permitted")
    if authority not in EuNotificationAuthority.values:
        raise RuleViolation(_("Choose the authority."), details={"authority": [_("Choose the authority notified.")]})
    with transaction.atomic():
        record = _record(deployment, lock=True)
        notification = EuNotification.objects.create(
            record=record, authority=authority, reference=(reference or "").strip(), notified_at=notified_at,
            notified_by=actor,
        )  # fmt: skip
        audit.record(
            "eu.authority_notified",
            actor=actor,
            target=notification,
            deployment_id=deployment.pk,
            after={"authority": authority, "reference": notification.reference, "notified_at": notified_at},
        )
    return notification


# ----------------------------------------------------------------------------------------------------------------
# Checks: before authorisation, and the gate for every session and frame


def fria_missing(record: EuAiActRecord | None) -> list[str]:
    """The letters (a–f) of the FRIA items still empty; all six when there is no record yet."""
    return [name.split("_")[1] for name in FRIA_FIELDS if not (getattr(record, name, "") or "").strip()]


def eu_authorisation_problems(deployment: Deployment) -> dict[str, list[str]]:
    """What the EU pack requires before the AO may authorise (empty outside EU mode)."""
    if not eu_mode():
        return {}
    record = EuAiActRecord.objects.filter(deployment=deployment).first()
    errors: dict[str, list[str]] = {}
    if record is None or not record.objective:
        errors["eu_objective"] = [_("Name the Art. 5(1)(h) objective of the use.")]
    missing = fria_missing(record)
    if missing:
        errors["eu_fria"] = [
            _("Complete the fundamental rights impact assessment (Art. 27): %(items)s.") % {"items": ", ".join(missing)}
        ]
    if record is None or not record.eu_database_reference.strip():
        errors["eu_database_reference"] = [_("Give the EU database registration reference (Art. 49).")]
    if record is None:
        errors["eu_authority"] = [_("Record the authority's authorisation, or flag the use as urgent.")]
    elif record.terminated_at is not None:
        errors["eu_authority"] = [_("This use was terminated.")]
    elif record.authority_decision == EuDecision.REJECTED:
        errors["eu_authority"] = [_("The authority rejected the use.")]
    elif record.authority_decision != EuDecision.GRANTED and not (
        record.urgent and record.urgency_justification.strip()
    ):
        errors["eu_authority"] = [
            _(
                "Record the prior authorisation of a judicial or independent administrative authority, or flag the "
                "use as urgent with a justification."
            )  # fmt: skip
        ]
    return errors


def eu_gate(deployment: Deployment, at: datetime.datetime) -> tuple[str, str, bool, str] | None:
    """The EU authority gate: granted, or urgent within 24 h of the first session; never after termination."""
    if not eu_mode():
        return None
    name, label = "eu_authority", _("EU AI Act prior authorisation")
    record = EuAiActRecord.objects.filter(deployment_id=deployment.pk).first()
    if record is None:
        return name, label, False, _("No EU AI Act record.")
    if record.terminated_at is not None:
        return name, label, False, _("The use was terminated: %(r)s") % {"r": record.termination_reason}
    if record.authority_decision == EuDecision.GRANTED:
        return (
            name,
            label,
            True,
            _("Authorised by %(a)s (%(ref)s).")
            % {
                "a": record.authority_name,
                "ref": record.authority_reference,
            },
        )
    if record.authority_decision == EuDecision.REJECTED:
        return name, label, False, _("The authority rejected the use.")
    if not (record.urgent and record.urgency_justification.strip()):
        return name, label, False, _("No prior authorisation and no recorded urgency.")
    started = first_session_start(deployment.pk)
    if started is not None and at >= started + datetime.timedelta(hours=deadline_hours()):
        return (
            name,
            label,
            False,
            _("The authority's authorisation was not recorded within %(h)s hours.") % {"h": deadline_hours()},
        )
    return (
        name,
        label,
        True,
        _("Urgent use pending authorisation (deadline %(h)s h after the first session).") % {"h": deadline_hours()},
    )


# ----------------------------------------------------------------------------------------------------------------
# Termination: stop, delete all data and results, verify


def _delete_use_data(deployment_id: int, actor: Any) -> dict[str, int]:
    """Delete the use's alerts, adjudications and equality records and destroy its watch-list, audited in the
    same transaction as the deletion."""
    from compliance.services.watchlists import watchlist_destroy
    from matching.models import Adjudication, Alert

    adjudications = Adjudication.objects.filter(alert__deployment_id=deployment_id)
    alerts = Alert.objects.filter(deployment_id=deployment_id)
    equality = EqualityRecord.objects.filter(deployment_id=deployment_id)
    with transaction.atomic():
        counts = {
            "alerts": alerts.count(),
            "adjudications": adjudications.count(),
            "equality_records": equality.count(),
        }
        adjudications.delete()
        alerts.delete()
        equality.delete()
        watchlist = watchlist_destroy(actor=None, deployment=deployment_id, reason="EU AI Act Art. 5(3)")
        counts["watchlist_entries"] = (watchlist.destroyed_entry_count or 0) if watchlist else 0
        audit.record("eu.use_data_deleted", actor=actor, deployment_id=deployment_id, after=counts)
    return counts


def eu_verify_deletion(deployment_id: int) -> dict[str, Any]:
    """Search for anything left of a terminated use: alerts, adjudications, equality records, watch-list data."""
    from compliance.selectors.watchlists import destruction_evidence
    from matching.models import Adjudication, Alert

    watchlist = destruction_evidence(deployment_id)
    remaining = {
        "alerts": Alert.objects.filter(deployment_id=deployment_id).count(),
        "adjudications": Adjudication.objects.filter(alert__deployment_id=deployment_id).count(),
        "equality_records": EqualityRecord.objects.filter(deployment_id=deployment_id).count(),
        "watchlist_entries": watchlist["entry_rows"],
        "watchlist_files": watchlist["files"] + int(watchlist["folder_exists"]),
    }
    return {"remaining": remaining, "clean": not any(remaining.values()), "checked_at": timezone.now().isoformat()}


def eu_terminate_use(*, deployment_id: int, reason: str, actor: Any = None) -> EuAiActRecord:
    """Stop every session, delete all data and results of the use, verify and record the evidence (idempotent)."""
    from matching.services.sessions import sessions_stop_for_deployment

    with transaction.atomic():
        record = _record(deployment_id, lock=True)
        already = record.terminated_at is not None
        if not already:
            record.terminated_at = timezone.now()
            record.termination_reason = reason
            record.save(update_fields=["terminated_at", "termination_reason", "updated_at"])
            audit.record(
                "eu.use_terminated",
                actor=actor,
                target=record,
                deployment_id=deployment_id,
                after={"reason": reason, "first_session_started_at": first_session_start(deployment_id)},
            )
    attempt = _deletion_attempts(record) + 1
    try:
        stopped = sessions_stop_for_deployment(deployment_id, "eu_terminated")
        deleted = _delete_use_data(deployment_id, actor)
        evidence = {"sessions_stopped": len(stopped), "deleted": deleted, **eu_verify_deletion(deployment_id)}
    except Exception as exc:
        # The use stays terminated (its gate is closed); the evidence says the deletion did not complete, so the
        # beat runs the termination again (eu_enforce_authorisation_deadline) and the DPO sees it in the audit log.
        failed = {
            "clean": False,
            "error": exc.__class__.__name__,
            "attempt": attempt,
            "checked_at": timezone.now().isoformat(),
        }
        with transaction.atomic():
            EuAiActRecord.objects.filter(pk=record.pk).update(deletion_evidence=failed)
            audit.record("eu.deletion_failed", actor=actor, target=record, deployment_id=deployment_id, after=failed)
        raise
    evidence["attempt"] = attempt
    with transaction.atomic():
        EuAiActRecord.objects.filter(pk=record.pk).update(deletion_evidence=evidence)
        audit.record(
            "eu.deletion_verified" if evidence["clean"] else "eu.deletion_failed",
            actor=actor,
            target=record,
            deployment_id=deployment_id,
            after=evidence,
        )
    if not evidence["clean"]:
        logger.error("EU termination of deployment %s left data behind: %s", deployment_id, evidence)
    return EuAiActRecord.objects.get(pk=record.pk)


def _deadline_passed(record: EuAiActRecord, now: datetime.datetime | None = None) -> bool:
    """A use ran sessions without a recorded grant for longer than the deadline (only an urgent use can)."""
    if record.authority_decision == EuDecision.GRANTED:
        return False
    started = first_session_start(record.deployment_id)
    return started is not None and (now or timezone.now()) >= started + datetime.timedelta(hours=deadline_hours())


# A termination whose deletion did not complete is run again by the beat: not while the first run may still be
# going (it stops sessions and deletes files outside one transaction), and not forever if something keeps failing.
EU_DELETION_RETRY_AFTER = datetime.timedelta(minutes=5)
EU_DELETION_ATTEMPTS = 10


def _deletion_attempts(record: EuAiActRecord) -> int:
    """How many runs of the termination recorded evidence (none when one died before it could)."""
    evidence = record.deletion_evidence or {}
    return int(evidence.get("attempt", 1)) if evidence else 0


def _deletion_due_again(record: EuAiActRecord, now: datetime.datetime) -> bool:
    """A terminated use whose data are not shown deleted, due another run of its termination."""
    evidence = record.deletion_evidence or {}
    if evidence.get("clean") or _deletion_attempts(record) >= EU_DELETION_ATTEMPTS:
        return False
    try:
        last = datetime.datetime.fromisoformat(evidence["checked_at"])
    except (KeyError, TypeError, ValueError):
        last = record.terminated_at
    return last is not None and now >= last + EU_DELETION_RETRY_AFTER


def _deadline_reason() -> str:
    return _("No authority authorisation within %(h)s hours of the first session.") % {"h": deadline_hours()}


def eu_enforce_authorisation_deadline(*, now: datetime.datetime | None = None) -> list[int]:
    """Beat: terminate every urgent use whose authorisation was not granted within 24 h of its first session, and
    run again every termination whose deletion did not complete (domain.md 8: all its data are deleted)."""
    now = now or timezone.now()
    terminated: list[int] = []
    incomplete = EuAiActRecord.objects.filter(terminated_at__isnull=False).filter(
        Q(deletion_evidence={}) | Q(deletion_evidence__clean=False)
    )
    for record in incomplete:
        if not _deletion_due_again(record, now):
            continue
        try:
            eu_terminate_use(deployment_id=record.deployment_id, reason=record.termination_reason)
        except Exception:  # noqa: BLE001 - recorded as eu.deletion_failed; the next run retries
            logger.exception("EU termination retry failed for deployment %s", record.deployment_id)
            continue
        terminated.append(record.deployment_id)
    if not eu_mode():
        return terminated
    pending = EuAiActRecord.objects.filter(terminated_at__isnull=True).exclude(authority_decision=EuDecision.GRANTED)
    for record in pending:
        if not _deadline_passed(record, now):
            continue
        try:
            eu_terminate_use(deployment_id=record.deployment_id, reason=_deadline_reason())
        except Exception:  # noqa: BLE001 - one failure must not stop the others; the next run retries
            logger.exception("EU termination failed for deployment %s", record.deployment_id)
            continue
        terminated.append(record.deployment_id)
    return terminated


# ----------------------------------------------------------------------------------------------------------------
# Art. 12(3) log


def _deciders(alert: Any) -> list[str]:
    """Everyone who decided on the alert, in decision order, once each (its prefetched adjudications)."""
    return list(dict.fromkeys(a.decided_by.username for a in alert.adjudications.all()))


def article_12_log(deployment: Deployment) -> dict[str, list[dict[str, Any]]]:
    """The Art. 12(3) log: (a) every period of use, a matching session's start and end, with or without a match;
    and per match (b) the reference database checked, (c) the input data that led to it (frame id and probe hash,
    never the image) and (d) the people who verified it: everyone whose decision on it is recorded, in order."""
    from matching.models import Adjudication, Alert, MatchingSession

    sessions = MatchingSession.objects.filter(deployment=deployment).select_related("camera_unit")
    periods = [
        {"session_id": s.pk, "camera_unit": s.camera_unit.identifier, "start": s.started_at, "end": s.stopped_at}
        for s in sessions.order_by("started_at", "pk")
    ]
    # (d) comes from the adjudications, not the alert's first/second verifier: an operator who dismissed an alert, or
    # a second person who dismissed it after the first verification, verified its result too (Art. 14(5)).
    decisions = Adjudication.objects.select_related("decided_by").only("alert_id", "decided_at", "decided_by__username")
    alerts = (
        Alert.objects.filter(deployment=deployment)
        .select_related("session")
        .prefetch_related(Prefetch("adjudications", queryset=decisions.order_by("decided_at", "pk")))
    )
    matches = [
        {
            "alert_id": alert.pk,
            "period_of_use": [alert.session.started_at, alert.session.stopped_at],
            "reference_database": {"watchlist_id": alert.watchlist_id, "content_hash": alert.watchlist_hash},
            "input_data": {"frame_id": alert.source_frame_id, "probe_sha256": alert.probe_sha256},
            "verifiers": _deciders(alert),
        }
        for alert in alerts.order_by("captured_at")
    ]
    return {"periods_of_use": periods, "matches": matches}


def connect() -> None:
    """Register the EU gate and the pre-authorisation check (idempotent; apps.ready)."""
    from compliance import gates
    from compliance.services import deployments

    gates.register_extra_gate(eu_gate)
    if eu_authorisation_problems not in deployments.before_authorise:
        deployments.before_authorise.append(eu_authorisation_problems)
