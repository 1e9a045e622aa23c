"""Camera units and their API tokens in the portal (issue 6): the Administrator registers units, takes them out of
use and back, and issues, rotates and revokes each unit's token. A new token's secret is shown once, in the
response to the POST that made it; only its digest is stored, so no later page can show it again.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from compliance.choices import Role
from compliance.models import CameraUnit
from compliance.permissions import require_role
from lfr_portal.errors import ServiceError, add_to_form
from matching.selectors import sessions as selectors
from matching.services import cameras as camera_services


class CameraUnitForm(forms.Form):
    identifier = forms.SlugField(
        label=gettext_lazy("Identifier"),
        max_length=64,
        help_text=gettext_lazy("Letters, numbers, hyphens and underscores, e.g. van-3-mast."),
    )
    force = forms.CharField(label=gettext_lazy("Force"), max_length=100)
    description = forms.CharField(label=gettext_lazy("Description"), max_length=200, required=False)


class CameraDeactivateForm(forms.Form):
    # Not required here: the service refuses a blank reason with the message the API gives too.
    reason = forms.CharField(
        label=gettext_lazy("Why is it taken out of use?"),
        help_text=gettext_lazy("For example lost, stolen, broken or re-purposed. Recorded in the audit log."),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
    )
    linked = forms.BooleanField(
        label=gettext_lazy(
            "It is now linked to CCTV, body-worn video or ANPR (it is then no longer standalone and cannot be "
            "returned to use)"
        ),
        required=False,
    )


class CameraReactivateForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Why can it be used again?"),
        help_text=gettext_lazy("For example found and checked, or repaired. Recorded in the audit log."),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
    )


def _require_admin(request: HttpRequest, action: str) -> None:
    require_role(request.user, Role.ADMINISTRATOR, action=action)


def _camera_or_404(request: HttpRequest, pk: int) -> CameraUnit:
    try:
        return selectors.camera_unit_list(user=request.user).get(pk=pk)
    except CameraUnit.DoesNotExist as exc:
        raise Http404 from exc


def _list_page(request: HttpRequest, form: CameraUnitForm) -> HttpResponse:
    return render(
        request,
        "matching/camera_list.html",
        {"rows": selectors.camera_unit_token_rows(user=request.user), "form": form},
    )


@login_required
@require_http_methods(["GET", "POST"])
def camera_list_view(request: HttpRequest) -> HttpResponse:
    _require_admin(request, _("manage camera units"))
    form = CameraUnitForm(request.POST or None, initial={"force": settings.LFR_FORCE_NAME})
    if request.method == "POST" and form.is_valid():
        try:
            unit = camera_services.camera_unit_register(actor=request.user, **form.cleaned_data)
        except ServiceError as exc:
            details = exc.details if isinstance(exc.details, dict) else {}
            for field, errors in details.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
            if not form.errors:
                form.add_error(None, exc.message)
        else:
            messages.success(
                request, _("Camera unit %(c)s is registered. Issue its token next.") % {"c": unit.identifier}
            )
            return redirect("camera_list")
    return _list_page(request, form)


def _show_once(request: HttpRequest, issued: camera_services.IssuedToken, *, rotated: bool) -> HttpResponse:
    return render(request, "matching/camera_token_issued.html", {"issued": issued, "rotated": rotated})


@never_cache
@login_required
@require_POST
def camera_token_issue_view(request: HttpRequest, pk: int) -> HttpResponse:
    _require_admin(request, _("issue camera tokens"))
    camera = _camera_or_404(request, pk)
    try:
        issued = camera_services.camera_token_issue(actor=request.user, camera_unit=camera)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("camera_list")
    return _show_once(request, issued, rotated=False)


@never_cache
@login_required
@require_POST
def camera_token_rotate_view(request: HttpRequest, pk: int) -> HttpResponse:
    _require_admin(request, _("rotate camera tokens"))
    camera = _camera_or_404(request, pk)
    # The form names the token it meant to replace: a resubmitted or concurrent rotation replaces nothing more.
    current = selectors.active_token(camera)
    if str(current.pk if current else "") != request.POST.get("token_id", ""):
        messages.error(request, _("The token of %(c)s has changed since the page was shown.") % {"c": camera})
        return redirect("camera_list")
    try:
        issued = camera_services.camera_token_rotate(actor=request.user, camera_unit=camera)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("camera_list")
    return _show_once(request, issued, rotated=True)


@login_required
@require_POST
def camera_token_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    _require_admin(request, _("revoke camera tokens"))
    camera = _camera_or_404(request, pk)
    try:
        camera_services.camera_token_revoke(actor=request.user, camera_unit=camera)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, _("The token of %(c)s is revoked; the camera can submit nothing more.") % {"c": camera}
        )
    return redirect("camera_list")


def _camera_action_page(request: HttpRequest, camera: CameraUnit, form: forms.Form, action: str) -> HttpResponse:
    return render(request, "matching/camera_action.html", {"camera": camera, "form": form, "action": action})


def _refused(request: HttpRequest, form: forms.Form, exc: ServiceError) -> HttpResponse | None:
    """A refusal of what was typed stays on the form; one of the unit's state (someone got there first) goes back
    to the list, which shows the state now."""
    if exc.status_code == 400:
        add_to_form(form, exc)
        return None
    messages.error(request, exc.message)
    return redirect("camera_list")


@login_required
@require_http_methods(["GET", "POST"])
def camera_deactivate_view(request: HttpRequest, pk: int) -> HttpResponse:
    _require_admin(request, _("take camera units out of use"))
    camera = _camera_or_404(request, pk)
    if request.method == "GET" and not camera.active:
        messages.info(request, _("Camera %(c)s is already out of use.") % {"c": camera.identifier})
        return redirect("camera_list")
    form = CameraDeactivateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            done = camera_services.camera_unit_deactivate(actor=request.user, camera_unit=camera, **form.cleaned_data)
        except ServiceError as exc:
            if (response := _refused(request, form, exc)) is not None:
                return response
        else:
            parts = [
                _("Camera %(c)s is out of use: no session can start on it until it is returned to use.")
                % {"c": camera.identifier}
            ]
            if done.stopped_sessions:
                n = len(done.stopped_sessions)
                parts.append(
                    ngettext("%(n)s live session was stopped.", "%(n)s live sessions were stopped.", n) % {"n": n}
                )
            if done.revoked_token is not None:
                parts.append(_("Its token is revoked."))
            messages.success(request, " ".join(parts))
            return redirect("camera_list")
    return _camera_action_page(request, camera, form, "deactivate")


@login_required
@require_http_methods(["GET", "POST"])
def camera_reactivate_view(request: HttpRequest, pk: int) -> HttpResponse:
    _require_admin(request, _("return camera units to use"))
    camera = _camera_or_404(request, pk)
    if request.method == "GET" and camera.active:
        messages.info(request, _("Camera %(c)s is already in use.") % {"c": camera.identifier})
        return redirect("camera_list")
    form = CameraReactivateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            camera_services.camera_unit_reactivate(actor=request.user, camera_unit=camera, **form.cleaned_data)
        except ServiceError as exc:
            if (response := _refused(request, form, exc)) is not None:
                return response
        else:
            messages.success(
                request,
                _("Camera %(c)s is back in use. Issue it a new token: its old one stays revoked.")
                % {"c": camera.identifier},
            )
            return redirect("camera_list")
    return _camera_action_page(request, camera, form, "reactivate")
