"""Retention you can prove (domain.md 6): DPO policies within statutory bounds, evidential holds, and enforcement.

Enforcement is a registry of data-class handlers (`register_retention_handler`): each says what is due, deletes
one item through its owning app's service, and then verifies that nothing of it can be found (rows, files,
cache). A sweep records what was due, deleted, held and verified in a `RetentionRun` and in the audit log, then
prunes the audit log itself past its period through `compliance.audit.prune_through`, and deletes exported
segments whose grace has passed (`audit_segment_grace`). One sweep runs at a time (`_sweep_lock`).
"""

from __future__ import annotations

import datetime
import fcntl
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from compliance import audit
from compliance.choices import Role
from compliance.models import AuditCheckpoint, EvidentialHold, RetentionPolicy, RetentionRun, User
from compliance.models.retention import RetentionDataClass, RetentionRunStatus
from compliance.permissions import require_role
from lfr_portal.errors import InvalidTransition, RuleViolation

logger = logging.getLogger(__name__)

DC = RetentionDataClass
HOLD_ROLES = (Role.DPO, Role.AUTHORISING_OFFICER)
# The code an owning service refuses with when it finds, under its own lock, a record on evidential hold
# (matching.services.alerts.alert_destroy_probe): the sweep counts the record as held, not as a failed deletion.
HOLD_REFUSAL_CODE = "evidential_hold"
CHECKPOINT_TARGET = "compliance.auditcheckpoint"


# ----------------------------------------------------------------------------------------------------------------
# Policies


@dataclass(frozen=True)
class PolicyBounds:
    """What the law and the force's settings allow for a data class: the DPO may only tighten within them."""

    default_hours: int | None
    min_hours: int | None = None  # keep at least this long (the audit log)
    max_hours: int | None = None  # delete at most this long after the trigger (biometric data)

    @property
    def kept(self) -> bool:
        return self.default_hours is None


def sweep_interval() -> datetime.timedelta:
    """How often the retention sweep runs (beat)."""
    return datetime.timedelta(seconds=settings.LFR_RETENTION_SWEEP_SECONDS)


def policy_bounds(data_class: str) -> PolicyBounds:
    """Statutory and force bounds per data class, from settings (domain.md 6)."""
    if data_class == DC.WATCHLIST:
        hours = settings.LFR_WATCHLIST_DESTRUCTION_DELAY_HOURS
        return PolicyBounds(default_hours=hours, min_hours=0, max_hours=hours)
    if data_class == DC.ALERT:
        hours = settings.LFR_RETENTION_ALERT_DAYS * 24
        return PolicyBounds(default_hours=hours, min_hours=0, max_hours=hours)
    if data_class == DC.AUDIT_LOG:
        # Six years, at least six months, and "the DPO can tighten" (domain.md 6): never longer. The log names
        # officers and keeps reasons; kept beyond its period it would hold personal data with no rule for it.
        hours = settings.LFR_AUDIT_RETENTION_DAYS * 24
        return PolicyBounds(default_hours=hours, min_hours=settings.LFR_AUDIT_RETENTION_MIN_DAYS * 24, max_hours=hours)
    if data_class == DC.ADJUDICATION:
        return PolicyBounds(default_hours=None)
    raise RuleViolation(_("Unknown data class."), details={"data_class": [_("Choose a data class from the list.")]})


def retention_hours(data_class: str) -> int | None:
    """The period in force: the DPO's setting, clamped to the bounds (settings may have been tightened since)."""
    bounds = policy_bounds(data_class)
    if bounds.kept:
        return None
    stored = RetentionPolicy.objects.filter(data_class=data_class).values_list("period_hours", flat=True).first()
    hours = bounds.default_hours if stored is None else stored
    if bounds.max_hours is not None:
        hours = min(hours, bounds.max_hours)
    if bounds.min_hours is not None:
        hours = max(hours, bounds.min_hours)
    return hours


def retention_period(data_class: str) -> datetime.timedelta | None:
    hours = retention_hours(data_class)
    return None if hours is None else datetime.timedelta(hours=hours)


