"""The DPO workspace (domain.md 6, 7): dashboard, audit search and CSV export, chain verification, retention
policies, evidential holds, audit packs and equality monitoring. Every page is the DPO's alone (holds: AO too)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from compliance.api.views import AuditEventFilter
from compliance.choices import Role
from compliance.models import Deployment, EvidentialHold
from compliance.models.retention import RetentionDataClass
from compliance.permissions import require_role
from compliance.selectors import retention as sel
from compliance.selectors.accounts import audit_event_list
from compliance.selectors.deployments import deployment_get
from compliance.services import retention as svc
from compliance.views.home import register_home_panel
from lfr_portal.errors import ServiceError, add_to_form

AUDIT_PAGE_SIZE = 100


class RetentionPolicyForm(forms.Form):
    """One data class's period; the page shows one per row, each with its own field ids (see _policy_form)."""

    data_class = forms.ChoiceField(choices=RetentionDataClass.choices, widget=forms.HiddenInput)
    period_hours = forms.IntegerField(label=gettext_lazy("Retention period (hours)"), min_value=0)
    note = forms.CharField(label=gettext_lazy("Reason for the change"), required=False)


def _policy_form(data_class: str, data: Any = None, initial: dict[str, Any] | None = None) -> RetentionPolicyForm:
    # Ids per data class (period_hours-alert, …): every row's form is on the same page, and an error summary links
    # to the field it names.
    return RetentionPolicyForm(data, initial=initial, auto_id=f"%s-{data_class or 'unknown'}")


class HoldForm(forms.Form):
    target_type = forms.CharField(label=gettext_lazy("Record type"), initial="matching.alert", max_length=64)
    target_id = forms.CharField(label=gettext_lazy("Record id"), max_length=64)
    reason = forms.CharField(label=gettext_lazy("Reason (investigation, proceedings)"), widget=forms.Textarea)


class LiftForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason for lifting"), widget=forms.Textarea)


class EqualityFieldForm(forms.Form):
    name = forms.SlugField(label=gettext_lazy("Field name"), max_length=50)
    label = forms.CharField(label=gettext_lazy("Label shown to officers"), max_length=100)
    choices = forms.CharField(
        label=gettext_lazy("Choices, one per line (the person's own description)"), widget=forms.Textarea
    )


def _require_dpo(request: HttpRequest, action: str) -> None:
    require_role(request.user, Role.DPO, action=action)


@register_home_panel(Role.DPO)
def dpo_home_panel(user: Any) -> dict[str, Any]:
    """The DPO home page's workspace summary: holds, failed runs and recent exceptions."""
    last_run = sel.retention_run_list(user=user).first()
    return {
        "dpo_active_holds": sel.evidential_hold_list(user=user, active_only=True).count(),
        "dpo_last_run": last_run,
        "dpo_recent_exceptions": sel.compliance_exception_list(user=user).count(),
        "dpo_last_verification": sel.last_chain_verification(user=user),
    }


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    _require_dpo(request, _("open the DPO workspace"))
    user = request.user
    plan = svc.retention_plan()
    context = {
        "deployments": sel.deployments_by_state(user=user),
        "exceptions": sel.compliance_exception_list(user=user)[:25],
        "plan": plan,
        "runs": sel.retention_run_list(user=user)[:10],
        "policies": sel.retention_policy_rows(user=user),
        "holds": sel.evidential_hold_list(user=user, active_only=True)[:25],
        "last_verification": sel.last_chain_verification(user=user),
        "checkpoints": sel.audit_checkpoint_list(user=user)[:5],
        "image_access": sel.alert_image_access_list(user=user)[:50],
        "thresholds": sel.threshold_rows(user=user),
    }
    return render(request, "dpo/dashboard.html", context)


