"""Shapes of the live-matching API: separate input and output serializers; policy lives in the services."""

from __future__ import annotations

import datetime

from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import serializers

from compliance.models import CameraUnit
from lfr_portal.errors import RuleViolation
from matching.models import Alert, CameraToken, MatchingSession
from matching.models.sessions import Outcome


class SessionOut(serializers.ModelSerializer):
    deployment_reference = serializers.CharField(source="deployment.reference", read_only=True)
    camera_unit = serializers.CharField(source="camera_unit.identifier", read_only=True)
    started_by = serializers.CharField(source="started_by.username", read_only=True)
    frames_dropped = serializers.IntegerField(read_only=True)

    class Meta:
        model = MatchingSession
        fields = [
            "id",
            "deployment",
            "deployment_reference",
            "camera_unit",
            "camera_unit_id",
            "status",
            "started_by",
            "started_at",
            "stopped_at",
            "stop_reason",
            "stop_detail",
            "frames_accepted",
            "frames_refused",
            "frames_processed",
            "faces_seen",
            "alerts_raised",
            "sightings",
            "frames_dropped",
            "dropped_stale",
            "dropped_purged",
            "dropped_gates",
            "dropped_undecodable",
            "latency_ms_last",
            "latency_ms_avg",
            "latency_ms_max",
            "last_frame_at",
        ]
        read_only_fields = fields


class SessionStartIn(serializers.Serializer):
    deployment = serializers.IntegerField()
    camera_unit = serializers.IntegerField()


class SessionStopIn(serializers.Serializer):
    detail = serializers.CharField(required=False, allow_blank=True, default="")


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date-time that must carry its offset. DRF would read a naive one in the server's zone: a camera
    sending naive UTC in summer time would have every frame an hour stale, and each dropped without a word."""

    def enforce_timezone(self, value: datetime.datetime) -> datetime.datetime:
        if timezone.is_naive(value):
            # The code and shape of the frame endpoint's other capture-time refusal, not a generic validation_error.
            message = _("The capture time must include a time zone (an offset such as +01:00, or Z for UTC).")
            raise RuleViolation(message, code="invalid_captured_at", details={self.field_name: [message]})
        return super().enforce_timezone(value)


class FrameIn(serializers.Serializer):
    image = serializers.FileField(help_text="The frame: JPEG or PNG bytes.")
    captured_at = AwareDateTimeField(
        help_text="When the camera captured it: ISO 8601 with its offset (e.g. +01:00 or Z); without one, refused."
    )


class FrameAcceptedOut(serializers.Serializer):
    accepted = serializers.BooleanField()
    frame_id = serializers.CharField()
    queue_depth = serializers.IntegerField()


class AlertOut(serializers.ModelSerializer):
    camera_unit = serializers.CharField(source="camera_unit.identifier", read_only=True)
    first_verifier = serializers.CharField(source="first_verifier.username", read_only=True, default=None)
    second_verifier = serializers.CharField(source="second_verifier.username", read_only=True, default=None)
    probe_url = serializers.SerializerMethodField()

    class Meta:
        model = Alert
        fields = [
            "id",
            "session",
            "deployment",
            "camera_unit",
            "entry_id",
            "distance",
            "runner_up",
            "threshold",
            "policy",
            "margin",
            "captured_at",
            "last_seen_at",
            "sighting_count",
            "status",
            "first_verifier",
            "second_verifier",
            "referred_at",
            "located",
            "identity_confirmed",
            "outcome",
            "probe_url",
        ]
        read_only_fields = fields

    def get_probe_url(self, alert: Alert) -> str:
        return f"/alerts/{alert.pk}/probe.jpg"


class NoteIn(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="")


class EngagementIn(serializers.Serializer):
    located = serializers.BooleanField()
    identity_confirmed = serializers.BooleanField(required=False, allow_null=True, default=None)
    outcome = serializers.ChoiceField(choices=Outcome.choices, required=False, allow_blank=True, default="")
    note = serializers.CharField(required=False, allow_blank=True, default="")
    self_described = serializers.DictField(
        child=serializers.CharField(allow_blank=True, allow_null=True),
        required=False,
        default=dict,
        help_text=(
            "Optional equality-monitoring values, only as the located person described themselves: "
            "{field name: one of its choices} (GET /api/v1/equality-fields/). Blank or null values are skipped."
        ),
    )


class CameraUnitOut(serializers.ModelSerializer):
    token_prefix = serializers.SerializerMethodField()
    token_issued_at = serializers.SerializerMethodField()
    token_last_used_at = serializers.SerializerMethodField()

    class Meta:
        model = CameraUnit
        fields = [
            "id",
            "identifier",
            "description",
            "force",
            "active",
            "standalone",
            "token_prefix",
            "token_issued_at",
            "token_last_used_at",
        ]
        read_only_fields = fields

    def _token(self, unit: CameraUnit) -> CameraToken | None:
        return next((t for t in unit.api_tokens.all() if t.revoked_at is None), None)

    def get_token_prefix(self, unit: CameraUnit) -> str | None:
        token = self._token(unit)
        return token.prefix if token else None

    def get_token_issued_at(self, unit: CameraUnit) -> str | None:
        token = self._token(unit)
        return token.issued_at.isoformat() if token else None

    def get_token_last_used_at(self, unit: CameraUnit) -> str | None:
        token = self._token(unit)
        return token.last_used_at.isoformat() if token and token.last_used_at else None


class CameraUnitIn(serializers.Serializer):
    identifier = serializers.SlugField(max_length=64)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    force = serializers.CharField(max_length=100)


class CameraUnitDeactivateIn(serializers.Serializer):
    reason = serializers.CharField(help_text="Why the unit is taken out of use (lost, broken, re-purposed...).")
    linked = serializers.BooleanField(
        required=False,
        default=False,
        help_text="The unit is now linked to CCTV, body-worn video or ANPR: no longer standalone, never reactivated.",
    )


class CameraUnitReactivateIn(serializers.Serializer):
    reason = serializers.CharField(help_text="Why the unit can be used again (found and checked, repaired...).")


class IssuedTokenOut(serializers.Serializer):
    camera_unit = serializers.CharField()
    token = serializers.CharField(help_text="Shown once: only its sha256 digest is stored.")
    prefix = serializers.CharField()
