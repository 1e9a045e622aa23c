"""Officers and staff: one role each, a rank, and LFR training records."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from compliance.choices import AppointmentStatus, Rank, Role


class User(AbstractUser):
    """A person who signs in. Role decides what they may do; rank decides whether they may authorise."""

    # Blank while an appointment to the account's first role awaits a second Administrator (RoleAppointment).
    role = models.CharField(_("role"), max_length=32, choices=Role.choices, blank=True)
    rank = models.PositiveSmallIntegerField(_("rank"), choices=Rank.choices, default=Rank.STAFF)
    collar_number = models.CharField(_("collar / staff number"), max_length=32, blank=True)
    # Set when an Administrator chose the password: the user must replace it before anything else, so that no
    # Administrator knows a password in use.
    must_change_password = models.BooleanField(_("must change password"), default=False)
    # Account recovery (compliance.services.accounts): who set the password still to be replaced, and who removed an
    # authenticator not yet replaced. Whoever did one half of a recovery may not do the other while it is pending:
    # with both, they could sign in as the officer.
    password_set_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    second_factor_reset_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    # Raised to sign the account out of every session (a session's hash covers it, as it covers the password).
    session_epoch = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    def _get_session_auth_hash(self, secret: str | None = None) -> str:
        """Django's hash of the password, which each session keeps and checks; with `session_epoch` in it once raised,
        so that raising it ends every session of the account (a password change already does)."""
        if not self.session_epoch:
            return super()._get_session_auth_hash(secret=secret)
        key_salt = "compliance.User.session_epoch"
        return salted_hmac(
            key_salt, f"{self.password}:{self.session_epoch}", secret=secret, algorithm="sha256"
        ).hexdigest()

    @property
    def requires_second_factor(self) -> bool:
        """The roles that must (LFR_SECOND_FACTOR_ROLES), any account that has an authenticator (a change to a role
        without one must not let someone who learnt the password sign in without the officer's phone), and one
        whose authenticator an Administrator removed, until its holder sets up a new one."""
        if self.role in settings.LFR_SECOND_FACTOR_ROLES or self.second_factor_reset_by_id is not None:
            return True  # (a removed authenticator is replaced before anything else, whatever the role)
        return self.has_authenticator()

    def has_authenticator(self) -> bool:
        """Whether the account has a confirmed authenticator (an enrolment not finished does not count)."""
        return self.pk is not None and self.totpdevice_set.filter(confirmed=True).exists()

    def has_role(self, *roles: str) -> bool:
        return self.is_active and self.role in roles

    @property
    def role_label(self) -> str:
        """The role's name, or "No role" for an account whose first role is not yet approved."""
        return Role(self.role).label if self.role in Role.values else str(_("No role"))

    def has_current_training(self, at: datetime.datetime | None = None) -> bool:
        """True when a training record is valid on the given date (default today)."""
        return self.training_records.filter(TrainingRecord.valid_at(at or timezone.now())).exists()


class TrainingRecord(models.Model):
    """LFR training an officer holds; operators and engagement officers need a current one (domain.md 1)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="training_records")
    course = models.CharField(_("course"), max_length=200, default="Live Facial Recognition operator training")
    completed_on = models.DateField(_("completed on"))
    expires_on = models.DateField(_("expires on"))
    recorded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-expires_on"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_on__gt=models.F("completed_on")),
                name="training_expires_after_completion",
                violation_error_message=_("A training record must expire after it was completed."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.course} ({self.completed_on} – {self.expires_on})"

    @staticmethod
    def day_of(at: datetime.datetime) -> datetime.date:
        """The force's local day at `at`, as a training record's dates are (the worker passes UTC times: between
        midnight and 1 am in a British summer, the UTC date is still yesterday's)."""
        return timezone.localdate(at) if timezone.is_aware(at) else at.date()

    @staticmethod
    def valid_at(at: datetime.datetime) -> models.Q:
        """The records valid on the day of `at`: completed by then and not yet expired (inclusive)."""
        day = TrainingRecord.day_of(at)
        return models.Q(completed_on__lte=day, expires_on__gte=day)

    def is_current(self, day: datetime.date | None = None) -> bool:
        day = day or timezone.localdate()
        return self.completed_on <= day <= self.expires_on


class RoleAppointment(models.Model):
    """An Administrator's proposal to give an account a role in LFR_APPROVED_ROLES, which takes effect only when a
    second Administrator approves it: one person cannot mint an Authorising Officer, a DPO or another Administrator.

    It may also carry a rank: a rise that would let the account authorise deployments (an Authorising Officer
    reaching the minimum authorising rank) takes the same two Administrators, and approval applies role and rank
    together. While it is pending the account keeps the role and rank it had (a new account has no role), and at
    most one is pending per account. Decided appointments stay as the record of who proposed and who approved."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="appointments")
    role = models.CharField(_("role"), max_length=32, choices=Role.choices)
    previous_role = models.CharField(_("role before"), max_length=32, choices=Role.choices, blank=True)
    # Null when the appointment leaves the rank as it is.
    rank = models.PositiveSmallIntegerField(_("rank once approved"), choices=Rank.choices, null=True, blank=True)
    grounds = models.TextField(_("grounds"))
    proposed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField(_("proposed at"), default=timezone.now)
    status = models.CharField(
        _("status"), max_length=16, choices=AppointmentStatus.choices, default=AppointmentStatus.PENDING
    )
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.TextField(_("note"), blank=True)

    class Meta:
        ordering = ["-proposed_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(status=AppointmentStatus.PENDING),
                name="one_pending_appointment_per_account",
                violation_error_message=_("This account already has an appointment awaiting approval."),
            ),
            models.CheckConstraint(
                condition=models.Q(status=AppointmentStatus.PENDING, decided_by__isnull=True, decided_at__isnull=True)
                | (~models.Q(status=AppointmentStatus.PENDING) & models.Q(decided_at__isnull=False)),
                name="appointment_decided_when_not_pending",
                violation_error_message=_("A decided appointment records when it was decided; a pending one not."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} as {self.proposal_display} ({self.get_status_display()})"

    @property
    def is_pending(self) -> bool:
        return self.status == AppointmentStatus.PENDING

    @property
    def changes_role(self) -> bool:
        """False for a rank rise alone (the account keeps its role)."""
        return self.role != self.previous_role

    @property
    def proposal_display(self) -> str:
        """What approval gives: "Authorising Officer", or with a rank "Authorising Officer at Superintendent"."""
        if self.rank is None:
            return str(self.get_role_display())
        return str(_("%(role)s at %(rank)s") % {"role": self.get_role_display(), "rank": self.get_rank_display()})
