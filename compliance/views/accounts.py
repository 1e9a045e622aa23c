"""Sign-in with a second factor, and account administration."""

from __future__ import annotations

import base64
import io
from typing import Any

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login

from compliance.choices import Rank, Role
from compliance.forms import (
    AppointmentDecisionForm,
    PasswordResetForm,
    SecondFactorResetForm,
    ThrottledPasswordChangeForm,
    TokenForm,
    TrainingRecordForm,
    UserCreateForm,
    UserRoleRankForm,
)
from compliance.models import RoleAppointment, User
from compliance.permissions import minimum_authorising_rank, require_role
from compliance.selectors.accounts import (
    appointments_for_approval,
    appointments_of,
    pending_appointment,
    second_factor_to_set_up,
    user_get,
    user_list,
)
from compliance.services import accounts as account_services
from compliance.services import appointments as appointment_services
from compliance.views.home import register_home_panel
from lfr_portal.errors import ServiceError, add_to_form


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True


def _qr_svg(uri: str) -> str:
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


@login_required
@require_http_methods(["GET", "POST"])
def otp_enrol(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app: show the secret as a QR code and confirm with a first code."""
    user = request.user
    if user.has_authenticator():
        return redirect("otp_verify")
    device = account_services.totp_enrolment_start(user=user)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if account_services.totp_enrolment_confirm(user=user, device=device, token=form.cleaned_data["token"]):
            otp_login(request, device)
            messages.success(request, _("Your authenticator app is enrolled."))
            return redirect("home")
        form.add_error("token", _("That code is not valid. Check your device's clock and try the current code."))
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return render(
        request,
        "registration/otp_enrol.html",
        {"form": form, "qr": _qr_svg(device.config_url), "secret": secret},
    )


@login_required
@require_http_methods(["GET", "POST"])
def otp_verify(request: HttpRequest) -> HttpResponse:
    """Second step of sign-in for roles that need TOTP."""
    if not request.user.has_authenticator():
        return redirect("otp_enrol")
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = account_services.second_factor_verify(user=request.user, token=form.cleaned_data["token"])
        if device is not None:
            otp_login(request, device)
            return redirect(_safe_next(request))
        form.add_error("token", _("That code is not valid. Enter the current code from your authenticator app."))
    return render(request, "registration/otp_verify.html", {"form": form})


def _safe_next(request: HttpRequest) -> str:
    """`?next=` when it stays on this site, else the home page (a link could otherwise send an officer, once
    verified, to a look-alike page)."""
    target = request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure())
    return target if target and allowed else reverse("home")


@register_home_panel(Role.ADMINISTRATOR)
def administrator_panel(user: Any) -> dict[str, Any]:
    """The appointments this Administrator may approve (not those of a linked proposer, for instance)."""
    waiting = appointments_for_approval(user=user)
    return {
        "appointments_for_approval": [
            a for a in waiting if appointment_services.approval_refusal(actor=user, appointment=a) is None
        ]
    }


@login_required
def user_list_view(request: HttpRequest) -> HttpResponse:
    require_role(request.user, Role.ADMINISTRATOR, action=_("manage accounts"))
    return render(request, "accounts/user_list.html", {"users": user_list(user=request.user)})


@login_required
@require_http_methods(["GET", "POST"])
def user_create_view(request: HttpRequest) -> HttpResponse:
    require_role(request.user, Role.ADMINISTRATOR, action=_("create accounts"))
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = account_services.user_create(actor=request.user, **form.cleaned_data)
        except ServiceError as exc:
            add_to_form(form, exc)
        else:
            created = _("Account %(name)s created.") % {"name": user.username}
            messages.success(request, _appointment_message(user, created))
            return redirect("user_detail", pk=user.pk)
    return render(request, "accounts/user_form.html", {"form": form})


def _appointment_message(user: User, done: str, before: RoleAppointment | None = None) -> str:
    """What an account change did: `done`, and that it proposed a role or a rank rise awaiting a second
    Administrator's approval (one that was pending `before` the change is not news)."""
    pending = pending_appointment(user=user)
    if pending is None or (before is not None and before.pk == pending.pk):
        return done
    if pending.changes_role:
        proposed = _("The appointment as %(role)s is proposed: another Administrator must approve it.") % {
            "role": pending.proposal_display
        }
    else:
        proposed = _("The rise to %(rank)s is proposed: another Administrator must approve it.") % {
            "rank": pending.get_rank_display()
        }
    return f"{done} {proposed}"


@login_required
@require_http_methods(["GET", "POST"])
def user_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request.user, Role.ADMINISTRATOR, action=_("manage accounts"))
    target = user_get(user=request.user, pk=pk)
    appointment = pending_appointment(user=target)
    posted = request.POST.get("form") if request.method == "POST" else None

    def bound(name: str) -> dict[str, str] | None:
        return request.POST if posted == name else None

    form = UserRoleRankForm(
        bound("account"),
        initial={"role": target.role, "rank": target.rank, "is_active": target.is_active},
        current_role=target.role,
    )
    training_form = TrainingRecordForm(bound("training"))
    password_form = PasswordResetForm(bound("password"), prefix="password")
    second_factor_form = SecondFactorResetForm(bound("second_factor"), prefix="second_factor")
    actions = {
        "account": (form, account_services.user_update, _("Account updated.")),
        "training": (training_form, account_services.training_record_add, _("Training record added.")),
        "password": (
            password_form,
            account_services.user_password_reset,
            _("Temporary password set. %(name)s must choose their own when they next sign in.")
            % {"name": target.username},
        ),
        "second_factor": (
            second_factor_form,
            account_services.user_second_factor_reset,
            _("Authenticator removed. %(name)s enrols a new one when they next sign in.") % {"name": target.username},
        ),
    }
    if posted in actions:
        bound_form, service, done = actions[posted]
        if bound_form.is_valid():
            try:
                changed = service(actor=request.user, user=target, **bound_form.cleaned_data)
            except ServiceError as exc:
                add_to_form(bound_form, exc)
            else:
                if posted == "account":
                    done = _appointment_message(changed, done, before=appointment)
                elif posted == "second_factor" and not changed:  # an account that had none yet
                    done = _(
                        "Authenticator reset recorded. Another Administrator may now set a temporary password; "
                        "%(name)s sets up an authenticator when they next sign in."
                    ) % {"name": target.username}
                messages.success(request, done)
                return redirect("user_detail", pk=pk)
    refusal = appointment and appointment_services.approval_refusal(actor=request.user, appointment=appointment)
    # Whether a rise to the authorising rank would be a proposal (none is made while another is pending).
    rise_needs_approval = appointment is None and appointment_services.rank_rise_needs_approval(
        user=target, rank=max(Rank.values)
    )
    return render(
        request,
        "accounts/user_detail.html",
        {
            "target": target,
            "form": form,
            "training_form": training_form,
            "password_form": password_form,
            "second_factor_form": second_factor_form,
            "decision_form": AppointmentDecisionForm(
                prefix="appointment", initial={"appointment": appointment and appointment.pk}
            ),
            "appointment": appointment,
            "approval_refusal": refusal.message if refusal else "",
            "appointment_rank_matters": bool(appointment and appointment.role in appointment_services.RANKED_ROLES),
            "authorises_once_approved": bool(
                appointment and appointment_services.authorises_once_approved(appointment)
            ),
            "minimum_authorising_rank": minimum_authorising_rank().label,
            "rank_rise_needs_approval": rise_needs_approval,
            "appointments": appointments_of(user=target),
            "own_account": target.pk == request.user.pk,
            "second_factor": target.has_authenticator(),
            "second_factor_to_set_up": second_factor_to_set_up(user=target),
        },
    )


