"""Deployments (domain.md 2): the application, its time windows, authorisations, signage, leaflets and review."""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.db import models
from django.utils.translation import gettext_lazy as _

from compliance.choices import AlertPolicyKind, DeploymentStatus, UseCase
from compliance.models.accounts import User
from compliance.models.cameras import CameraUnit


class Deployment(models.Model):
    """One LFR deployment application and its lifecycle; only compliance.services.deployments changes it."""

    reference = models.CharField(_("reference"), max_length=32, unique=True)
    title = models.CharField(_("title"), max_length=200)
    status = models.CharField(
        _("status"), max_length=16, choices=DeploymentStatus.choices, default=DeploymentStatus.DRAFT, db_index=True
    )
    applicant = models.ForeignKey(User, on_delete=models.PROTECT, related_name="deployment_applications")

    use_case = models.CharField(_("use case"), max_length=32, choices=UseCase.choices, blank=True)
    objectives = models.TextField(_("objectives"), blank=True)
    offence_types = models.JSONField(_("offence types targeted"), default=list, blank=True)
    other_offence = models.CharField(_("other serious offence (named)"), max_length=200, blank=True)

    location_name = models.CharField(_("location name"), max_length=200, blank=True)
    location_address = models.TextField(_("location address"), blank=True)
    latitude = models.FloatField(_("latitude"), null=True, blank=True)
    longitude = models.FloatField(_("longitude"), null=True, blank=True)
    zone_of_recognition = models.TextField(_("zone of recognition"), blank=True)
    location_grounds = models.TextField(_("grounds for believing sought persons will be present"), blank=True)

    necessity = models.TextField(_("necessity"), blank=True)
    proportionality = models.TextField(_("proportionality"), blank=True)
    alternatives_considered = models.TextField(_("less intrusive alternatives considered"), blank=True)

    watchlist_categories = models.JSONField(_("watch-list categories"), default=list, blank=True)
    watchlist_max_size = models.PositiveIntegerField(_("maximum watch-list size"), null=True, blank=True)
    match_threshold = models.FloatField(_("match threshold"), null=True, blank=True)
    alert_policy = models.CharField(
        _("alert policy"), max_length=16, choices=AlertPolicyKind.choices, default=AlertPolicyKind.THRESHOLD
    )
    alert_margin = models.FloatField(_("alert margin"), default=0)

    dpia_reference = models.CharField(_("DPIA reference"), max_length=100, blank=True)
    dpia_version = models.CharField(_("DPIA version"), max_length=32, blank=True)
    eia_reference = models.CharField(_("Equality Impact Assessment reference"), max_length=100, blank=True)
    apd_reference = models.CharField(_("Appropriate Policy Document reference"), max_length=100, blank=True)

    public_notice_at = models.DateTimeField(_("public notice given at"), null=True, blank=True)
    public_notice_where = models.CharField(_("public notice given where"), max_length=300, blank=True)
    public_notice_text = models.TextField(_("public notice text"), blank=True)
    critical_threat_justification = models.TextField(_("critical-threat justification for late notice"), blank=True)

    standalone_attested = models.BooleanField(_("standalone attestation"), default=False)
    camera_units = models.ManyToManyField(CameraUnit, blank=True, related_name="deployments")
    assigned_officers = models.ManyToManyField(User, blank=True, related_name="assigned_deployments")

    # The authorisation in force; None before authorisation and after it is voided, rejected or superseded.
    authorisation = models.ForeignKey(
        "Authorisation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status_reason = models.TextField(_("reason for the last status change"), blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    authorised_at = models.DateTimeField(null=True, blank=True)
    suspended_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(match_threshold__isnull=True)
                | models.Q(match_threshold__gt=0, match_threshold__lte=1),
                name="deployment_threshold_in_range",
                violation_error_message=_("The match threshold must be between 0 and 1."),
            ),
            models.CheckConstraint(
                condition=models.Q(alert_margin__gte=0),
                name="deployment_margin_not_negative",
                violation_error_message=_("The alert margin cannot be negative."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    @property
    def current_authorisation(self) -> Authorisation | None:
        return self.authorisation

    def window_at(self, at: datetime.datetime) -> DeploymentWindow | None:
        """The window containing `at` (half-open), using prefetched windows when available."""
        return window_containing(self.windows.all(), at)

    @property
    def first_window_start(self) -> datetime.datetime | None:
        return first_start(self.windows.all())

    @property
    def last_window_end(self) -> datetime.datetime | None:
        ends = [w.end for w in self.windows.all()]
        return max(ends) if ends else None

    @property
    def is_live_status(self) -> bool:
        return self.status == DeploymentStatus.AUTHORISED


def window_containing(windows: Iterable[DeploymentWindow], at: datetime.datetime) -> DeploymentWindow | None:
    """The window of `windows` that contains `at`: windows are half-open, [start, end)."""
    return next((window for window in windows if window.start <= at < window.end), None)


def first_start(windows: Iterable[DeploymentWindow]) -> datetime.datetime | None:
    return min((window.start for window in windows), default=None)


class DeploymentWindow(models.Model):
    """A half-open interval [start, end) in which matching may run."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="windows")
    start = models.DateTimeField(_("start"))
    end = models.DateTimeField(_("end"))

    class Meta:
        ordering = ["start"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")),
                name="deployment_window_ends_after_start",
                violation_error_message=_("A window must end after it starts."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M} – {self.end:%Y-%m-%d %H:%M}"

    @property
    def duration(self) -> datetime.timedelta:
        return self.end - self.start


class AuthorisationDecision(models.TextChoices):
    AUTHORISED = "authorised", _("Authorised")
    REJECTED = "rejected", _("Rejected")


class Authorisation(models.Model):
    """An AO's decision on one version of the application, frozen as a hashed snapshot (domain.md 2.2)."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="authorisations")
    decided_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(_("decision"), max_length=16, choices=AuthorisationDecision.choices)
    rationale = models.TextField(_("rationale"))
    conditions = models.TextField(_("conditions"), blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    snapshot = models.JSONField(_("application snapshot"))
    snapshot_hash = models.CharField(_("snapshot hash"), max_length=64)
    decided_at = models.DateTimeField(_("decided at"))
    voided_at = models.DateTimeField(_("voided at"), null=True, blank=True)
    void_reason = models.TextField(_("void reason"), blank=True)

    class Meta:
        ordering = ["-decided_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(decision="authorised") | models.Q(expires_at__isnull=False),
                name="authorisation_has_expiry",
                violation_error_message=_("An authorisation must have an expiry."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} {self.decided_at:%Y-%m-%d %H:%M}"

    @property
    def is_void(self) -> bool:
        return self.voided_at is not None

    def in_force_at(self, at: datetime.datetime) -> bool:
        return (
            self.decision == AuthorisationDecision.AUTHORISED
            and self.voided_at is None
            and self.expires_at is not None
            and self.decided_at <= at < self.expires_at
        )


class SignageRecord(models.Model):
    """Signs placed (and later removed) at the deployment location (domain.md 2.4)."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="signage")
    position_description = models.CharField(_("position"), max_length=300)
    sign_count = models.PositiveIntegerField(_("number of signs"))
    placed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    placed_at = models.DateTimeField(_("placed at"))
    removed_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    removed_at = models.DateTimeField(_("removed at"), null=True, blank=True)
    # The photo may show members of the public: an encrypted file (compliance.biometric_store) under
    # signage/<deployment id>/, served only by an audited view and deleted with the deployment's watch-list.
    photo_path = models.CharField(_("photo (encrypted file)"), max_length=255, blank=True, editable=False)
    photo_content_type = models.CharField(max_length=32, blank=True, editable=False)
    photo_sha256 = models.CharField(max_length=64, blank=True, editable=False)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["placed_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(sign_count__gt=0),
                name="signage_count_positive",
                violation_error_message=_("At least one sign must be recorded."),
            ),
            models.CheckConstraint(
                condition=models.Q(removed_at__isnull=True) | models.Q(removed_at__gt=models.F("placed_at")),
                name="signage_removed_after_placed",
                violation_error_message=_("Signs must be removed after they were placed."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sign_count} × {self.position_description}"

    def in_place_at(self, at: datetime.datetime) -> bool:
        return self.placed_at <= at and (self.removed_at is None or at < self.removed_at)

    @property
    def has_photo(self) -> bool:
        return bool(self.photo_path)


class LeafletRecord(models.Model):
    """Leaflets handed out to the public, per session or shift (domain.md 2.4)."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="leaflets")
    count = models.PositiveIntegerField(_("leaflets handed out"))
    handed_out_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    shift_start = models.DateTimeField(_("shift or session start"))
    shift_description = models.CharField(_("session or shift"), max_length=200, blank=True)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["shift_start", "id"]

    def __str__(self) -> str:
        return f"{self.count} leaflets ({self.shift_start:%Y-%m-%d %H:%M})"


class ObjectiveMet(models.TextChoices):
    YES = "yes", _("Yes")
    PARTLY = "partly", _("Partly")
    NO = "no", _("No")


class PostDeploymentReview(models.Model):
    """The AO's review after completion; recording it publishes the deployment record (domain.md 2.5)."""

    deployment = models.OneToOneField(Deployment, on_delete=models.CASCADE, related_name="review")
    reviewed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    objective_met = models.CharField(_("was the objective met?"), max_length=8, choices=ObjectiveMet.choices)
    outcome_summary = models.TextField(_("outcome summary"))
    issues = models.TextField(_("issues"), blank=True)
    complaints = models.TextField(_("complaints received"), blank=True)
    complaint_count = models.PositiveIntegerField(_("number of complaints"), default=0)
    reviewed_at = models.DateTimeField(_("reviewed at"))

    def __str__(self) -> str:
        return f"Review of {self.deployment_id}"
