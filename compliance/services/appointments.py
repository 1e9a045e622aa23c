"""Appointments to the roles in LFR_APPROVED_ROLES (Administrator, Authorising Officer, DPO by default): one
Administrator proposes, a second approves, and only then does the account hold the role.

Without this, one Administrator could create an Authorising Officer (or a second Administrator account) whose first
password they chose, sign in as it and authorise deployments alone. Rank is a fact of the officer's career that the
role's rules read, but a rise that lets an Authorising Officer authorise is a grant of power like the role: it is
proposed and approved the same way, with the role or on its own (the appointment carries the rank)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from compliance import audit
from compliance.choices import AppointmentStatus, Rank, Role
from compliance.models import RoleAppointment, User
from compliance.permissions import minimum_authorising_rank, require_role
from compliance.selectors.accounts import appointed_by, appointment_linked
from lfr_portal.errors import NotPermitted, RuleViolation


def needs_approval(role: str) -> bool:
    """Whether an Administrator's grant of `role` waits for a second Administrator."""
    return role in settings.LFR_APPROVED_ROLES


# The roles whose powers depend on rank (compliance.permissions.require_authorising_rank).
RANKED_ROLES = (Role.AUTHORISING_OFFICER,)


def rank_rise_needs_approval(*, user: User, rank: int, role: str | None = None) -> bool:
    """Whether raising `user` to `rank` grants authorising power that two Administrators must approve: the rise
    crosses the minimum authorising rank, and the account holds, awaits or (`role`) is being proposed a role in
    RANKED_ROLES that needs approval. Lowering a rank, or a change above or below the threshold, grants nothing."""
    if not user.rank < minimum_authorising_rank() <= rank:
        return False
    roles = {
        user.role,
        role,
        *RoleAppointment.objects.filter(user=user, status=AppointmentStatus.PENDING).values_list("role", flat=True),
    }
    return any(r in RANKED_ROLES and needs_approval(r) for r in roles)


def authorises_once_approved(appointment: RoleAppointment) -> bool:
    """Whether approving `appointment` leaves the account able to authorise deployments (what its approver is told):
    a role in RANKED_ROLES, at the rank the appointment carries or else the account's own."""
    rank = appointment.user.rank if appointment.rank is None else appointment.rank
    return appointment.role in RANKED_ROLES and rank >= minimum_authorising_rank()


def _pending_refusal() -> RuleViolation:
    return RuleViolation(
        _("This account has an appointment awaiting approval: withdraw or decide it first."),
        code="appointment_pending",
        details={"role": [_("An appointment is awaiting approval.")]},
    )


def refuse_while_pending(user: User) -> None:
    """While an appointment of the account awaits approval its role does not change, nor is another proposed."""
    if RoleAppointment.objects.filter(user=user, status=AppointmentStatus.PENDING).exists():
        raise _pending_refusal()


def refuse_while_rank_pending(user: User) -> None:
    """While an appointment carrying a rank awaits approval the rank does not change: the approver decides on the
    rank they were shown."""
    if RoleAppointment.objects.filter(user=user, status=AppointmentStatus.PENDING, rank__isnull=False).exists():
        raise _pending_refusal()


def _grounds_refusal(user: User, role: str, rank: int | None) -> RuleViolation:
    if rank is not None and role == user.role:
        message = _(
            "Give the grounds for raising this account to %(rank)s (for example the promotion order): as %(role)s it "
            "could then authorise deployments, so another Administrator approves the rise on them."
        )
        details = _("Required for this rise in rank.")
    else:
        message = _(
            "Give the grounds for appointing this account %(role)s (for example the posting order): another "
            "Administrator approves the appointment on them."
        )
        details = _("Required for this role.")
    label = Rank(rank).label if rank is not None else ""
    return RuleViolation(
        message % {"role": Role(role).label, "rank": label}, details={"appointment_grounds": [details]}
    )


def appointment_propose(
    *, actor: User, user: User, role: str, grounds: str, rank: int | None = None
) -> RoleAppointment:
    """Record the proposal (called by user_create, user_change_role and user_change_rank, with `user` new or
    locked); audited. The account's role, and `rank` when one is proposed, do not change until another
    Administrator approves."""
    require_role(actor, Role.ADMINISTRATOR, action=_("propose appointments"))
    if rank is not None and rank not in Rank.values:
        raise RuleViolation(_("Unknown rank."), details={"rank": [_("Not a known rank.")]})
    refuse_while_pending(user)
    grounds = grounds.strip()
    if not grounds:
        raise _grounds_refusal(user, role, rank)
    with transaction.atomic():
        try:
            with transaction.atomic():  # the partial unique index is the last word on "one pending per account"
                appointment = RoleAppointment.objects.create(
                    user=user, role=role, previous_role=user.role, rank=rank, grounds=grounds, proposed_by=actor
                )
        except IntegrityError as exc:
            raise _pending_refusal() from exc
        before: dict[str, Any] = {"role": user.role}
        after: dict[str, Any] = {"appointment": appointment.pk, "role": role}
        if rank is not None:
            before["rank"] = Rank(user.rank).label
            after["rank"] = Rank(rank).label
        audit.record(
            "account.appointment_proposed", actor=actor, target=user, before=before, after={**after, "grounds": grounds}
        )
    return appointment


