"""EU AI Act pages of a deployment (domain.md 8), only when settings.LFR_JURISDICTION == "eu": the applicant's record
(objective, urgency, FRIA a–f, EU database reference), the authority's decision (AO or DPO) and the notification log.
Every write goes through compliance.services.eu_ai_act, which decides who may do what."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from compliance.choices import Role
from compliance.forms_deployments import EuAuthorityDecisionForm, EuNotificationForm, EuRecordForm
from compliance.models import Deployment, EuAiActRecord
from compliance.permissions import has_role, require_role
from compliance.selectors import eu_ai_act as eu_selectors
from compliance.services import deployments as deployment_services
from compliance.services import eu_ai_act as eu
from compliance.views.deployments import _get
from lfr_portal.errors import NotPermitted, ServiceError, add_to_form

DECISION_ROLES = (Role.AUTHORISING_OFFICER, Role.DPO)
NOTIFIER_ROLES = (Role.AUTHORISING_OFFICER, Role.DPO, Role.APPLICANT)


def _eu_deployment(request: HttpRequest, pk: int) -> Deployment:
    if not eu.eu_mode():
        raise Http404
    return _get(request, pk)


def may_edit_record(user: Any, deployment: Deployment) -> bool:
    """Presentation only (the service decides): the deployment's own applicant completes the record."""
    return has_role(user, Role.APPLICANT) and deployment.applicant_id == user.pk


def eu_panel_context(user: Any, deployment: Deployment) -> dict[str, Any]:
    """What the deployment page shows of the EU pack; empty outside EU mode, so the section is absent."""
    if not eu.eu_mode():
        return {}
    record = eu_selectors.eu_record_get(user=user, deployment=deployment)
    open_use = record.terminated_at is None
    applicant = may_edit_record(user, deployment)
    record_open = open_use and deployment.status in deployment_services.EDITABLE_STATES  # as eu_record_update
    return {
        "eu": {
            "record": record,
            "fria": [
                (EuAiActRecord._meta.get_field(name).verbose_name, getattr(record, name)) for name in eu.FRIA_FIELDS
            ],
            "fria_missing": eu.fria_missing(record),
            "deadline": eu_selectors.eu_urgency_deadline(record),
            "notifications": eu_selectors.eu_notification_list(user=user, deployment=deployment),
            "can_edit": applicant and record_open,
            # Why the applicant is not offered the record (the service refuses it once the deployment has ended).
            "edit_closed": applicant and open_use and not record_open,
            "can_decide": open_use and has_role(user, *DECISION_ROLES) and deployment.applicant_id != user.pk,
            "can_notify": has_role(user, *NOTIFIER_ROLES),
        }
    }


def _page(request: HttpRequest, deployment: Deployment, form: Any, **context: Any) -> HttpResponse:
    return render(
        request,
        "deployments/eu_form.html",
        {"deployment": deployment, "form": form, **eu_panel_context(request.user, deployment), **context},
    )


@login_required
@require_http_methods(["GET", "POST"])
def eu_record_view(request: HttpRequest, pk: int) -> HttpResponse:
    deployment = _eu_deployment(request, pk)
    if not may_edit_record(request.user, deployment):
        raise NotPermitted(_("Only the applicant may complete this record."), code="not_applicant")
    record = eu_selectors.eu_record_get(user=request.user, deployment=deployment)
    form = EuRecordForm(request.POST or None, initial=EuRecordForm.initial_for(record))
    if request.method == "POST" and form.is_valid():
        try:
            eu.eu_record_update(actor=request.user, deployment=deployment, **form.cleaned_data)
        except ServiceError as exc:
            if exc.status_code != 400:
                raise
            add_to_form(form, exc)
        else:
            messages.success(request, _("The EU AI Act record of %(ref)s is saved.") % {"ref": deployment.reference})
            return redirect("deployment_detail", pk=pk)
    return _page(
        request,
        deployment,
        form,
        heading=_("EU AI Act record"),
        button=_("Save the EU AI Act record"),
        intro=_(
            "The objective, the fundamental rights impact assessment (Art. 27 items a–f) and the EU database "
            "registration reference are required before the Authorising Officer may authorise the use."
        ),
    )


@login_required
@require_http_methods(["GET", "POST"])
def eu_authority_decision_view(request: HttpRequest, pk: int) -> HttpResponse:
    deployment = _eu_deployment(request, pk)
    require_role(request.user, *DECISION_ROLES, action=_("record the authority's decision"))
    record = eu_selectors.eu_record_get(user=request.user, deployment=deployment)
    form = EuAuthorityDecisionForm(
        request.POST or None,
        initial={
            "authority_kind": record.authority_kind,
            "authority_name": record.authority_name,
            "authority_reference": record.authority_reference,
            "decided_on": record.authority_decided_on or timezone.localdate(),
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            updated = eu.eu_authority_decision_record(actor=request.user, deployment=deployment, **form.cleaned_data)
        except ServiceError as exc:
            if exc.status_code != 400:
                raise
            add_to_form(form, exc)
        else:
            if updated.terminated_at is not None:
                messages.warning(
                    request,
                    _("The rejection is recorded: every session has stopped and all data and results are deleted."),
                )
            else:
                messages.success(request, _("The authority's decision is recorded."))
            return redirect("deployment_detail", pk=pk)
    return _page(
        request,
        deployment,
        form,
        heading=_("The authority's decision"),
        button=_("Record the decision"),
        intro=_("Record the decision of the judicial or independent administrative authority on this use (Art. 5(3))."),
    )


@login_required
@require_http_methods(["GET", "POST"])
def eu_notifications_view(request: HttpRequest, pk: int) -> HttpResponse:
    deployment = _eu_deployment(request, pk)
    can_notify = has_role(request.user, *NOTIFIER_ROLES)
    if request.method == "POST":
        require_role(request.user, *NOTIFIER_ROLES, action=_("log authority notifications"))
    form = EuNotificationForm(
        request.POST or None, initial={"notified_at": timezone.localtime().replace(second=0, microsecond=0)}
    )
    if request.method == "POST" and form.is_valid():
        try:
            eu.eu_notification_log(actor=request.user, deployment=deployment, **form.cleaned_data)
        except ServiceError as exc:
            if exc.status_code != 400:
                raise
            add_to_form(form, exc)
        else:
            messages.success(request, _("The notification is logged."))
            return redirect("eu_notifications", pk=pk)
    return _page(
        request,
        deployment,
        form if can_notify else None,
        heading=_("Notifications to the authorities"),
        button=_("Log the notification"),
        intro=_(
            "Each use is notified to the market surveillance authority and the data protection authority (Art. 5(4))."
        ),
        show_notifications=True,
    )
