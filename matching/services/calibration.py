"""Every write to calibration records, the calibration encoding cache and the false-alert budget (domain.md 9)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from compliance import audit
from compliance.choices import Role
from compliance.crypto import decrypt_bytes, encrypt_bytes
from compliance.permissions import require_role
from lfr_portal.errors import InvalidTransition, NotPermitted, RuleViolation, ServiceError
from matching.engine import EngineConfig, encoding_from_bytes, encoding_to_bytes
from matching.models import AlertBudgetPolicy, CalibrationRecord, CalibrationStatus, EncodingCache


def _summary(record: CalibrationRecord) -> dict[str, Any]:
    return {
        "status": record.status,
        "engine_fingerprint": record.engine_fingerprint,
        "dataset_hash": record.dataset_hash,
        "measured_sizes": record.measured_sizes,
    }


def calibration_record_create(
    *,
    actor: Any,
    config: EngineConfig,
    dataset_path: str,
    dataset_hash: str,
    description: str = "",
    identities: int,
    images: int,
    failed_images: int,
    pairs: int = 0,
    failures: list[dict[str, str]] | None = None,
    verification: dict[str, Any] | None = None,
    identification: dict[str, Any] | None = None,
    operating_points: list[dict[str, Any]] | None = None,
    groups: dict[str, Any] | None = None,
    budget_fpir: float,
    policy_threshold: float,
    seed: int = 0,
    det_plot: bytes = b"",
) -> CalibrationRecord:
    """Store a calibration run as a draft record (never active until the DPO approves it); audited."""
    with transaction.atomic():
        record = CalibrationRecord.objects.create(
            engine_config=config.to_dict(),
            engine_fingerprint=config.fingerprint(),
            dataset_path=dataset_path,
            dataset_hash=dataset_hash,
            description=description,
            identities=identities,
            images=images,
            failed_images=failed_images,
            pairs=pairs,
            failures=failures or [],
            verification=verification,
            identification=identification,
            operating_points=operating_points or [],
            groups=groups,
            budget_fpir=budget_fpir,
            policy_threshold=policy_threshold,
            seed=seed,
            det_plot=det_plot,
            status=CalibrationStatus.DRAFT,
            ran_by=actor,
            ran_at=timezone.now(),
        )
        audit.record(
            "calibration.recorded",
            actor=actor,
            target=record,
            after={
                **_summary(record),
                "dataset_path": dataset_path,
                "identities": identities,
                "images": images,
                "failed_images": failed_images,
                "pairs": pairs,
            },
        )
    return record


def calibration_approval_refusal(actor: Any, record: CalibrationRecord) -> ServiceError | None:
    """Why `actor` (a DPO) may not approve `record`, or None: the one rule the approval and the pages read."""
    if record.ran_by_id is None:
        # Without a runner nobody can be shown not to approve their own run (domain.md 9).
        return RuleViolation(
            _(
                "This calibration does not record who ran it, so it cannot be shown that you did not run it "
                "yourself; run calibrate again with --user and approve that record."
            ),
            code="calibration_runner_unknown",
        )
    if record.ran_by_id == actor.pk:
        # Separation of duties: the approved record bounds every watch-list's false alerts.
        return NotPermitted(
            _("You ran this calibration; another Data Protection Officer must approve it."), code="own_calibration"
        )
    if record.is_stale:
        return RuleViolation(
            _("This calibration was measured with different matcher settings or software; run calibrate again."),
            code="calibration_stale",
        )
    if not record.usable_curves():
        return RuleViolation(
            _(
                "This calibration measured no watch-list size, so it cannot predict false alerts; run calibrate "
                "with --watchlist-sizes sizes the dataset can fill."
            ),
            code="calibration_without_curves",
        )
    return None


def calibration_record_approve(*, actor: Any, record: CalibrationRecord) -> CalibrationRecord:
    """Make a draft record active for its engine fingerprint, retiring the one active before it (DPO only)."""
    require_role(actor, Role.DPO, action=_("approve a calibration record"))
    refusal = calibration_approval_refusal(actor, record)
    if refusal is not None:
        raise refusal
    with transaction.atomic():
        now = timezone.now()
        previous = list(
            CalibrationRecord.objects.select_for_update()
            .filter(status=CalibrationStatus.ACTIVE, engine_fingerprint=record.engine_fingerprint)
            .exclude(pk=record.pk)
        )
        for old in previous:
            CalibrationRecord.objects.filter(pk=old.pk, status=CalibrationStatus.ACTIVE).update(
                status=CalibrationStatus.RETIRED, retired_at=now
            )
            audit.record(
                "calibration.retired",
                actor=actor,
                target=old,
                before={"status": CalibrationStatus.ACTIVE},
                after={"status": CalibrationStatus.RETIRED, "replaced_by": record.pk},
            )
        updated = CalibrationRecord.objects.filter(pk=record.pk, status=CalibrationStatus.DRAFT).update(
            status=CalibrationStatus.ACTIVE, approved_by=actor, approved_at=now
        )
        if not updated:
            raise InvalidTransition(
                _("Only a draft calibration record can be approved; this one is %(status)s.")
                % {"status": CalibrationRecord.objects.get(pk=record.pk).get_status_display()},
                code="calibration_not_draft",
            )
        record.refresh_from_db()
        audit.record(
            "calibration.approved",
            actor=actor,
            target=record,
            before={"status": CalibrationStatus.DRAFT},
            after={**_summary(record), "retired": [old.pk for old in previous]},
        )
    return record


def calibration_record_retire(*, actor: Any, record: CalibrationRecord) -> CalibrationRecord:
    """Withdraw a draft or active record (DPO only); with no active record the budget answers "uncalibrated"."""
    require_role(actor, Role.DPO, action=_("retire a calibration record"))
    with transaction.atomic():
        before = CalibrationRecord.objects.select_for_update().get(pk=record.pk).status
        updated = (
            CalibrationRecord.objects.filter(pk=record.pk)
            .exclude(status=CalibrationStatus.RETIRED)
            .update(status=CalibrationStatus.RETIRED, retired_at=timezone.now())
        )
        if not updated:
            raise InvalidTransition(_("This calibration record is already retired."), code="calibration_retired")
        record.refresh_from_db()
        audit.record(
            "calibration.retired",
            actor=actor,
            target=record,
            before={"status": before},
            after={"status": record.status},
        )
    return record


def alert_budget_update(*, actor: Any, budget_fpir: float) -> AlertBudgetPolicy:
    """Set the force's false-alert budget (DPO only); audited with the value before and after."""
    require_role(actor, Role.DPO, action=_("change the false-alert budget"))
    try:
        value = float(budget_fpir)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= 1):
        raise RuleViolation(
            _("The budget is a share of faces: more than 0 and at most 1 (1 in 10,000 is 0.0001)."),
            code="invalid_budget",
            details={"budget_fpir": [_("Enter a number more than 0 and at most 1.")]},
        )
    with transaction.atomic():
        AlertBudgetPolicy.objects.get_or_create(pk=1)
        policy = AlertBudgetPolicy.objects.select_for_update().get(pk=1)
        before = policy.budget_fpir
        policy.budget_fpir = value
        policy.updated_by = actor
        policy.updated_at = timezone.now()
        policy.save(update_fields=["budget_fpir", "updated_by", "updated_at"])
        audit.record(
            "alert_budget.updated",
            actor=actor,
            target=policy,
            before={"budget_fpir": before},
            after={"budget_fpir": value},
        )
    return policy


