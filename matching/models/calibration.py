"""Calibration records, the calibration encoding cache and the force's false-alert budget (domain.md 9)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from matching.calibration import curves_by_size

DEFAULT_BUDGET_FPIR = 0.0001  # domain.md 9: at most 1 false alert per 10,000 faces seen


class CalibrationStatus(models.TextChoices):
    DRAFT = "draft", _("Draft (not approved)")
    ACTIVE = "active", _("Active")
    RETIRED = "retired", _("Retired")


class CalibrationRecord(models.Model):
    """How the installed matcher performed on one labelled dataset; one active record per engine fingerprint."""

    engine_config = models.JSONField(help_text=_("EngineConfig.to_dict() of the run."))
    engine_fingerprint = models.CharField(max_length=64, db_index=True)
    dataset_path = models.CharField(max_length=1000)
    description = models.TextField(blank=True)
    dataset_hash = models.CharField(max_length=64, help_text=_("sha256 over every image's path and content hash."))
    identities = models.PositiveIntegerField(default=0)
    images = models.PositiveIntegerField(default=0)
    failed_images = models.PositiveIntegerField(default=0)
    pairs = models.PositiveIntegerField(default=0)
    failures = models.JSONField(default=list, blank=True, help_text=_("[{file, code}] of images with no usable face."))
    verification = models.JSONField(null=True, blank=True)
    identification = models.JSONField(null=True, blank=True, help_text=_("Simulation: curves per size and policy."))
    operating_points = models.JSONField(default=list, blank=True)
    groups = models.JSONField(null=True, blank=True)
    budget_fpir = models.FloatField(help_text=_("The budget the operating points were chosen against."))
    policy_threshold = models.FloatField()
    seed = models.IntegerField(default=0)
    # A PNG of a few tens of kilobytes: no personal data, so the database is simpler than a media file.
    det_plot = models.BinaryField(blank=True, default=b"", editable=False)
    status = models.CharField(max_length=16, choices=CalibrationStatus.choices, default=CalibrationStatus.DRAFT)
    ran_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ran_at = models.DateTimeField()
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-ran_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["engine_fingerprint"],
                condition=Q(status="active"),
                name="matching_one_active_calibration_per_engine",
                violation_error_message=_("Another calibration record is already active for this engine."),
            ),
        ]

    def __str__(self) -> str:
        return f"Calibration #{self.pk} ({self.get_status_display()}, {self.ran_at:%Y-%m-%d})"

    @property
    def is_stale(self) -> bool:
        """True when the engine settings or software in force differ from those this record measured."""
        from matching.config import engine_config

        return self.engine_fingerprint != engine_config().fingerprint()

    def usable_curves(self) -> dict[str, Any]:
        """{size: {policy: [points]}} of the watch-list sizes this run could measure."""
        if not self.identification:
            return {}
        return {str(size): curves for size, curves in curves_by_size(self.identification).items()}

    @property
    def measured_sizes(self) -> list[int]:
        return sorted(int(size) for size in self.usable_curves())


class EncodingCache(models.Model):
    """One calibration image's encoding under one engine fingerprint, so re-running `calibrate` is instant.

    Only for labelled research datasets, never operational images. Still biometric: stored Fernet-encrypted
    (compliance.crypto), and a failed image keeps its error code so it is not re-tried either.
    """

    file_sha256 = models.CharField(max_length=64)
    engine_fingerprint = models.CharField(max_length=64)
    encrypted_encoding = models.BinaryField(null=True, blank=True, editable=False)
    error_code = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["file_sha256", "engine_fingerprint"], name="matching_encoding_cache_unique_file_engine"
            ),
            models.CheckConstraint(
                condition=Q(encrypted_encoding__isnull=False, error_code="")
                | Q(encrypted_encoding__isnull=True) & ~Q(error_code=""),
                name="matching_encoding_cache_encoding_xor_error",
                violation_error_message=_("A cache entry holds either an encoding or an error code."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.file_sha256[:12]} @ {self.engine_fingerprint[:12]}"


class AlertBudgetPolicy(models.Model):
    """The force's false-alert budget: the highest FPIR a deployment may expect. A single row (pk 1)."""

    budget_fpir = models.FloatField(default=DEFAULT_BUDGET_FPIR)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("false-alert budget")
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="matching_alert_budget_singleton"),
            models.CheckConstraint(
                condition=Q(budget_fpir__gt=0) & Q(budget_fpir__lte=1),
                name="matching_alert_budget_range",
                violation_error_message=_("The budget must be more than 0 and at most 1."),
            ),
        ]

    def __str__(self) -> str:
        return f"False-alert budget {self.budget_fpir:g}"

    @property
    def per_10k(self) -> float:
        return self.budget_fpir * 10_000

    @classmethod
    def current(cls) -> AlertBudgetPolicy:
        """The one row, created with the default budget on first use."""
        policy, _created = cls.objects.get_or_create(pk=1)
        return policy
