"""Account administration: users, roles, ranks, training records, second-factor enrolment and account recovery."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from axes.utils import reset as axes_reset
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import get_token_model

from compliance import audit
from compliance.choices import Rank, Role
from compliance.models import TrainingRecord, User
from compliance.permissions import require_role
from compliance.selectors.accounts import appointment_linked, second_factor_to_set_up
from compliance.services.appointments import (
    appointment_propose,
    needs_approval,
    rank_rise_needs_approval,
    refuse_while_pending,
    refuse_while_rank_pending,
)
from lfr_portal.errors import NotPermitted, RuleViolation


def _user_snapshot(user: User) -> dict[str, Any]:
    return {"username": user.username, "role": user.role, "rank": Rank(user.rank).label, "active": user.is_active}


def user_create(
    *,
    actor: User | None,
    username: str,
    password: str,
    role: str,
    rank: int = Rank.STAFF,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    collar_number: str = "",
    appointment_grounds: str = "",
    must_change_password: bool | None = None,
    skip_password_validation: bool = False,
) -> User:
    """Create an account (Administrator only; `actor=None` only from trusted commands such as seed_demo and
    create_administrator). A role in LFR_APPROVED_ROLES is proposed, on `appointment_grounds`: the account has no
    role until a second Administrator approves it."""
    if actor is not None:
        require_role(actor, Role.ADMINISTRATOR, action=_("create accounts"))
    if role not in Role.values:
        raise RuleViolation(_("Unknown role %(role)s.") % {"role": role}, details={"role": [_("Not a known role.")]})
    proposed = actor is not None and needs_approval(role)
    with transaction.atomic():
        if User.objects.filter(username=username).exists():
            raise RuleViolation(_("The username is taken."), details={"username": [_("The username is taken.")]})
        user = User(
            username=username,
            role="" if proposed else role,
            rank=rank,
            first_name=first_name,
            last_name=last_name,
            email=email,
            collar_number=collar_number,
            # Someone else chose it (by default an Administrator): replaced at first sign-in.
            must_change_password=actor is not None if must_change_password is None else must_change_password,
            password_set_by=actor,
        )
        if not skip_password_validation:
            try:
                validate_password(password, user)
            except DjangoValidationError as exc:
                raise RuleViolation(_("The password is too weak."), details={"password": exc.messages}) from exc
        user.set_password(password)
        user.save()
        audit.record("account.created", actor=actor, target=user, after=_user_snapshot(user))
        if proposed:
            appointment_propose(actor=actor, user=user, role=role, grounds=appointment_grounds)
    return user


def _refuse_own_account(actor: User, user: User, message: str) -> None:
    """Separation of duties: an Administrator never grants themselves a role or rank (e.g. Authorising Officer)."""
    if actor.pk == user.pk:
        raise NotPermitted(message, code="own_account")


def user_change_role(
    *, actor: User, user: User, role: str, appointment_grounds: str = "", rank: int | None = None
) -> User:
    """Change a user's role; audited with before and after. A role in LFR_APPROVED_ROLES is proposed instead, on
    `appointment_grounds`, and the account keeps its role until a second Administrator approves. `rank` (only with
    such a role, see user_update) is a rise proposed with it, approved together."""
    require_role(actor, Role.ADMINISTRATOR, action=_("change roles"))
    if role not in Role.values:
        raise RuleViolation(_("Unknown role %(role)s.") % {"role": role}, details={"role": [_("Not a known role.")]})
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        before = locked.role
        if before == role:
            return locked
        _refuse_own_account(actor, locked, _("You cannot change your own role; another Administrator must."))
        if needs_approval(role):
            appointment_propose(actor=actor, user=locked, role=role, grounds=appointment_grounds, rank=rank)
            return locked
        if rank is not None:
            raise ValueError("A rank is proposed only with a role that needs approval.")
        refuse_while_pending(locked)
        locked.role = role
        locked.save(update_fields=["role"])
        audit.record("account.role_changed", actor=actor, target=locked, before={"role": before}, after={"role": role})
    return locked


def user_change_rank(*, actor: User, user: User, rank: int, appointment_grounds: str = "") -> User:
    """Change a user's rank; audited with before and after. A rise that would let the account authorise
    deployments (see rank_rise_needs_approval) is proposed instead, on `appointment_grounds`, and the account keeps
    its rank until a second Administrator approves; lowering a rank is immediate."""
    require_role(actor, Role.ADMINISTRATOR, action=_("change ranks"))
    if rank not in Rank.values:
        raise RuleViolation(_("Unknown rank."), details={"rank": [_("Not a known rank.")]})
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        before = locked.rank
        if before == rank:
            return locked
        _refuse_own_account(actor, locked, _("You cannot change your own rank; another Administrator must."))
        refuse_while_rank_pending(locked)
        if rank_rise_needs_approval(user=locked, rank=rank):
            # The appointment is to the role the account holds, at the new rank (refused while one is pending).
            appointment_propose(actor=actor, user=locked, role=locked.role, grounds=appointment_grounds, rank=rank)
            return locked
        locked.rank = rank
        locked.save(update_fields=["rank"])
        audit.record(
            "account.rank_changed",
            actor=actor,
            target=locked,
            before={"rank": Rank(before).label},
            after={"rank": Rank(rank).label},
        )
    return locked


def user_update(
    *,
    actor: User,
    user: User,
    role: str | None = None,
    rank: int | None = None,
    is_active: bool | None = None,
    appointment_grounds: str = "",
) -> User:
    """Change any of role, rank and enabled in one transaction: all of them or, if one is refused, none. A role
    proposal and a rank rise that would let that role authorise are one appointment, approved together."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        together = (
            role is not None
            and rank is not None
            and role != user.role
            and needs_approval(role)
            and rank in Rank.values
            and rank_rise_needs_approval(user=user, rank=rank, role=role)
        )
        if role is not None:
            user = user_change_role(
                actor=actor,
                user=user,
                role=role,
                appointment_grounds=appointment_grounds,
                rank=rank if together else None,
            )
        if rank is not None and not together:
            user = user_change_rank(actor=actor, user=user, rank=rank, appointment_grounds=appointment_grounds)
        if is_active is not None:
            user = user_set_active(actor=actor, user=user, active=is_active)
    return user