# --- calibration encoding cache (labelled research data only) ----------------------------------------------


def encoding_cache_lookup(
    *, file_hashes: Iterable[str], engine_fingerprint: str
) -> dict[str, tuple[np.ndarray | None, str]]:
    """{file hash: (encoding or None, error code)} of the files already encoded under this engine fingerprint."""
    found: dict[str, tuple[np.ndarray | None, str]] = {}
    hashes = list(set(file_hashes))
    for start in range(0, len(hashes), 500):  # stays under SQLite's bound-parameter limit
        rows = EncodingCache.objects.filter(
            engine_fingerprint=engine_fingerprint, file_sha256__in=hashes[start : start + 500]
        )
        for row in rows:
            encoding = encoding_from_bytes(decrypt_bytes(row.encrypted_encoding)) if row.encrypted_encoding else None
            found[row.file_sha256] = (encoding, row.error_code)
    return found


def encoding_cache_store(*, engine_fingerprint: str, results: Mapping[str, tuple[np.ndarray | None, str]]) -> int:
    """Cache encodings (or error codes) by file hash; an existing entry is kept. Returns how many were offered."""
    rows = [
        EncodingCache(
            file_sha256=file_hash,
            engine_fingerprint=engine_fingerprint,
            encrypted_encoding=encrypt_bytes(encoding_to_bytes(encoding)) if encoding is not None else None,
            error_code="" if encoding is not None else (error or "failed"),
        )
        for file_hash, (encoding, error) in results.items()
    ]
    with transaction.atomic():
        EncodingCache.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
    return len(rows)
