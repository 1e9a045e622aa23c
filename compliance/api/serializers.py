"""API serializers: shape only. Input and output serializers are separate."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from compliance.audit import EVENT_FIELDS
from compliance.choices import AppointmentStatus, Rank, Role
from compliance.models import AuditEvent, RoleAppointment, TrainingRecord, User
from compliance.services.appointments import authorises_once_approved


class TrainingRecordOut(serializers.ModelSerializer):
    current = serializers.SerializerMethodField()

    class Meta:
        model = TrainingRecord
        fields = ["id", "course", "completed_on", "expires_on", "current"]

    def get_current(self, obj: TrainingRecord) -> bool:
        return obj.is_current()


class AppointmentOut(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    role_display = serializers.CharField(source="get_role_display", read_only=True)
    proposed_by = serializers.CharField(source="proposed_by.username", read_only=True)
    decided_by = serializers.CharField(source="decided_by.username", read_only=True, allow_null=True, default=None)
    rank_display = serializers.CharField(source="get_rank_display", read_only=True, allow_null=True, default=None)
    user_rank = serializers.IntegerField(source="user.rank", read_only=True, help_text="The account's rank now.")
    user_rank_display = serializers.CharField(source="user.get_rank_display", read_only=True)
    authorises_once_approved = serializers.SerializerMethodField(
        help_text="Whether approval leaves the account able to authorise deployments: an Authorising Officer at the "
        "minimum authorising rank (the rank proposed, or else the account's own)."
    )

    def get_authorises_once_approved(self, obj: RoleAppointment) -> bool:
        return authorises_once_approved(obj)

    class Meta:
        model = RoleAppointment
        fields = [
            "id",
            "user",
            "username",
            "role",
            "role_display",
            "previous_role",
            "rank",
            "rank_display",
            "user_rank",
            "user_rank_display",
            "authorises_once_approved",
            "grounds",
            "proposed_by",
            "proposed_at",
            "status",
            "decided_by",
            "decided_at",
            "decision_note",
        ]
        extra_kwargs = {
            "rank": {
                "help_text": "The rank approval gives, with the role: a rise that lets an Authorising Officer "
                "authorise. Null when the rank does not change."
            },
            "previous_role": {"help_text": "The role when proposed; equal to `role` for a rank rise alone."},
        }


class AppointmentApproveIn(serializers.Serializer):
    note = serializers.CharField(max_length=1000, required=False, default="", allow_blank=True)


class AppointmentRejectIn(serializers.Serializer):
    note = serializers.CharField(max_length=1000, help_text="Why the appointment is rejected.")


class UserOut(serializers.ModelSerializer):
    rank_display = serializers.CharField(source="get_rank_display", read_only=True)
    role_display = serializers.CharField(source="get_role_display", read_only=True)
    training_records = TrainingRecordOut(many=True, read_only=True)
    pending_appointment = serializers.SerializerMethodField(
        help_text="A role (or a rank rise that lets an Authorising Officer authorise) proposed for the account, "
        "awaiting a second Administrator; the account does not hold it yet."
    )

    @extend_schema_field(AppointmentOut(allow_null=True))
    def get_pending_appointment(self, obj: User) -> dict | None:
        pending = getattr(obj, "pending_appointments", None)  # prefetched by user_list
        if pending is None:
            pending = list(obj.appointments.filter(status=AppointmentStatus.PENDING).select_related("proposed_by"))
        return AppointmentOut(pending[0]).data if pending else None

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "first_name",
            "last_name",
            "collar_number",
            "role",
            "role_display",
            "rank",
            "rank_display",
            "is_active",
            "training_records",
            "pending_appointment",
        ]


class MeOut(serializers.ModelSerializer):
    rank_display = serializers.CharField(source="get_rank_display", read_only=True)
    second_factor_verified = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "role", "rank", "rank_display", "second_factor_verified"]

    def get_second_factor_verified(self, obj: User) -> bool:
        return bool(getattr(obj, "is_verified", lambda: False)())


def appointment_grounds_field() -> serializers.CharField:
    return serializers.CharField(
        max_length=1000,
        required=False,
        default="",
        allow_blank=True,
        help_text="Required for a role in LFR_APPROVED_ROLES (Administrator, Authorising Officer, DPO), and for a "
        "rank rise that would let an Authorising Officer authorise (to LFR_MIN_AUTHORISING_RANK or above): the role "
        "or rank is proposed on these grounds and held once a second Administrator approves.",
    )


class UserCreateIn(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(write_only=True)
    role = serializers.ChoiceField(choices=Role.choices)
    rank = serializers.ChoiceField(choices=Rank.choices, default=Rank.STAFF)
    first_name = serializers.CharField(max_length=150, required=False, default="")
    last_name = serializers.CharField(max_length=150, required=False, default="")
    email = serializers.EmailField(required=False, default="")
    collar_number = serializers.CharField(max_length=32, required=False, default="")
    appointment_grounds = appointment_grounds_field()


class UserUpdateIn(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    rank = serializers.ChoiceField(choices=Rank.choices, required=False)
    is_active = serializers.BooleanField(required=False)
    appointment_grounds = appointment_grounds_field()


class PasswordResetIn(serializers.Serializer):
    password = serializers.CharField(
        write_only=True, trim_whitespace=False, help_text="A temporary password: replaced at the next sign-in."
    )
    verified_how = serializers.CharField(
        max_length=200, help_text="How the Administrator checked that the request comes from the account's holder."
    )


class SecondFactorResetIn(serializers.Serializer):
    verified_how = serializers.CharField(
        max_length=200, help_text="How the Administrator checked that the request comes from the account's holder."
    )


class SecondFactorResetOut(serializers.Serializer):
    devices_removed = serializers.IntegerField()


class TrainingRecordIn(serializers.Serializer):
    course = serializers.CharField(max_length=200, default="Live Facial Recognition operator training")
    completed_on = serializers.DateField()
    expires_on = serializers.DateField()


class AuditEventOut(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = list(EVENT_FIELDS)


class TimelineEventOut(serializers.Serializer):
    """One event of a deployment's timeline: what the deployment page shows, not the event's payload.

    Everyone who sees the deployment reads its timeline, and its events include alerts and adjudications (who was
    matched, at what distance, what the engagement officer recorded), which most of those roles may not read. The
    DPO reads whole events through `/audit-events/`."""

    seq = serializers.IntegerField()
    at = serializers.DateTimeField()
    action = serializers.CharField()
    actor_username = serializers.CharField()
    actor_role = serializers.CharField()
    reason = serializers.SerializerMethodField()
    snapshot_hash = serializers.SerializerMethodField()

    def get_reason(self, event: AuditEvent) -> str:
        after = event.after if isinstance(event.after, dict) else {}
        if after.get("reason"):
            return str(after["reason"])
        if after.get("reasons"):
            return str(after["reasons"])
        return ", ".join(map(str, after.get("changed") or []))

    def get_snapshot_hash(self, event: AuditEvent) -> str:
        after = event.after if isinstance(event.after, dict) else {}
        return str(after.get("snapshot_hash") or "")
