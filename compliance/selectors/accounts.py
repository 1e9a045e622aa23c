"""Reads of accounts and the audit log, restricted by role."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from knox.models import get_token_model

from compliance.choices import Role
from compliance.models import AuditEvent, TrainingRecord, User
from compliance.permissions import has_role


def user_list(*, user: Any) -> QuerySet[User]:
    """Accounts the user may manage: all of them for an Administrator, none for anyone else."""
    if not has_role(user, Role.ADMINISTRATOR):
        return User.objects.none()
    return User.objects.prefetch_related(
        Prefetch("training_records", queryset=TrainingRecord.objects.order_by("-expires_on"))
    ).order_by("role", "username")


def user_get(*, user: Any, pk: int) -> User:
    return user_list(user=user).get(pk=pk)


def api_tokens_of(*, user: User) -> QuerySet[Any]:
    """The user's API tokens (digests, prefixes and expiry; never a token), oldest first."""
    return get_token_model().objects.filter(user=user).order_by("created")


def appointed_by(*, user: User, by: User) -> bool:
    """Whether `by` created `user`'s account or changed its role (as an Administrator who set up another)."""
    return AuditEvent.objects.filter(
        action__in=["account.created", "account.role_changed"],
        actor_id=by.pk,
        target_type=User._meta.label_lower,
        target_id=str(user.pk),
    ).exists()


def audit_event_list(*, user: Any) -> QuerySet[AuditEvent]:
    """The audit log, newest first: the DPO reads everything; Administrators see account events only."""
    if has_role(user, Role.DPO):
        return AuditEvent.objects.order_by("-seq")
    if has_role(user, Role.ADMINISTRATOR):
        return AuditEvent.objects.filter(action__regex=r"^(account|training|auth|api_token)\.").order_by("-seq")
    return AuditEvent.objects.none()
