"""Live matching (domain.md 4, 5): sessions with their counters, alerts with encrypted probe crops, adjudications.

Nothing here holds a frame or the template of a face that did not match: sessions keep counters only. Only
matching.services change these rows.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from compliance.models import CameraUnit, Deployment


class SessionStatus(models.TextChoices):
    LIVE = "live", _("Live")
    STOPPED = "stopped", _("Stopped")


class StopReason(models.TextChoices):
    OPERATOR = "operator", _("Stopped by the operator")
    WINDOW_ENDED = "window_ended", _("The time window ended")
    GATE_FAILED = "gate_failed", _("A gate no longer holds")
    DEPLOYMENT_STOPPED = "deployment_stopped", _("The deployment was suspended, revoked, cancelled or completed")


class MatchingSession(models.Model):
    """One camera unit matching for one deployment; at most one live session per camera unit, whatever the deployment.

    A camera unit is in one place at a time, and a deployment is authorised (and signed) for one place (domain.md
    2.1, gate 4): a unit live for two deployments would match faces in one place against a list meant for another.
    """

    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="matching_sessions")
    camera_unit = models.ForeignKey(CameraUnit, on_delete=models.PROTECT, related_name="matching_sessions")
    status = models.CharField(
        _("status"), max_length=16, choices=SessionStatus.choices, default=SessionStatus.LIVE, db_index=True
    )
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField(_("started at"))
    stopped_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    stopped_at = models.DateTimeField(_("stopped at"), null=True, blank=True)
    stop_reason = models.CharField(_("stop reason"), max_length=32, choices=StopReason.choices, blank=True)
    stop_detail = models.TextField(_("stop detail"), blank=True)

    # Counters, never content (domain.md 4: "counters only").
    frames_accepted = models.PositiveBigIntegerField(default=0)
    frames_refused = models.PositiveBigIntegerField(default=0)
    frames_processed = models.PositiveBigIntegerField(default=0)
    faces_seen = models.PositiveBigIntegerField(default=0)
    alerts_raised = models.PositiveIntegerField(default=0)
    sightings = models.PositiveIntegerField(default=0)
    dropped_stale = models.PositiveBigIntegerField(default=0)
    dropped_purged = models.PositiveBigIntegerField(default=0)
    dropped_gates = models.PositiveBigIntegerField(default=0)
    dropped_undecodable = models.PositiveBigIntegerField(default=0)
    latency_ms_last = models.PositiveIntegerField(default=0)
    latency_ms_avg = models.FloatField(default=0)  # exponentially weighted (alpha 0.1): a rolling sample
    latency_ms_max = models.PositiveIntegerField(default=0)
    last_frame_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            # What enforces the rule when two starts race (session_start checks first, for a clear refusal).
            models.UniqueConstraint(
                fields=["camera_unit"],
                condition=models.Q(status="live"),
                name="matching_one_live_session_per_camera",
                violation_error_message=_("This camera unit already has a live session."),
            ),
            models.CheckConstraint(
                condition=models.Q(status="live") | models.Q(stopped_at__isnull=False),
                name="matching_stopped_session_has_stop_time",
                violation_error_message=_("A stopped session records when it stopped."),
            ),
        ]

    def __str__(self) -> str:
        return f"Session {self.pk} ({self.camera_unit_id}, {self.status})"

    @property
    def is_live(self) -> bool:
        return self.status == SessionStatus.LIVE

    @property
    def frames_dropped(self) -> int:
        return self.dropped_stale + self.dropped_purged + self.dropped_gates + self.dropped_undecodable

    @property
    def duration(self) -> datetime.timedelta:
        return (self.stopped_at or timezone.now()) - self.started_at


class AlertStatus(models.TextChoices):
    """Where an alert is in the human review (domain.md 5); the transitions live in matching.services.alerts."""

    NEW = "new", _("Awaiting operator review")
    VERIFYING = "verifying", _("Verified once; awaiting a second verifier")
    DISMISSED = "dismissed", _("False alert (dismissed by the operator)")
    REFERRED = "referred", _("Referred for engagement")
    NOT_LOCATED = "not_located", _("Referred; person not located")
    ENGAGED = "engaged", _("Engaged; outcome recorded")


class Outcome(models.TextChoices):
    ARREST = "arrest", _("Arrest")
    OTHER_ACTION = "other_action", _("Other action")
    NO_ACTION = "no_action", _("No action")


class Alert(models.Model):
    """A face that met the deployment's alert policy: a prompt for a human, not a decision.

    The probe crop is a Fernet token (never a file); repeated sightings of the same person (the entry, or another
    photo of them on the watch-list) within the repeat interval update this row instead of creating another.
    """

    session = models.ForeignKey(MatchingSession, on_delete=models.PROTECT, related_name="alerts")
    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="alerts")
    camera_unit = models.ForeignKey(CameraUnit, on_delete=models.PROTECT, related_name="alerts")
    # Plain ids, not foreign keys: watch-list entries are destroyed within 24 h, the alert is kept 31 days.
    entry_id = models.BigIntegerField(_("watch-list entry"))
    watchlist_id = models.BigIntegerField(null=True, blank=True)
    watchlist_hash = models.CharField(max_length=64, blank=True)
    distance = models.FloatField(_("best distance"))
    runner_up = models.FloatField(_("runner-up distance"), null=True, blank=True)
    threshold = models.FloatField(_("threshold in force"))
    policy = models.CharField(_("alert policy"), max_length=16)
    margin = models.FloatField(_("margin in force"), default=0)
    captured_at = models.DateTimeField(_("first captured at"))
    last_seen_at = models.DateTimeField(_("last seen at"))
    sighting_count = models.PositiveIntegerField(_("sightings"), default=1)
    probe_crop = models.BinaryField(_("encrypted probe crop"), null=True, blank=True)  # JPEG, Fernet-encrypted
    probe_sha256 = models.CharField(max_length=64, blank=True)
    probe_destroyed_at = models.DateTimeField(null=True, blank=True)
    source_frame_id = models.CharField(max_length=32)  # the frame that raised it (an id, never the frame)
    status = models.CharField(
        _("status"), max_length=16, choices=AlertStatus.choices, default=AlertStatus.NEW, db_index=True
    )
    first_verifier = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    second_verifier = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    referred_at = models.DateTimeField(null=True, blank=True)
    located = models.BooleanField(null=True, blank=True)
    identity_confirmed = models.BooleanField(null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices, blank=True)
    engagement_officer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-captured_at", "-id"]
        indexes = [models.Index(fields=["session", "entry_id", "last_seen_at"], name="matching_alert_repeat_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "source_frame_id", "entry_id"],
                name="matching_alert_once_per_frame_entry",
                violation_error_message=_("This frame already raised an alert for this entry."),
            ),
            models.CheckConstraint(
                condition=models.Q(second_verifier__isnull=True)
                | ~models.Q(second_verifier=models.F("first_verifier")),
                name="matching_alert_two_distinct_verifiers",
                violation_error_message=_("The second verifier must be a different person."),
            ),
        ]

    def __str__(self) -> str:
        return f"Alert {self.pk} ({self.get_status_display()})"


class AdjudicationDecision(models.TextChoices):
    FALSE_ALERT = "false_alert", _("False alert")
    VERIFIED = "verified", _("Verified (first of two)")
    REFERRED = "referred", _("Referred for engagement")
    NOT_LOCATED = "not_located", _("Person not located")
    ENGAGED = "engaged", _("Engaged")


class Adjudication(models.Model):
    """One human decision on an alert, with who made it; the history behind the alert's summary fields."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="adjudications")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=32)
    decision = models.CharField(max_length=16, choices=AdjudicationDecision.choices)
    identity_confirmed = models.BooleanField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    note = models.TextField(blank=True)
    decided_at = models.DateTimeField()

    class Meta:
        ordering = ["decided_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} on alert {self.alert_id}"


class WorkerHeartbeat(models.Model):
    """A Celery worker's last sign of life, written every few seconds; a stale row means a dead worker."""

    hostname = models.CharField(max_length=255, unique=True)
    queues = models.JSONField(default=list)
    pid = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["hostname"]

    def __str__(self) -> str:
        return self.hostname
