"""Reads of calibration records and the false-alert budget, restricted to who may see them."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from compliance.choices import Role
from compliance.permissions import has_role
from matching.config import engine_config
from matching.models import CalibrationRecord, CalibrationStatus

CALIBRATION_READERS = (Role.DPO, Role.AUTHORISING_OFFICER)


def calibration_record_list(*, user: Any) -> QuerySet[CalibrationRecord]:
    """Every calibration record for the DPO and Authorising Officers (newest first); nothing for anyone else."""
    queryset = CalibrationRecord.objects.select_related("ran_by", "approved_by").defer("det_plot")
    if not has_role(user, *CALIBRATION_READERS):
        return queryset.none()
    return queryset


def calibration_record_get(*, user: Any, pk: int) -> CalibrationRecord:
    """One record the user may see; raises CalibrationRecord.DoesNotExist otherwise."""
    return calibration_record_list(user=user).get(pk=pk)


def calibration_plot_png(*, user: Any, pk: int) -> bytes:
    """The DET plot bytes of a record the user may see (empty when the run saved none)."""
    record = calibration_record_list(user=user).select_related(None).only("pk", "det_plot").get(pk=pk)
    return bytes(record.det_plot or b"")


def active_calibration_record() -> CalibrationRecord | None:
    """The active record for the engine settings in force, or None (a stale active record is never returned)."""
    return (
        CalibrationRecord.objects.filter(
            status=CalibrationStatus.ACTIVE, engine_fingerprint=engine_config().fingerprint()
        )
        .order_by("-approved_at", "-pk")
        .first()
    )


def stale_active_calibration_exists() -> bool:
    """Whether an approved record exists for engine settings that are no longer in force."""
    return (
        CalibrationRecord.objects.filter(status=CalibrationStatus.ACTIVE)
        .exclude(engine_fingerprint=engine_config().fingerprint())
        .exists()
    )
