"""Retention you can prove (domain.md 6, 7, 8): policies, evidential holds, enforcement runs, audit checkpoints,
equality monitoring and the EU AI Act record. Only compliance.services.retention (and compliance.audit for
checkpoints) changes these rows.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from compliance.models.accounts import User
from compliance.models.deployments import Deployment


class RetentionDataClass(models.TextChoices):
    """The data classes of domain.md section 6 that have a retention period."""

    WATCHLIST = "watchlist", _("Watch-list entries, images and encodings")
    ALERT = "alert", _("Alerts with their probe images")
    ADJUDICATION = "adjudication", _("Adjudication outcomes and statistics")
    AUDIT_LOG = "audit_log", _("Audit log")


class RetentionPolicy(models.Model):
    """The period a data class is kept, set by the DPO within the statutory bounds in settings.

    `period_hours` is None when the class is kept (adjudication outcomes hold no biometrics).
    """

    data_class = models.CharField(_("data class"), max_length=32, choices=RetentionDataClass.choices, unique=True)
    period_hours = models.PositiveIntegerField(_("retention period (hours)"), null=True, blank=True)
    note = models.TextField(_("reason for the setting"), blank=True)
    updated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(_("updated at"), null=True, blank=True)

    class Meta:
        ordering = ["data_class"]
        verbose_name_plural = _("retention policies")

    def __str__(self) -> str:
        return f"{self.get_data_class_display()}: {self.period_hours} h"


class EvidentialHold(models.Model):
    """Keeps one record (e.g. an alert and its probe image) past its retention period, with a reason.

    At most one hold is active (not lifted) per target.
    """

    target_type = models.CharField(_("target type"), max_length=64)
    target_id = models.CharField(_("target id"), max_length=64)
    deployment_id = models.BigIntegerField(_("deployment"), null=True, blank=True, db_index=True)
    reason = models.TextField(_("reason"))
    placed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    placed_at = models.DateTimeField(_("placed at"))
    lifted_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    lifted_at = models.DateTimeField(_("lifted at"), null=True, blank=True)
    lift_reason = models.TextField(_("reason for lifting"), blank=True)

    class Meta:
        ordering = ["-placed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["target_type", "target_id"],
                condition=models.Q(lifted_at__isnull=True),
                name="evidential_hold_one_active_per_target",
                violation_error_message=_("This record is already on evidential hold."),
            )
        ]

    def __str__(self) -> str:
        return f"Hold on {self.target_type}:{self.target_id}"

    @property
    def is_active(self) -> bool:
        return self.lifted_at is None


class RetentionRunStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    OK = "ok", _("Deleted and verified")
    FAILED = "failed", _("Failures recorded")


class RetentionRun(models.Model):
    """One enforcement sweep: what was due, what was deleted, what was held, the verification evidence, failures."""

    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    trigger = models.CharField(_("trigger"), max_length=32, default="beat")
    actor_username = models.CharField(max_length=150, blank=True)
    status = models.CharField(max_length=16, choices=RetentionRunStatus.choices, default=RetentionRunStatus.RUNNING)
    due = models.JSONField(default=list, blank=True)
    deleted = models.JSONField(default=list, blank=True)
    held = models.JSONField(default=list, blank=True)
    evidence = models.JSONField(default=list, blank=True)
    failures = models.JSONField(default=list, blank=True)
    audit_checkpoint = models.ForeignKey(
        "AuditCheckpoint", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"Retention run {self.started_at:%Y-%m-%d %H:%M} ({self.status})"


class AuditCheckpoint(models.Model):
    """Where the stored audit chain resumes after pruning: the last pruned event's seq and hash, and the
    exported segment (file name and SHA-256) that holds events `first_seq`..`seq`."""

    seq = models.BigIntegerField(_("last pruned event"), unique=True)
    hash = models.CharField(_("hash of the last pruned event"), max_length=64)
    first_seq = models.BigIntegerField(_("first event in the segment"))
    prev_hash = models.CharField(_("hash the segment's first event links to"), max_length=64)
    event_count = models.PositiveIntegerField()
    segment_name = models.CharField(max_length=200, unique=True)
    segment_sha256 = models.CharField(max_length=64)
    cutoff = models.DateTimeField(_("events before this time were pruned"))
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-seq"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(seq__gte=models.F("first_seq")),
                name="audit_checkpoint_segment_not_empty",
                violation_error_message=_("A segment holds at least one event."),
            )
        ]

    def __str__(self) -> str:
        return f"Audit checkpoint #{self.seq}"


class EqualityField(models.Model):
    """A self-described demographic field the DPO chose to monitor (Bridges ground 5). Never inferred."""

    name = models.SlugField(_("name"), max_length=50, unique=True)
    label = models.CharField(_("label"), max_length=100)
    choices = models.JSONField(_("choices"), default=list)
    active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.label


class EqualityRecord(models.Model):
    """Self-described values recorded with an alert's adjudication, keyed by the alert's id (all optional)."""

    alert_id = models.BigIntegerField(unique=True)
    deployment_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    false_alert = models.BooleanField(_("false alert"))
    values = models.JSONField(default=dict)
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["-recorded_at", "-id"]

    def __str__(self) -> str:
        return f"Equality record for alert {self.alert_id}"


class EuObjective(models.TextChoices):
    """The three objectives of EU AI Act Article 5(1)(h)."""

    VICTIM_SEARCH = (
        "victim_search",
        _(
            "(i) Targeted search for specific victims of abduction, trafficking or sexual exploitation, "
            "or missing persons"
        ),
    )
    THREAT_PREVENTION = (
        "threat_prevention",
        _(
            "(ii) Prevention of a specific, substantial and imminent threat to life or physical safety, "
            "or of a terrorist attack"
        ),
    )
    SUSPECT_LOCALISATION = (
        "suspect_localisation",
        _("(iii) Localisation or identification of a person suspected of a criminal offence listed in Annex II"),
    )


class EuAuthorityKind(models.TextChoices):
    JUDICIAL = "judicial", _("Judicial authority")
    ADMINISTRATIVE = "administrative", _("Independent administrative authority")


class EuDecision(models.TextChoices):
    PENDING = "pending", _("Not yet decided")
    GRANTED = "granted", _("Granted")
    REJECTED = "rejected", _("Rejected")


class EuAiActRecord(models.Model):
    """The EU AI Act pack for one deployment (domain.md 8): objective, prior authorisation, urgency, FRIA,
    EU database registration and the outcome of a terminated use."""

    deployment = models.OneToOneField(Deployment, on_delete=models.PROTECT, related_name="eu_ai_act")
    objective = models.CharField(_("Art. 5(1)(h) objective"), max_length=32, choices=EuObjective.choices, blank=True)
    objective_detail = models.TextField(_("objective detail"), blank=True)

    authority_kind = models.CharField(_("authority kind"), max_length=16, choices=EuAuthorityKind.choices, blank=True)
    authority_name = models.CharField(_("authorising authority"), max_length=200, blank=True)
    authority_reference = models.CharField(_("authority reference"), max_length=100, blank=True)
    authority_decision = models.CharField(
        _("decision"), max_length=16, choices=EuDecision.choices, default=EuDecision.PENDING
    )
    authority_decided_on = models.DateField(_("decision date"), null=True, blank=True)
    authority_recorded_at = models.DateTimeField(null=True, blank=True)

    urgent = models.BooleanField(_("urgent start without prior authorisation"), default=False)
    urgency_justification = models.TextField(_("urgency justification"), blank=True)
    first_session_started_at = models.DateTimeField(null=True, blank=True)

    fria_a_processes = models.TextField(_("FRIA (a) processes in which the system is used"), blank=True)
    fria_b_period_frequency = models.TextField(_("FRIA (b) period and frequency of use"), blank=True)
    fria_c_affected_persons = models.TextField(_("FRIA (c) categories of persons affected"), blank=True)
    fria_d_risks = models.TextField(_("FRIA (d) specific risks of harm"), blank=True)
    fria_e_human_oversight = models.TextField(_("FRIA (e) human oversight measures"), blank=True)
    fria_f_mitigation = models.TextField(_("FRIA (f) measures if risks materialise"), blank=True)
    eu_database_reference = models.CharField(_("EU database registration reference"), max_length=100, blank=True)

    terminated_at = models.DateTimeField(null=True, blank=True)
    termination_reason = models.TextField(blank=True)
    deletion_evidence = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("EU AI Act record")

    def __str__(self) -> str:
        return f"EU AI Act record for deployment {self.deployment_id}"

    @property
    def authorisation_granted(self) -> bool:
        return self.authority_decision == EuDecision.GRANTED


class EuNotificationAuthority(models.TextChoices):
    MARKET_SURVEILLANCE = "market_surveillance", _("Market surveillance authority")
    DATA_PROTECTION = "data_protection", _("Data protection authority")


class EuNotification(models.Model):
    """A notification of one use to an authority (EU AI Act Art. 5(4)), logged per deployment."""

    record = models.ForeignKey(EuAiActRecord, on_delete=models.PROTECT, related_name="notifications")
    authority = models.CharField(max_length=32, choices=EuNotificationAuthority.choices)
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    notified_at = models.DateTimeField(_("notified at"))
    notified_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["notified_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_authority_display()} notified {self.notified_at:%Y-%m-%d}"