def user_set_active(*, actor: User, user: User, active: bool) -> User:
    """Enable or disable an account (accounts are disabled, never deleted, so the audit trail stays readable)."""
    require_role(actor, Role.ADMINISTRATOR, action=_("enable or disable accounts"))
    if actor.pk == user.pk and not active:
        raise RuleViolation(_("You cannot disable your own account."))
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.is_active == active:
            return locked
        locked.is_active = active
        locked.save(update_fields=["is_active"])
        audit.record(
            "account.enabled" if active else "account.disabled",
            actor=actor,
            target=locked,
            before={"active": not active},
            after={"active": active},
        )
    return locked


def training_record_add(
    *,
    actor: User | None,
    user: User,
    completed_on: datetime.date,
    expires_on: datetime.date,
    course: str = "Live Facial Recognition operator training",
) -> TrainingRecord:
    """Record LFR training for an officer (Administrator only)."""
    if actor is not None:
        require_role(actor, Role.ADMINISTRATOR, action=_("manage training records"))
    if expires_on <= completed_on:
        raise RuleViolation(
            _("A training record must expire after it was completed."),
            details={"expires_on": [_("Must be after the completion date.")]},
        )
    with transaction.atomic():
        record = TrainingRecord.objects.create(
            user=user, course=course, completed_on=completed_on, expires_on=expires_on, recorded_by=actor or user
        )
        audit.record(
            "training.recorded",
            actor=actor,
            target=record,
            after={"user": user.username, "course": course, "completed_on": completed_on, "expires_on": expires_on},
        )
    return record


