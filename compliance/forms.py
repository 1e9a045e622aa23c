"""Forms for the compliance pages: shape only; policy lives in services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import authenticate
from django.contrib.auth.forms import PasswordChangeForm
from django.utils.translation import gettext_lazy as _

from compliance.choices import Rank, Role


class TokenForm(forms.Form):
    token = forms.CharField(
        label=_("Six-digit code from your authenticator app"),
        min_length=6,
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


APPOINTMENT_GROUNDS_HELP = _(
    "Needed for the roles another Administrator must approve (by default Administrator, Authorising Officer and "
    "Data Protection Officer), for example the posting order, and for raising an Authorising Officer to the "
    "authorising rank, for example the promotion order. Until approval the account keeps its role and rank (a new "
    "one has no role)."
)


def _appointment_grounds() -> forms.CharField:
    return forms.CharField(
        label=_("Grounds for the appointment"),
        required=False,
        max_length=1000,
        help_text=APPOINTMENT_GROUNDS_HELP,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class UserCreateForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    email = forms.EmailField(label=_("Email"), required=False)
    collar_number = forms.CharField(label=_("Collar / staff number"), max_length=32, required=False)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    rank = forms.TypedChoiceField(label=_("Rank"), choices=Rank.choices, coerce=int)
    appointment_grounds = _appointment_grounds()
    password = forms.CharField(
        label=_("Initial password"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )


class UserRoleRankForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    appointment_grounds = _appointment_grounds()
    rank = forms.TypedChoiceField(label=_("Rank"), choices=Rank.choices, coerce=int)
    is_active = forms.BooleanField(label=_("Account enabled"), required=False)

    def __init__(self, *args: Any, current_role: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not current_role:  # an account with no role yet (its appointment awaits approval, or was rejected)
            self.fields["role"].choices = [("", _("— no role —")), *Role.choices]
            self.fields["role"].required = False

    def clean_role(self) -> str | None:
        return self.cleaned_data["role"] or None  # "no role" stays as it is


class AppointmentDecisionForm(forms.Form):
    """Another Administrator approves or rejects a proposed appointment (a rejection says why); the proposer
    withdraws it. The appointment's id is the one the page showed."""

    appointment = forms.IntegerField(widget=forms.HiddenInput)
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=1000,
        help_text=_("What you checked, e.g. the posting order. Required to reject."),
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class TrainingRecordForm(forms.Form):
    course = forms.CharField(label=_("Course"), max_length=200, initial="Live Facial Recognition operator training")
    completed_on = forms.DateField(label=_("Completed on"), widget=forms.DateInput(attrs={"type": "date"}))
    expires_on = forms.DateField(label=_("Expires on"), widget=forms.DateInput(attrs={"type": "date"}))


VERIFIED_HOW_HELP = _(
    "How you checked that the request comes from the account's holder, e.g. in person with their warrant card, or "
    "through their line manager. It goes on the audit record."
)


class PasswordResetForm(forms.Form):
    """An Administrator gives an account a temporary password (its holder forgot theirs)."""

    password = forms.CharField(
        label=_("Temporary password"),
        strip=False,
        help_text=_("Give it to the officer by a secure route: they must replace it when they next sign in."),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password_again = forms.CharField(
        label=_("Temporary password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    verified_how = forms.CharField(label=_("How you checked who asked"), max_length=200, help_text=VERIFIED_HOW_HELP)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        again = cleaned.pop("password_again", None)
        if "password" in cleaned and again is not None and again != cleaned["password"]:
            self.add_error("password_again", _("The two passwords differ."))
        return cleaned


class SecondFactorResetForm(forms.Form):
    """An Administrator removes an account's authenticator (its holder lost or replaced their phone)."""

    verified_how = forms.CharField(label=_("How you checked who asked"), max_length=200, help_text=VERIFIED_HOW_HELP)


class ThrottledPasswordChangeForm(PasswordChangeForm):
    """Django's password change, with the old password checked by signing in: django-axes then counts a wrong one
    as a failed sign-in (audited as `auth.login_failed`) and locks the account out after LFR_LOGIN_FAILURE_LIMIT,
    so someone at an unlocked terminal cannot guess the officer's password without limit. `locked_out` is set
    once the lock-out applies; the view then ends the session."""

    def __init__(self, user: Any, request: Any, *args: Any, **kwargs: Any) -> None:
        self.request = request
        self.locked_out = False
        super().__init__(user, *args, **kwargs)

    def clean_old_password(self) -> str:
        old_password = self.cleaned_data["old_password"]
        signed_in = authenticate(self.request, username=self.user.get_username(), password=old_password)
        self.locked_out = bool(getattr(self.request, "axes_locked_out", False))
        if signed_in is None or signed_in.pk != self.user.pk:
            raise forms.ValidationError(self.error_messages["password_incorrect"], code="password_incorrect")
        return old_password
