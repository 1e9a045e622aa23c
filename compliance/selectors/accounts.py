"""Reads of accounts and the audit log, restricted by role."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Case, Prefetch, QuerySet, When
from knox.models import get_token_model

from compliance.choices import AppointmentStatus, Role
from compliance.models import AuditEvent, RoleAppointment, TrainingRecord, User
from compliance.permissions import has_role


def user_list(*, user: Any) -> QuerySet[User]:
    """Accounts the user may manage: all of them for an Administrator, none for anyone else."""
    if not has_role(user, Role.ADMINISTRATOR):
        return User.objects.none()
    return User.objects.prefetch_related(
        Prefetch("training_records", queryset=TrainingRecord.objects.order_by("-expires_on")),
        Prefetch(
            "appointments",
            queryset=RoleAppointment.objects.filter(status=AppointmentStatus.PENDING).select_related("proposed_by"),
            to_attr="pending_appointments",
        ),
    ).order_by("role", "username")


def user_get(*, user: Any, pk: int) -> User:
    return user_list(user=user).get(pk=pk)


def api_tokens_of(*, user: User) -> QuerySet[Any]:
    """The user's API tokens (digests, prefixes and expiry; never a token), oldest first."""
    return get_token_model().objects.filter(user=user).order_by("created")


# What makes an Administrator one who set an account up: they chose its role, or they could have chosen how it
# signs in (a password reset, an authenticator reset, re-enabling it), so they may be the one signing in as it.
SET_UP_ACTIONS = (
    "account.created",
    "account.role_changed",
    "account.appointment_proposed",
    "account.password_reset",
    "account.2fa_reset",
    "account.enabled",
)


def appointed_by(*, user: User, by: User) -> bool:
    """Whether `by` set up `user`'s account: created it, changed its role, proposed an appointment for it, reset its
    password or authenticator, or re-enabled it (the record of these stays, whatever the account's holder did
    since: an Administrator who set up another may be holding it)."""
    return AuditEvent.objects.filter(
        action__in=SET_UP_ACTIONS,
        actor_id=by.pk,
        target_type=User._meta.label_lower,
        target_id=str(user.pk),
    ).exists()


def appointment_linked(*, a: User, b: User) -> bool:
    """Whether one of two Administrators set the other up: one person may be behind both accounts."""
    return appointed_by(user=a, by=b) or appointed_by(user=b, by=a)


def second_factor_to_set_up(*, user: User) -> bool:
    """Whether the account must sign in with a second factor (its role, or the role an appointment pending for it
    would give, is in LFR_SECOND_FACTOR_ROLES) but has no confirmed authenticator, and no Administrator has reset
    one: whoever knows its password would set up the first one, so its recovery takes two Administrators."""
    if user.has_authenticator() or user.second_factor_reset_by_id is not None:
        return False
    if user.role in settings.LFR_SECOND_FACTOR_ROLES:
        return True
    return RoleAppointment.objects.filter(
        user=user, status=AppointmentStatus.PENDING, role__in=settings.LFR_SECOND_FACTOR_ROLES
    ).exists()


def pending_appointment(*, user: User) -> RoleAppointment | None:
    """The account's appointment awaiting a second Administrator, if any."""
    return (
        RoleAppointment.objects.filter(user=user, status=AppointmentStatus.PENDING)
        .select_related("proposed_by")
        .first()
    )


def appointments_of(*, user: User) -> QuerySet[RoleAppointment]:
    """An account's appointments, newest first, with who proposed and who decided them."""
    return user.appointments.select_related("proposed_by", "decided_by").order_by("-proposed_at", "-pk")


def appointment_list(*, user: Any) -> QuerySet[RoleAppointment]:
    """Appointments, newest first (Administrators only), pending ones first."""
    if not has_role(user, Role.ADMINISTRATOR):
        return RoleAppointment.objects.none()
    return RoleAppointment.objects.select_related("user", "proposed_by", "decided_by").order_by(
        Case(When(status=AppointmentStatus.PENDING, then=0), default=1), "-proposed_at", "-pk"
    )


def appointments_for_approval(*, user: Any) -> QuerySet[RoleAppointment]:
    """Pending appointments `user` did not propose and that are not their own: the ones they might approve."""
    return (
        appointment_list(user=user)
        .filter(status=AppointmentStatus.PENDING)
        .exclude(proposed_by_id=user.pk)
        .exclude(user_id=user.pk)
    )


def audit_event_list(*, user: Any) -> QuerySet[AuditEvent]:
    """The audit log, newest first: the DPO reads everything; Administrators see account events only."""
    if has_role(user, Role.DPO):
        return AuditEvent.objects.order_by("-seq")
    if has_role(user, Role.ADMINISTRATOR):
        return AuditEvent.objects.filter(action__regex=r"^(account|training|auth|api_token)\.").order_by("-seq")
    return AuditEvent.objects.none()