@login_required
@require_POST
def verify_chain(request: HttpRequest) -> HttpResponse:
    report = svc.audit_chain_verify(actor=request.user)
    if report.ok:
        messages.success(request, _("Audit chain intact: %(n)s events verified.") % {"n": report.count})
    else:
        messages.error(
            request,
            _("Audit chain BROKEN at event #%(s)s: %(r)s") % {"s": report.first_broken_seq, "r": report.reason},
        )
    return redirect("dpo_dashboard")


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    _require_dpo(request, _("search the audit log"))
    # Always bound: with no query every filter is empty and the page lists the latest events; an unreadable
    # filter is invalid and shows its error beside its field.
    events = AuditEventFilter(request.GET, queryset=audit_event_list(user=request.user))
    if request.GET.get("format") == "csv":
        if not events.is_valid():
            return render(request, "dpo/audit_log.html", {"filter": events, "events": []}, status=400)
        body = svc.audit_log_export_csv(actor=request.user, events=events.qs, filters=events.form.cleaned_data)
        response = HttpResponse(body, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="audit-log.csv"'
        return response
    rows = events.qs[:AUDIT_PAGE_SIZE] if events.is_valid() else []
    query = request.GET.copy()
    query["format"] = "csv"
    return render(
        request,
        "dpo/audit_log.html",
        {"filter": events, "events": rows, "csv_query": query.urlencode(), "page_size": AUDIT_PAGE_SIZE},
    )


def _row_form(policy: Any, posted: RetentionPolicyForm | None) -> RetentionPolicyForm | None:
    """A row's form: none for a class that is kept; the posted form itself on the row it was sent from, so a
    refusal keeps what was typed beside its errors; else the period in force."""
    if policy.kept:
        return None
    if posted is not None and posted.data.get("data_class") == policy.data_class:
        return posted
    return _policy_form(
        policy.data_class, initial={"data_class": policy.data_class, "period_hours": policy.period_hours}
    )


@login_required
@require_http_methods(["GET", "POST"])
def retention(request: HttpRequest) -> HttpResponse:
    _require_dpo(request, _("manage retention"))
    posted = request.POST.get("data_class", "") if request.method == "POST" else ""
    form = _policy_form(posted, request.POST) if request.method == "POST" else None
    if form is not None and form.is_valid():
        try:
            svc.retention_policy_set(actor=request.user, **form.cleaned_data)
        except ServiceError as exc:
            add_to_form(form, exc)
        else:
            messages.success(request, _("Retention policy updated."))
            return redirect("dpo_retention")
    rows = [(policy, _row_form(policy, form)) for policy in sel.retention_policy_rows(user=request.user)]
    context = {
        "form": form,
        "refused_label": RetentionDataClass(posted).label if posted in RetentionDataClass.values else "",
        "form_in_row": form is not None and any(row_form is form for _policy, row_form in rows),
        "rows": rows,
        "runs": sel.retention_run_list(user=request.user)[:25],
        "plan": svc.retention_plan(),
        "checkpoints": sel.audit_checkpoint_list(user=request.user)[:25],
    }
    return render(request, "dpo/retention.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def holds(request: HttpRequest) -> HttpResponse:
    require_role(request.user, Role.DPO, Role.AUTHORISING_OFFICER, action=_("manage evidential holds"))
    form = HoldForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            svc.evidential_hold_place(actor=request.user, **form.cleaned_data)
        except ServiceError as exc:
            add_to_form(form, exc)
        else:
            messages.success(request, _("Evidential hold placed."))
            return redirect("dpo_holds")
    return render(
        request,
        "dpo/holds.html",
        {"form": form, "holds": sel.evidential_hold_list(user=request.user)[:200], "lift_form": LiftForm()},
    )


@login_required
@require_POST
def hold_lift(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request.user, Role.DPO, Role.AUTHORISING_OFFICER, action=_("lift evidential holds"))
    try:
        hold = sel.evidential_hold_get(user=request.user, pk=pk)
    except EvidentialHold.DoesNotExist as exc:
        raise Http404 from exc
    form = LiftForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give a reason for lifting the hold."))
        return redirect("dpo_holds")
    svc.evidential_hold_lift(actor=request.user, hold=hold, reason=form.cleaned_data["reason"])
    messages.success(request, _("Evidential hold lifted."))
    return redirect("dpo_holds")


@login_required
def audit_pack(request: HttpRequest, pk: int) -> HttpResponse:
    _require_dpo(request, _("export audit packs"))
    try:
        deployment = deployment_get(user=request.user, pk=pk)
    except Deployment.DoesNotExist as exc:
        raise Http404 from exc
    pdf = svc.audit_pack_export(actor=request.user, deployment=deployment)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="audit-pack-{deployment.reference}.pdf"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def equality(request: HttpRequest) -> HttpResponse:
    _require_dpo(request, _("configure equality monitoring"))
    form = EqualityFieldForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        choices = [line.strip() for line in form.cleaned_data["choices"].splitlines() if line.strip()]
        try:
            svc.equality_field_create(
                actor=request.user, name=form.cleaned_data["name"], label=form.cleaned_data["label"], choices=choices
            )
        except ServiceError as exc:
            add_to_form(form, exc)
        else:
            messages.success(request, _("Monitoring field added."))
            return redirect("dpo_equality")
    context = {
        "form": form,
        "fields": sel.equality_field_list(user=request.user),
        "counts": sel.equality_false_alert_counts(user=request.user),
    }
    return render(request, "dpo/equality.html", context)