DECISIONS = {
    "approve": (
        appointment_services.appointment_approve,
        gettext_lazy("Appointment approved: %(name)s is now %(role)s."),
    ),
    "reject": (appointment_services.appointment_reject, gettext_lazy("Appointment of %(name)s as %(role)s rejected.")),
    "withdraw": (
        appointment_services.appointment_withdraw,
        gettext_lazy("Appointment of %(name)s as %(role)s withdrawn."),
    ),
}


@login_required
@require_http_methods(["POST"])
def appointment_decide_view(request: HttpRequest, pk: int, decision: str) -> HttpResponse:
    """Approve, reject or withdraw the appointment the page showed (its id is posted: a page left open never
    decides one proposed since). Refusals come back as a message on the account's page, which shows what is
    pending now."""
    require_role(request.user, Role.ADMINISTRATOR, action=_("decide appointments"))
    target = user_get(user=request.user, pk=pk)
    if decision not in DECISIONS:
        raise Http404(_("No such decision."))
    service, done = DECISIONS[decision]
    form = AppointmentDecisionForm(request.POST, prefix="appointment")
    if not form.is_valid():
        messages.error(request, _("The form was not complete: nothing was decided."))
        return redirect("user_detail", pk=pk)
    appointment = appointments_of(user=target).filter(pk=form.cleaned_data["appointment"]).first()
    if appointment is None:
        messages.error(request, _("There is no such appointment of this account: nothing was decided."))
        return redirect("user_detail", pk=pk)
    note = {} if decision == "withdraw" else {"note": form.cleaned_data["note"]}
    try:
        service(actor=request.user, appointment=appointment, **note)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, str(done) % {"name": target.username, "role": appointment.proposal_display})
    return redirect("user_detail", pk=pk)


@login_required
def profile_view(request: HttpRequest) -> HttpResponse:
    """The signed-in officer's own profile: role, rank, training records and second-factor status."""
    user = request.user
    return render(
        request,
        "accounts/profile.html",
        {
            "training_records": user.training_records.all(),
            "has_current_training": user.has_current_training(),
            "second_factor": user.has_authenticator(),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def password_change_view(request: HttpRequest) -> HttpResponse:
    """Change your own password (the old one, then the new one twice); required first when an Administrator set
    it. Audited; the session stays signed in. A wrong old password counts as a failed sign-in, and the lock-out
    it leads to ends the session (ThrottledPasswordChangeForm)."""
    form = ThrottledPasswordChangeForm(request.user, request, request.POST or None)
    valid = request.method == "POST" and form.is_valid()
    if form.locked_out:
        # Too many wrong passwords from this session: whoever is at the terminal may not be the officer.
        logout(request)
        messages.error(
            request,
            _(
                "Too many wrong passwords: the account is locked for %(m)s minutes and you have been signed out. "
                "If you did not try to change your password, tell your Administrator."
            )
            % {"m": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)},
        )
        return redirect("login")
    if valid:
        try:
            account_services.user_password_change(
                actor=request.user,
                old_password=form.cleaned_data["old_password"],
                new_password=form.cleaned_data["new_password1"],
            )
        except ServiceError as exc:
            add_to_form(form, exc)
        else:
            update_session_auth_hash(request, request.user)
            messages.success(request, _("Your password has been changed."))
            return redirect("home")
    return render(request, "registration/password_change.html", {"form": form})