def totp_enrolment_start(*, user: User) -> TOTPDevice:
    """Create (or reuse) the user's unconfirmed TOTP device for enrolment."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    return device


def totp_enrolment_confirm(*, user: User, device: TOTPDevice, token: str) -> bool:
    """Confirm enrolment when the token verifies; audited. Returns False on a wrong code."""
    if not device.verify_token(token):
        return False
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        User.objects.filter(pk=user.pk).update(second_factor_reset_by=None)  # the recovery is complete
        audit.record("account.2fa_enrolled", actor=user, target=user, after={"device": device.name})
    return True


def second_factor_verify(*, user: User, token: str) -> TOTPDevice | None:
    """The second step of sign-in: the confirmed device the code verifies, or None. Audited either way: repeated
    wrong codes mean someone holds the password, which belongs on the record, not only in the form."""
    for device in TOTPDevice.objects.filter(user=user, confirmed=True):
        if device.verify_token(token):
            audit.record_now("auth.second_factor_verified", actor=user, target=user)
            return device
    audit.record_now("auth.second_factor_failed", actor=user, target=user)
    return None


def user_password_change(*, actor: User, old_password: str, new_password: str) -> User:
    """Change your own password: the old one must match, the new one pass the validators and differ from it
    (an Administrator set the old one perhaps: they must not know the new). Audited, never the password."""
    errors: dict[str, list[str]] = {}
    if not actor.check_password(old_password):
        errors["old_password"] = [_("Your old password was entered incorrectly.")]
    elif actor.check_password(new_password):
        errors["new_password1"] = [_("Choose a password different from the one you have.")]
    else:
        try:
            validate_password(new_password, actor)
        except DjangoValidationError as exc:
            errors["new_password1"] = exc.messages
    if errors:
        raise RuleViolation(_("The password was not changed."), details=errors)
    with transaction.atomic():
        actor.set_password(new_password)
        actor.must_change_password = False
        actor.password_set_by = None
        # Only these columns: a role, rank or disabling saved meanwhile by an Administrator stands.
        actor.save(update_fields=["password", "must_change_password", "password_set_by"])
        audit.record("account.password_changed", actor=actor, target=actor, after={"username": actor.username})
    return actor


# --- User API tokens (django-rest-knox: digests only) ------------------------------------------------------------


@dataclass(frozen=True)
class IssuedApiToken:
    token: str  # shown once; only its digest is stored
    expires_at: datetime.datetime | None


def api_token_issue(*, actor: User | None, user: User) -> IssuedApiToken:
    """Issue a user API token for a machine client acting as `user`; the token is returned once, never stored.

    `actor=None` only from the server's own command (manage.py api_token). Refused for accounts that could not use
    one: disabled, or of a role that must sign in with a second factor.
    """
    if actor is not None:
        require_role(actor, Role.ADMINISTRATOR, action=_("issue API tokens"))
    if not user.is_active:
        raise RuleViolation(_("The account is disabled."), code="account_disabled")
    if user.requires_second_factor:
        raise RuleViolation(
            _("%(role)s accounts sign in with a second factor: they use the portal session, not an API token.")
            % {"role": user.role_label},
            code="second_factor_role",
        )
    with transaction.atomic():
        instance, token = get_token_model().objects.create(user=user)
        audit.record(
            "api_token.issued",
            actor=actor,
            target=user,
            after={"username": user.username, "token_key": instance.token_key, "expires_at": instance.expiry},
        )
    return IssuedApiToken(token=token, expires_at=instance.expiry)


def api_tokens_revoke(*, actor: User | None, user: User) -> int:
    """Revoke every API token of `user` (audited with their number, never a token); returns how many."""
    if actor is not None:
        require_role(actor, Role.ADMINISTRATOR, action=_("revoke API tokens"))
    with transaction.atomic():
        revoked, _by_model = get_token_model().objects.filter(user=user).delete()
        if revoked:
            audit.record(
                "api_token.revoked", actor=actor, target=user, after={"username": user.username, "tokens": revoked}
            )
    return revoked


def api_tokens_delete_expired(*, user: User | None = None) -> int:
    """Delete expired API tokens (of `user`, or of everyone), audited per account as `api_token.expired` with
    their prefixes; returns how many. Called when a token is presented (knox's clean-up) and every hour by beat."""
    with transaction.atomic():
        expired = get_token_model().objects.filter(expiry__lt=timezone.now()).select_for_update()
        if user is not None:
            expired = expired.filter(user=user)
        by_user: dict[int, list[str]] = {}
        digests = []
        for digest, user_id, prefix in expired.values_list("digest", "user_id", "token_key"):
            by_user.setdefault(user_id, []).append(prefix)
            digests.append(digest)
        if not digests:
            return 0
        get_token_model().objects.filter(digest__in=digests).delete()
        for owner in User.objects.filter(pk__in=by_user).order_by("pk"):
            prefixes = sorted(by_user[owner.pk])
            audit.record(
                "api_token.expired",
                target=owner,
                after={"username": owner.username, "tokens": len(prefixes), "prefixes": prefixes},
            )
    return len(digests)


# --- Account recovery: a forgotten password, a lost authenticator ----------------------------------------------

PASSWORD_RESET = "account.password_reset"
SECOND_FACTOR_RESET = "account.2fa_reset"


def _lock_for_recovery(actor: User, user: User, *, verified_how: str) -> User:
    """The account, locked, once the Administrator may reset it: never their own, and not without saying how they
    checked who asked."""
    require_role(actor, Role.ADMINISTRATOR, action=_("reset sign-in details"))
    if not verified_how.strip():
        raise RuleViolation(
            _("Say how you checked that the request comes from the account's holder."),
            details={"verified_how": [_("This field is required.")]},
        )
    locked = User.objects.select_for_update().get(pk=user.pk)
    _refuse_own_account(actor, locked, _("You cannot reset your own sign-in details; another Administrator must."))
    return locked


def _refuse_other_half(actor: User, pending_by: User | None, refusal: str) -> None:
    """Separation of duties: the Administrator who did one half of a recovery that its holder has not completed
    (a password still to replace, an authenticator still to set up) may not do the other half, nor may an
    Administrator they set up, or who set them up (created, appointed, recovered or re-enabled: `appointed_by`):
    with both, one person could sign in as the officer. (Longer chains of Administrators setting each other up are
    on the audit record, not refused.)"""
    if pending_by is None:
        return
    if pending_by.pk == actor.pk or appointment_linked(a=actor, b=pending_by):
        raise NotPermitted(refusal, code="same_administrator")


def _refuse_without_authenticator_half(user: User) -> None:
    """An account that must use a second factor but has none yet is signed in to by whoever knows its password,
    who then sets up the first authenticator: a password reset alone would be both halves of a recovery. So, as
    for an authenticator that is lost, another Administrator first resets the authenticator (the other half)."""
    if second_factor_to_set_up(user=user):
        raise NotPermitted(
            _(
                "This account must sign in with an authenticator and has none yet, so whoever sets its password "
                "could set one up and sign in as the officer. Two Administrators are needed: one first resets its "
                "authenticator (Reset the authenticator), then another sets the temporary password."
            ),
            code="authenticator_reset_first",
        )


def _recovery_refused(*, actor: User, user: User, reset: str, refusal: NotPermitted, verified_how: str) -> None:
    """Audit a refused reset in its own transaction, so that the record outlives the rollback: an Administrator
    trying the other half of a recovery, or one on their own account, belongs on the record."""
    audit.record_now(
        "account.recovery_refused",
        actor=actor,
        target=user,
        after={
            "username": user.username,
            "reset": reset,
            "code": refusal.code,
            "reason": refusal.message,
            "verified_how": verified_how.strip(),
        },
    )


def user_password_reset(*, actor: User, user: User, password: str, verified_how: str) -> User:
    """Give an account a temporary password (a forgotten one): its holder must replace it at the next sign-in. Every
    session and API token of the account ends, and a lock-out is lifted. Audited, never the password; a refusal by
    the separation of duties is audited too (`account.recovery_refused`)."""
    try:
        return _password_reset(actor=actor, user=user, password=password, verified_how=verified_how)
    except NotPermitted as refusal:
        _recovery_refused(actor=actor, user=user, reset="password", refusal=refusal, verified_how=verified_how)
        raise


def _password_reset(*, actor: User, user: User, password: str, verified_how: str) -> User:
    with transaction.atomic():
        locked = _lock_for_recovery(actor, user, verified_how=verified_how)
        _refuse_without_authenticator_half(locked)
        _refuse_other_half(
            actor,
            locked.second_factor_reset_by,
            _(
                "This account's authenticator was removed by you, or by an Administrator you set up or who set you "
                "up, and its holder has not set up a new one: another Administrator must reset its password."
            ),
        )
        try:
            validate_password(password, locked)
        except DjangoValidationError as exc:
            raise RuleViolation(_("The password is too weak."), details={"password": exc.messages}) from exc
        locked.set_password(password)  # a new password hash signs out every session of the account
        locked.must_change_password = True
        locked.password_set_by = actor
        locked.save(update_fields=["password", "must_change_password", "password_set_by"])
        revoked = api_tokens_revoke(actor=actor, user=locked)
        attempts = axes_reset(username=locked.username)  # the records of failed sign-ins that lock an account
        audit.record(
            PASSWORD_RESET,
            actor=actor,
            target=locked,
            after={
                "username": locked.username,
                "verified_how": verified_how.strip(),
                "api_tokens_revoked": revoked,
                "failed_sign_ins_cleared": attempts > 0,
            },
        )
    return locked


def user_second_factor_reset(*, actor: User, user: User, verified_how: str) -> int:
    """Remove an account's authenticator (a lost or replaced phone) and end every session of the account: its
    holder signs in with their password and sets up a new one. Returns how many devices were removed; audited.

    An account that must use a second factor and has none yet is reset too (0 devices): that is the half of its
    recovery that lets another Administrator set a temporary password (see user_password_reset). A refusal by the
    separation of duties is audited (`account.recovery_refused`)."""
    try:
        return _second_factor_reset(actor=actor, user=user, verified_how=verified_how)
    except NotPermitted as refusal:
        _recovery_refused(actor=actor, user=user, reset="second_factor", refusal=refusal, verified_how=verified_how)
        raise


def _second_factor_reset(*, actor: User, user: User, verified_how: str) -> int:
    with transaction.atomic():
        locked = _lock_for_recovery(actor, user, verified_how=verified_how)
        if locked.must_change_password:
            _refuse_other_half(
                actor,
                locked.password_set_by,
                _(
                    "This account's password, still to be replaced, was set by you, or by an Administrator you set up "
                    "or who set you up: another Administrator must remove its authenticator."
                ),
            )
        first_to_set_up = second_factor_to_set_up(user=locked)
        removed, _by_model = TOTPDevice.objects.filter(user=locked, confirmed=True).delete()
        if not removed and not first_to_set_up:  # nothing was deleted, so nothing is rolled back by the refusal
            raise RuleViolation(_("This account has no authenticator to reset."), code="no_second_factor")
        TOTPDevice.objects.filter(user=locked, confirmed=False).delete()  # a half-finished enrolment goes too
        locked.second_factor_reset_by = actor
        # A session the lost phone verified must not go on to enrol a new one without the password.
        locked.session_epoch += 1
        locked.save(update_fields=["second_factor_reset_by", "session_epoch"])
        audit.record(
            SECOND_FACTOR_RESET,
            actor=actor,
            target=locked,
            before={"devices": removed},
            after={"username": locked.username, "verified_how": verified_how.strip(), "devices": 0},
        )
    return removed