def audit_segment_grace() -> datetime.timedelta:
    """How long an exported audit segment is kept after its events were pruned (LFR_AUDIT_SEGMENT_GRACE_DAYS).

    The file lets the force copy pruned history into its own records system and check it against its checkpoint
    before it goes; it holds the same names and reasons as the log, whose period (domain.md 6) has passed, so it
    is not kept beyond that short grace. Its checkpoint row (hashes and counts, no content) stays."""
    return datetime.timedelta(days=max(0, int(settings.LFR_AUDIT_SEGMENT_GRACE_DAYS)))


def retention_policy_set(*, actor: User, data_class: str, period_hours: int, note: str = "") -> RetentionPolicy:
    """Set a data class's retention period (DPO only), never looser than the statutory bounds; audited."""
    require_role(actor, Role.DPO, action=_("set retention policy"))
    bounds = policy_bounds(data_class)
    if bounds.kept:
        raise RuleViolation(
            _("%(c)s are kept; they hold no biometric data.") % {"c": DC(data_class).label},
            details={"period_hours": [_("This data class has no retention period to set.")]},
        )
    errors: list[str] = []
    if period_hours is None or period_hours < 0:
        errors.append(_("The period must be zero or more hours."))
    elif bounds.max_hours is not None and period_hours > bounds.max_hours:
        errors.append(
            _("%(h)s hours is looser than the statutory maximum of %(max)s hours; the DPO may only tighten it.")
            % {"h": period_hours, "max": bounds.max_hours}
        )
    elif bounds.min_hours is not None and period_hours < bounds.min_hours:
        errors.append(
            _("%(h)s hours is shorter than the statutory minimum of %(min)s hours (%(d)s days).")
            % {"h": period_hours, "min": bounds.min_hours, "d": bounds.min_hours // 24}
        )
    if errors:
        raise RuleViolation(_("That retention period is not allowed."), details={"period_hours": errors})
    with transaction.atomic():
        before = {"period_hours": retention_hours(data_class)}
        policy, _created = RetentionPolicy.objects.select_for_update().get_or_create(data_class=data_class)
        before["note"] = policy.note
        policy.period_hours = period_hours
        policy.note = (note or "").strip()
        policy.updated_by = actor
        policy.updated_at = timezone.now()
        policy.save(update_fields=["period_hours", "note", "updated_by", "updated_at"])
        audit.record(
            "retention.policy_changed",
            actor=actor,
            target=policy,
            before={"data_class": data_class, **before},
            after={"data_class": data_class, "period_hours": period_hours, "note": policy.note},
        )
    return policy


# ----------------------------------------------------------------------------------------------------------------
# Evidential holds


def active_hold(target_type: str, target_id: str | int) -> EvidentialHold | None:
    return EvidentialHold.objects.filter(
        target_type=target_type, target_id=str(target_id), lifted_at__isnull=True
    ).first()


def evidential_hold_place(*, actor: User, target_type: str, target_id: str | int, reason: str) -> EvidentialHold:
    """Keep a record past its retention period (DPO or AO), with a reason; audited and shown to the DPO.

    Only an existing record of a holdable class whose data is still there can be held; the hold is filed under
    the record's own deployment."""
    require_role(actor, *HOLD_ROLES, action=_("place evidential holds"))
    reason = (reason or "").strip()
    errors: dict[str, list[str]] = {}
    if not reason:
        errors["reason"] = [_("Give the reason for the hold (e.g. the investigation or proceedings).")]
    target_id = str(target_id).strip()
    handler = handler_for_target_type(target_type)
    holdable = sorted(h.target_type for h in retention_handlers() if h.holdable)
    if not (target_id.isascii() and target_id.isdigit()):
        errors["target"] = [_("Give the record's id (a number).")]
    elif handler is None or not handler.holdable:
        # A hold on anything else would protect nothing: the sweep matches holds by exact type and id.
        errors["target"] = [
            _("Records of this kind cannot be held past their retention period; holdable: %(types)s.")
            % {"types": ", ".join(holdable)}
        ]
    if errors:
        raise RuleViolation(_("The hold cannot be placed."), details=errors)
    target_id = str(int(target_id))  # "0042" is record 42, as the sweep names it
    with transaction.atomic():
        # The record's own row first, as its deletion locks it: a sweep deleting it now either finishes first
        # (and this finds nothing left to hold) or waits and then sees the hold.
        deployment_id = handler.lock_target(target_id)
        if (
            EvidentialHold.objects.select_for_update()
            .filter(target_type=target_type, target_id=target_id, lifted_at__isnull=True)
            .exists()
        ):
            raise InvalidTransition(_("This record is already on evidential hold."), code="already_held")
        hold = EvidentialHold.objects.create(
            target_type=target_type,
            target_id=str(target_id),
            deployment_id=deployment_id,
            reason=reason,
            placed_by=actor,
            placed_at=timezone.now(),
        )
        audit.record(
            "retention.hold_placed",
            actor=actor,
            target_type=target_type,
            target_id=str(target_id),
            deployment_id=deployment_id,
            after={"hold_id": hold.pk, "reason": reason},
        )
    return hold


def evidential_hold_lift(*, actor: User, hold: EvidentialHold, reason: str) -> EvidentialHold:
    """Lift a hold (DPO or AO) with a reason; the record becomes due under its policy again. Audited."""
    require_role(actor, *HOLD_ROLES, action=_("lift evidential holds"))
    reason = (reason or "").strip()
    if not reason:
        raise RuleViolation(_("Give a reason."), details={"reason": [_("A reason is required.")]})
    with transaction.atomic():
        now = timezone.now()
        rows = EvidentialHold.objects.filter(pk=hold.pk, lifted_at__isnull=True).update(
            lifted_at=now, lifted_by=actor, lift_reason=reason
        )
        if rows == 0:
            raise InvalidTransition(_("This hold has already been lifted."), code="hold_lifted")
        hold.refresh_from_db()
        audit.record(
            "retention.hold_lifted",
            actor=actor,
            target_type=hold.target_type,
            target_id=hold.target_id,
            deployment_id=hold.deployment_id,
            before={"hold_id": hold.pk, "reason": hold.reason, "placed_by": hold.placed_by.username},
            after={"hold_id": hold.pk, "lift_reason": reason},
        )
    return hold


# ----------------------------------------------------------------------------------------------------------------
# The handler registry


@dataclass(frozen=True)
class DueItem:
    """One record whose retention period has passed."""

    data_class: str
    target_type: str
    target_id: str
    deployment_id: int | None
    due_at: datetime.datetime
    label: str = ""

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["due_at"] = self.due_at.isoformat()
        return data


DueFunc = Callable[[datetime.datetime, datetime.timedelta], Iterable[DueItem]]
DeleteFunc = Callable[[DueItem, Any], dict[str, Any]]
VerifyFunc = Callable[[DueItem], "TraceReport"]
# For a holdable class: lock the record (the row its deletion locks first) and return its deployment id, or
# raise NotFound when there is nothing left to hold (no such record, or already deleted).
LockTargetFunc = Callable[[str], int | None]


@dataclass(frozen=True)
class RetentionHandler:
    data_class: str
    target_type: str
    due: DueFunc
    delete: DeleteFunc
    verify: VerifyFunc
    holdable: bool = False
    lock_target: LockTargetFunc | None = None


_HANDLERS: dict[str, RetentionHandler] = {}


def register_retention_handler(
    data_class: str,
    *,
    target_type: str,
    due: DueFunc,
    delete: DeleteFunc,
    verify: VerifyFunc,
    holdable: bool = False,
    lock_target: LockTargetFunc | None = None,
) -> RetentionHandler:
    """Plug a data class into enforcement: `due(now, period)` lists items, `delete(item, actor)` removes one
    through its app's service and returns evidence (counts, hashes), `verify(item)` searches for what is left.
    A holdable class gives `lock_target` too (evidential holds), and its service refuses a held record under its
    own lock with `InvalidTransition(code=HOLD_REFUSAL_CODE)`."""
    if holdable and lock_target is None:
        raise ValueError(f"{data_class}: a holdable data class needs lock_target")
    handler = RetentionHandler(data_class, target_type, due, delete, verify, holdable, lock_target)
    _HANDLERS[data_class] = handler
    return handler


def retention_handlers() -> list[RetentionHandler]:
    _load_builtin_handlers()
    return list(_HANDLERS.values())


def handler_for_target_type(target_type: str) -> RetentionHandler | None:
    return next((h for h in retention_handlers() if h.target_type == target_type), None)


def _load_builtin_handlers() -> None:
    from compliance import retention_handlers  # noqa: F401 - registers the watch-list and alert handlers


@dataclass
class TraceReport:
    """The result of searching for deleted data: what was looked for, and anything still found."""

    checks: dict[str, int] = field(default_factory=dict)
    found: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.found


def trace_check(
    *,
    rows: dict[str, QuerySet] | None = None,
    files: Sequence[str | Path] = (),
    cache_keys: Sequence[str] = (),
    fields: dict[str, QuerySet] | None = None,
) -> TraceReport:
    """Look for remains: rows that should be gone, files under MEDIA_ROOT, cache keys, non-empty biometric fields."""
    report = TraceReport()
    for name, qs in (rows or {}).items():
        count = qs.count()
        report.checks[f"rows:{name}"] = count
        if count:
            report.found.append(f"{count} {name} row(s) still stored")
    for name, qs in (fields or {}).items():
        count = qs.count()
        report.checks[f"field:{name}"] = count
        if count:
            report.found.append(f"{count} {name} still hold data")
    media_root = Path(settings.MEDIA_ROOT)
    remaining_files = [str(p) for p in files if p and (media_root / str(p)).exists()]
    report.checks["files"] = len(remaining_files)
    if remaining_files:
        report.found.append(f"{len(remaining_files)} file(s) still on disk")
    remaining_keys = [k for k in cache_keys if cache.get(k) is not None]
    report.checks["cache_keys"] = len(remaining_keys)
    if remaining_keys:
        report.found.append(f"{len(remaining_keys)} cache key(s) still set")
    return report


# ----------------------------------------------------------------------------------------------------------------
# Enforcement


@dataclass
class HeldItem:
    item: DueItem
    hold_id: int
    reason: str
    placed_by: str

    def as_dict(self) -> dict[str, Any]:
        return {**self.item.as_dict(), "hold_id": self.hold_id, "reason": self.reason, "placed_by": self.placed_by}


@dataclass
class RetentionPlan:
    """What a sweep at `now` would delete, what holds keep, and how much of the audit log would be pruned."""

    now: datetime.datetime
    due: list[DueItem] = field(default_factory=list)
    held: list[HeldItem] = field(default_factory=list)
    audit_cutoff: datetime.datetime | None = None
    audit_prune_through: int | None = None
    audit_prune_count: int = 0
    # Exported segments kept for `segment_kept_for` past their checkpoint's cutoff, now due for deletion.
    segment_kept_for: datetime.timedelta | None = None
    segments_due: list[AuditCheckpoint] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def retention_plan(*, now: datetime.datetime | None = None) -> RetentionPlan:
    """Read-only: list everything due for deletion (the dry run). Changes nothing."""
    now = now or timezone.now()
    plan = RetentionPlan(now=now)
    for handler in retention_handlers():
        period = retention_period(handler.data_class)
        if period is None:
            continue
        # A period with a maximum ("delete at most this long after") is met by the sweep before the deadline: what
        # falls due before the next sweep goes now (sweeps run every LFR_RETENTION_SWEEP_SECONDS).
        early = sweep_interval() if policy_bounds(handler.data_class).max_hours is not None else datetime.timedelta()
        try:
            items = list(handler.due(now + early, period))
        except Exception as exc:  # noqa: BLE001 - one broken handler must not hide the others' due data
            logger.exception("Retention handler %s failed to list due items", handler.data_class)
            plan.errors.append(f"{handler.data_class}: could not list due items ({exc.__class__.__name__}: {exc})")
            continue
        for item in items:
            hold = active_hold(item.target_type, item.target_id) if handler.holdable else None
            if hold is not None:
                plan.held.append(HeldItem(item, hold.pk, hold.reason, hold.placed_by.username))
            else:
                plan.due.append(item)
    audit_period = retention_period(DC.AUDIT_LOG)
    if audit_period is not None:
        plan.audit_cutoff = now - audit_period
        through = audit.prunable_through(plan.audit_cutoff)
        if through is not None:
            start_seq, _ = audit.chain_start()
            plan.audit_prune_through = through
            plan.audit_prune_count = through - start_seq + 1
        plan.segment_kept_for = audit_period + audit_segment_grace()
        plan.segments_due = _segments_due(now - plan.segment_kept_for)
    return plan


def _segments_due(cutoff: datetime.datetime) -> list[AuditCheckpoint]:
    """The checkpoints whose segment still has a file and holds only events older than `cutoff`.

    Every event in a segment is older than its checkpoint's cutoff. Only files still on disk are looked up, so
    the work stays proportional to the archive, not to every checkpoint ever made."""
    names = sorted(audit.archived_segment_names())
    due: list[AuditCheckpoint] = []
    for start in range(0, len(names), 500):  # stay under the database's limit on query parameters
        due += AuditCheckpoint.objects.filter(segment_name__in=names[start : start + 500], cutoff__lte=cutoff)
    return sorted(due, key=lambda checkpoint: checkpoint.seq)


def _handler(data_class: str) -> RetentionHandler:
    return _HANDLERS[data_class]


def _held_during_sweep(entry: dict[str, Any], item: DueItem) -> dict[str, Any]:
    hold = active_hold(item.target_type, item.target_id)
    details = {"hold_id": hold.pk, "reason": hold.reason, "placed_by": hold.placed_by.username} if hold else {}
    return {**entry, **details, "skipped": "placed on hold during the sweep"}


def _delete_and_verify(item: DueItem, *, actor: Any, run: RetentionRun) -> tuple[bool, dict[str, Any]]:
    handler = _handler(item.data_class)
    entry: dict[str, Any] = item.as_dict()
    try:
        with transaction.atomic():
            # Re-check the hold inside the deleting transaction: a hold placed since planning wins.
            if handler.holdable:
                held = EvidentialHold.objects.select_for_update().filter(
                    target_type=item.target_type, target_id=item.target_id, lifted_at__isnull=True
                )
                if held.exists():
                    return False, _held_during_sweep(entry, item)
            evidence = handler.delete(item, actor) or {}
            audit.record(
                "retention.deleted",
                actor=actor,
                target_type=item.target_type,
                target_id=item.target_id,
                deployment_id=item.deployment_id,
                after={"data_class": item.data_class, "run_id": run.pk, "due_at": item.due_at, **evidence},
            )
    except Exception as exc:  # noqa: BLE001 - recorded as a failure of this item; the sweep goes on
        if handler.holdable and isinstance(exc, InvalidTransition) and exc.code == HOLD_REFUSAL_CODE:
            # A hold placed after the check above but before the owning service locked the record: the service
            # refused under its lock, as it must. The record is held; nothing failed.
            return False, _held_during_sweep(entry, item)
        logger.exception("Retention deletion failed for %s:%s", item.target_type, item.target_id)
        failure = {**entry, "stage": "delete", "error": f"{exc.__class__.__name__}: {exc}"}
        audit.record_now(
            "retention.failed",
            actor=actor,
            target_type=item.target_type,
            target_id=item.target_id,
            deployment_id=item.deployment_id,
            after={"run_id": run.pk, "stage": "delete", "error": failure["error"]},
        )
        return False, failure
    # Verification runs after commit, so files removed in on_commit callbacks have gone too.
    try:
        trace = handler.verify(item)
    except Exception as exc:  # noqa: BLE001 - a verifier that cannot run is a failed verification
        trace = TraceReport(found=[f"verification could not run: {exc.__class__.__name__}: {exc}"])
    action = "retention.verified" if trace.clean else "retention.verification_failed"
    audit.record_now(
        action,
        actor=actor,
        target_type=item.target_type,
        target_id=item.target_id,
        deployment_id=item.deployment_id,
        after={"data_class": item.data_class, "run_id": run.pk, "checks": trace.checks, "found": trace.found},
    )
    return trace.clean, {**entry, "evidence": evidence, "checks": trace.checks, "found": trace.found}


class RetentionSweepRunning(InvalidTransition):
    """Another sweep still holds the sweep lock: this one did nothing (it would plan the same items again)."""

    default_code = "retention_sweep_running"


_SWEEP_LOCK_KEY = 0x1F5A_0D18  # arbitrary, fixed: "the retention sweep" (next to the audit chain's key)


@contextmanager
def _sweep_lock() -> Iterator[bool]:
    """Whether this sweep may run: one at a time, across every worker, beat tick and the command.

    PostgreSQL: a session-level advisory lock, released at the end, or by the server when a killed worker's
    connection drops (the beat task's time limit is longer than its schedule). SQLite, one host: an exclusive
    lock on a file in the audit archive directory, which the kernel likewise drops with the process."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [_SWEEP_LOCK_KEY])
            acquired = bool(cursor.fetchone()[0])
        try:
            yield acquired
        finally:
            if acquired:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [_SWEEP_LOCK_KEY])
        return
    path = audit.archive_dir() / ".retention-sweep.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            acquired = False
        else:
            acquired = True
        try:
            yield acquired
        finally:
            if acquired:
                fcntl.flock(handle, fcntl.LOCK_UN)


def retention_enforce(
    *, actor: Any = None, now: datetime.datetime | None = None, trigger: str = "beat"
) -> RetentionRun:
    """Delete everything due (except held records), verify each deletion, prune the audit log past its period,
    delete exported segments past their grace, and record the run. Idempotent: a second sweep finds nothing due.

    Raises RetentionSweepRunning, changing nothing, while another sweep runs: it would plan the same items and
    audit their deletion twice, and its pruning would race the other's."""
    with _sweep_lock() as acquired:
        if not acquired:
            logger.warning("Retention sweep (%s) skipped: another sweep is still running", trigger)
            raise RetentionSweepRunning(
                _(
                    "Another retention sweep is still running, so this one did nothing. Run it again when that one "
                    "has finished (see the latest run on the retention page)."
                )
            )
        return _retention_enforce(actor=actor, now=now, trigger=trigger)


def _retention_enforce(*, actor: Any, now: datetime.datetime | None, trigger: str) -> RetentionRun:
    now = now or timezone.now()
    plan = retention_plan(now=now)
    actor_name = getattr(actor, "username", "") or "system"
    with transaction.atomic():
        run = RetentionRun.objects.create(
            started_at=timezone.now(),
            trigger=trigger,
            actor_username=actor_name,
            due=[i.as_dict() for i in plan.due],
            held=[h.as_dict() for h in plan.held],
            failures=[{"stage": "plan", "error": e} for e in plan.errors],
        )
        audit.record(
            "retention.run_started",
            actor=actor,
            target=run,
            after={
                "due": len(plan.due),
                "held": len(plan.held),
                "audit_prunable": plan.audit_prune_count,
                "audit_segments_due": len(plan.segments_due),
            },
        )
    deleted: list[dict[str, Any]] = []
    evidence: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = list(run.failures)
    for item in plan.due:
        ok, entry = _delete_and_verify(item, actor=actor, run=run)
        if "skipped" in entry:
            run.held.append(entry)
        elif "stage" in entry:
            failures.append(entry)
        else:
            deleted.append({k: entry[k] for k in ("data_class", "target_type", "target_id", "deployment_id")})
            evidence.append(entry)
            if not ok:
                failures.append({**entry, "stage": "verify"})
    checkpoint: AuditCheckpoint | None = None
    if plan.audit_prune_through is not None and plan.audit_cutoff is not None:
        try:
            checkpoint = audit.prune_through(plan.audit_prune_through, cutoff=plan.audit_cutoff, actor=actor)
            segment = audit.verify_segment(audit.archive_dir() / checkpoint.segment_name)
            chain = audit.verify_chain()
            evidence.append(
                {
                    "data_class": DC.AUDIT_LOG,
                    "checkpoint_seq": checkpoint.seq,
                    "segment": checkpoint.segment_name,
                    "segment_sha256": checkpoint.segment_sha256,
                    "segment_verified": segment.ok,
                    "chain_verified": chain.ok,
                }
            )
            if not (segment.ok and chain.ok):
                failures.append(
                    {"data_class": DC.AUDIT_LOG, "stage": "verify", "error": segment.reason or chain.reason}
                )
        except Exception as exc:  # noqa: BLE001 - recorded; the events stay stored, so nothing is lost
            logger.exception("Audit log pruning failed")
            failures.append({"data_class": DC.AUDIT_LOG, "stage": "prune", "error": f"{exc.__class__.__name__}: {exc}"})
    for segment_checkpoint in plan.segments_due:
        outcome = _delete_segment(segment_checkpoint, kept_for=plan.segment_kept_for, actor=actor, run=run)
        if "stage" in outcome:
            failures.append(outcome)
        else:
            deleted.append({k: outcome[k] for k in ("data_class", "target_type", "target_id", "deployment_id")})
            evidence.append(outcome)
    with transaction.atomic():
        run.finished_at = timezone.now()
        run.deleted = deleted
        run.evidence = evidence
        run.failures = failures
        run.audit_checkpoint = checkpoint
        run.status = RetentionRunStatus.FAILED if failures else RetentionRunStatus.OK
        run.save(update_fields=["finished_at", "deleted", "evidence", "failures", "held", "audit_checkpoint", "status"])
        audit.record(
            "retention.run_completed",
            actor=actor,
            target=run,
            after={
                "status": run.status,
                "deleted": len(deleted),
                "held": len(run.held),
                "failures": len(failures),
                "audit_checkpoint": checkpoint.seq if checkpoint else None,
            },
        )
    return run


def _delete_segment(
    checkpoint: AuditCheckpoint, *, kept_for: datetime.timedelta | None, actor: Any, run: RetentionRun
) -> dict[str, Any]:
    """Delete one exported segment past its grace (audited by `audit.segment_delete`); a failure is audited too."""
    entry: dict[str, Any] = {
        "data_class": DC.AUDIT_LOG,
        "target_type": CHECKPOINT_TARGET,
        "target_id": str(checkpoint.pk),
        "deployment_id": None,
        "segment": checkpoint.segment_name,
    }
    try:
        proof = audit.segment_delete(
            checkpoint, keep_until=checkpoint.cutoff + (kept_for or datetime.timedelta()), actor=actor
        )
    except Exception as exc:  # noqa: BLE001 - recorded; the file stays and the next sweep tries again
        logger.exception("Deleting audit segment %s failed", checkpoint.segment_name)
        error = f"{exc.__class__.__name__}: {exc}"
        audit.record_now(
            "retention.failed",
            actor=actor,
            target=checkpoint,
            after={"run_id": run.pk, "stage": "delete", "segment": checkpoint.segment_name, "error": error},
        )
        return {**entry, "stage": "delete", "error": error}
    return {**entry, **proof}


# ----------------------------------------------------------------------------------------------------------------
# The DPO workspace: verification and exports are audited actions


def audit_chain_verify(*, actor: User) -> audit.ChainReport:
    """Re-verify the audit chain on the DPO's request; the result itself is audited."""
    require_role(actor, Role.DPO, action=_("verify the audit chain"))
    report = audit.verify_chain()
    audit.record_now(
        "audit.verified" if report.ok else "audit.verification_failed",
        actor=actor,
        after={
            "ok": report.ok,
            "count": report.count,
            "from_seq": report.from_seq,
            "first_broken_seq": report.first_broken_seq,
            "reason": report.reason,
            "last_seq": report.last_seq if report.ok else None,
            "last_hash": report.last_hash,
        },
    )
    return report


AUDIT_CSV_COLUMNS = audit.EVENT_FIELDS


def audit_log_export_csv(*, actor: User, events: QuerySet, filters: dict[str, Any]) -> str:
    """Render the filtered audit log as CSV (DPO only); the export and its filters are audited."""
    import csv
    import io
    import json

    require_role(actor, Role.DPO, action=_("export the audit log"))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(AUDIT_CSV_COLUMNS)
    count = 0
    for event in events.order_by("seq").iterator(chunk_size=2000):
        row = []
        for name in AUDIT_CSV_COLUMNS:
            value = getattr(event, name)
            if name in ("before", "after"):
                value = "" if value is None else json.dumps(value, sort_keys=True)
            elif name == "at":
                value = value.isoformat()
            row.append("" if value is None else value)
        writer.writerow(row)
        count += 1
    audit.record_now(
        "audit.exported",
        actor=actor,
        after={
            "format": "csv",
            "rows": count,
            "filters": {k: str(v) for k, v in filters.items() if v not in ("", None)},
        },
    )
    return buffer.getvalue()


def audit_pack_export(*, actor: User, deployment: Any) -> bytes:
    """Build a deployment's audit pack PDF (DPO only); the export is audited with the PDF's SHA-256."""
    import hashlib

    from compliance.pdf_audit_pack import audit_pack_pdf

    require_role(actor, Role.DPO, action=_("export audit packs"))
    pdf = audit_pack_pdf(deployment)
    audit.record_now(
        "audit.pack_exported",
        actor=actor,
        target=deployment,
        deployment_id=deployment.pk,
        after={"sha256": hashlib.sha256(pdf).hexdigest(), "bytes": len(pdf)},
    )
    return pdf


# ----------------------------------------------------------------------------------------------------------------
# Equality monitoring (Bridges ground 5): DPO-configured, self-described, optional; never inferred


def equality_field_create(*, actor: User, name: str, label: str, choices: Sequence[str]) -> Any:
    """Add a self-described monitoring field with its closed choices (DPO only); audited."""
    from compliance.models import EqualityField

    require_role(actor, Role.DPO, action=_("configure equality monitoring"))
    cleaned = list(dict.fromkeys(str(c).strip() for c in choices if str(c).strip()))
    errors: dict[str, list[str]] = {}
    if not (name or "").strip():
        errors["name"] = [_("Give the field a name.")]
    elif EqualityField.objects.filter(name=name.strip()).exists():
        errors["name"] = [_("A field with this name exists.")]
    if not (label or "").strip():
        errors["label"] = [_("Give the field a label.")]
    if len(cleaned) < 2:
        errors["choices"] = [_("Offer at least two choices (include “Prefer not to say”).")]
    if errors:
        raise RuleViolation(_("The monitoring field has errors."), details=errors)
    with transaction.atomic():
        field_row = EqualityField.objects.create(
            name=name.strip(), label=label.strip(), choices=cleaned, created_by=actor
        )
        audit.record(
            "equality.field_created", actor=actor, target=field_row, after={"name": field_row.name, "choices": cleaned}
        )
    return field_row


def equality_field_set_active(*, actor: User, field_id: int, active: bool) -> Any:
    """Switch a monitoring field on or off (DPO only); recorded values are kept."""
    from compliance.models import EqualityField

    require_role(actor, Role.DPO, action=_("configure equality monitoring"))
    with transaction.atomic():
        field_row = EqualityField.objects.select_for_update().get(pk=field_id)
        before = field_row.active
        field_row.active = bool(active)
        field_row.save(update_fields=["active"])
        audit.record(
            "equality.field_changed", actor=actor, target=field_row, before={"active": before}, after={"active": active}
        )
    return field_row


EQUALITY_RECORDER_ROLES = (Role.LFR_OPERATOR, Role.ENGAGEMENT_OFFICER)


def equality_record_for_alert(*, actor: User, alert: Any, values: dict[str, str]) -> Any:
    """Record the person's own description against an adjudicated alert (optional; only configured fields and
    choices). Keyed by alert id; the audit event stores field names only, never the values."""
    from compliance.models import EqualityField, EqualityRecord

    require_role(actor, *EQUALITY_RECORDER_ROLES, action=_("record equality monitoring"))
    fields = {f.name: f for f in EqualityField.objects.filter(active=True)}
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, str] = {}
    for name, value in (values or {}).items():
        if value in (None, ""):
            continue
        if name not in fields:
            errors.setdefault(name, []).append(_("Not a monitoring field."))
        elif value not in fields[name].choices:
            errors.setdefault(name, []).append(_("Choose one of the offered descriptions."))
        else:
            cleaned[name] = value
    if errors:
        raise RuleViolation(_("The monitoring values have errors."), details=errors)
    status = getattr(alert, "status", "")
    if status in ("new", "verifying"):
        raise InvalidTransition(
            _("Record monitoring values with the adjudication, not before."), code="not_adjudicated"
        )
    false_alert = status == "dismissed" or getattr(alert, "identity_confirmed", None) is False
    with transaction.atomic():
        record, _created = EqualityRecord.objects.update_or_create(
            alert_id=alert.pk,
            defaults={
                "deployment_id": alert.deployment_id,
                "false_alert": false_alert,
                "values": cleaned,
                "recorded_by": actor,
                "recorded_at": timezone.now(),
            },
        )
        audit.record(
            "equality.recorded",
            actor=actor,
            target_type="matching.alert",
            target_id=alert.pk,
            deployment_id=alert.deployment_id,
            after={"fields": sorted(cleaned), "false_alert": false_alert},
        )
    return record