def _lock_pending(actor: User, appointment: RoleAppointment, *, action: str) -> RoleAppointment:
    require_role(actor, Role.ADMINISTRATOR, action=action)
    # The appointment row only: locking the proposer's account too could deadlock two crossed approvals.
    locked = RoleAppointment.objects.select_for_update().get(pk=appointment.pk)
    if not locked.is_pending:
        raise RuleViolation(
            _("This appointment is no longer awaiting approval (%(status)s).")
            % {"status": locked.get_status_display().lower()},
            code="appointment_decided",
        )
    return locked


def _own(actor: User, appointment: RoleAppointment, own_proposal: str) -> NotPermitted | None:
    """Nobody decides their own appointment, nor one they proposed (the proposer may withdraw it)."""
    if actor.pk == appointment.user_id:
        return NotPermitted(_("You cannot decide your own appointment."), code="own_account")
    if actor.pk == appointment.proposed_by_id:
        return NotPermitted(own_proposal, code="own_proposal")
    return None


def _proposed(appointment: RoleAppointment) -> dict[str, Any]:
    """What the appointment would have given, for the audit record of its decision."""
    proposed: dict[str, Any] = {"role": appointment.role}
    if appointment.rank is not None:
        proposed["rank"] = Rank(appointment.rank).label
    return proposed


def _decide(actor: User, locked: RoleAppointment, status: str, note: str) -> None:
    locked.status = status
    locked.decided_by = actor
    locked.decided_at = timezone.now()
    locked.decision_note = note.strip()
    locked.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])


def approval_refusal(*, actor: User, appointment: RoleAppointment) -> NotPermitted | None:
    """Why `actor` may not approve `appointment`, or None. Nobody approves their own appointment or their own
    proposal; nor may an Administrator linked to the proposer by an appointment (one person may hold both
    accounts), nor one who set the account up (`appointed_by`: created it, proposed or gave it a role, reset its
    password or authenticator, re-enabled it) or set a password it has not yet replaced (they may know how to sign
    in as it). The proposer must still be an active Administrator."""
    own = _own(actor, appointment, _("You proposed this appointment: another Administrator must approve it."))
    if own is not None:
        return own
    proposer = appointment.proposed_by
    if appointment_linked(a=actor, b=proposer):
        return NotPermitted(
            _(
                "You set up the Administrator who proposed this appointment, or they set you up: an "
                "Administrator outside that link must approve it."
            ),
            code="same_administrator",
        )
    user = appointment.user
    if appointed_by(user=user, by=actor) or (user.must_change_password and user.password_set_by_id == actor.pk):
        return NotPermitted(
            _(
                "You created this account, proposed or gave it a role, reset its password or authenticator, "
                "re-enabled it, or set a password it has not replaced: another Administrator must approve its "
                "appointment."
            ),
            code="same_administrator",
        )
    if not proposer.has_role(Role.ADMINISTRATOR):
        return NotPermitted(
            _("%(name)s, who proposed this appointment, is no longer an Administrator: reject it.")
            % {"name": proposer.username},
            code="proposer_not_administrator",
        )
    return None


def appointment_approve(*, actor: User, appointment: RoleAppointment, note: str = "") -> RoleAppointment:
    """A second Administrator approves (see `approval_refusal`): the account now holds the role, and the rank the
    appointment carries, if any."""
    with transaction.atomic():
        locked = _lock_pending(actor, appointment, action=_("approve appointments"))
        refusal = approval_refusal(actor=actor, appointment=locked)
        if refusal is not None:
            raise refusal
        user = User.objects.select_for_update().get(pk=locked.user_id)
        before: dict[str, Any] = {"role": user.role}
        after: dict[str, Any] = {"appointment": locked.pk, "role": locked.role}
        user.role = locked.role
        if locked.rank is not None:
            before["rank"] = Rank(user.rank).label
            after["rank"] = Rank(locked.rank).label
            user.rank = locked.rank
        user.save(update_fields=["role", "rank"])
        _decide(actor, locked, AppointmentStatus.APPROVED, note)
        audit.record(
            "account.appointment_approved",
            actor=actor,
            target=user,
            before=before,
            after={**after, "proposed_by": locked.proposed_by.username, "note": locked.decision_note},
        )
    return locked


def appointment_reject(*, actor: User, appointment: RoleAppointment, note: str) -> RoleAppointment:
    """Another Administrator refuses the appointment, saying why; the account keeps the role it had."""
    if not note.strip():
        raise RuleViolation(_("Say why the appointment is rejected."), details={"note": [_("This field is required.")]})
    with transaction.atomic():
        locked = _lock_pending(actor, appointment, action=_("reject appointments"))
        own = _own(actor, locked, _("You proposed this appointment: withdraw it instead of rejecting it."))
        if own is not None:
            raise own
        _decide(actor, locked, AppointmentStatus.REJECTED, note)
        audit.record(
            "account.appointment_rejected",
            actor=actor,
            target=locked.user,
            after={"appointment": locked.pk, **_proposed(locked), "note": locked.decision_note},
        )
    return locked


def appointment_withdraw(*, actor: User, appointment: RoleAppointment) -> RoleAppointment:
    """The proposer takes the proposal back (a mistake, or to propose another role)."""
    with transaction.atomic():
        locked = _lock_pending(actor, appointment, action=_("withdraw appointments"))
        if actor.pk != locked.proposed_by_id:
            raise NotPermitted(
                _("Only the Administrator who proposed an appointment withdraws it; you may reject it."),
                code="not_proposer",
            )
        _decide(actor, locked, AppointmentStatus.WITHDRAWN, "")
        audit.record(
            "account.appointment_withdrawn",
            actor=actor,
            target=locked.user,
            after={"appointment": locked.pk, **_proposed(locked)},
        )
    return locked
