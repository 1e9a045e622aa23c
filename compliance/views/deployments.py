"""Deployment pages: list, application form, detail with timeline, decisions, transitions, records, PDFs, dashboards."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.text import get_text_list
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_http_methods

from compliance import gates, transparency
from compliance.choices import FIELD_ROLES, DeploymentStatus, Rank, Role
from compliance.forms_deployments import (
    DecisionForm,
    DeploymentForm,
    LeafletForm,
    ReasonForm,
    ReviewForm,
    SignageForm,
    TeamForm,
)
from compliance.models import CameraUnit, Deployment
from compliance.permissions import (
    has_authorising_rank,
    has_role,
    minimum_authorising_rank,
    require_authorising_rank,
)
from compliance.selectors import deployments as selectors
from compliance.services import deployments as svc
from compliance.views.home import register_home_panel
from lfr_portal.errors import ServiceError, add_to_form

S = DeploymentStatus

# action -> (button label, service, roles offered the button, states it applies to, danger?)
REASONED_ACTIONS: dict[str, tuple[Any, Any, tuple[str, ...], bool]] = {
    "suspend": (_lazy("Suspend"), svc.deployment_suspend, (Role.AUTHORISING_OFFICER, Role.DPO), True),
    "resume": (_lazy("Resume"), svc.deployment_resume, (Role.AUTHORISING_OFFICER,), False),
    "revoke": (_lazy("Revoke"), svc.deployment_revoke, (Role.AUTHORISING_OFFICER, Role.DPO), True),
    "cancel": (_lazy("Cancel deployment"), svc.deployment_cancel, (Role.AUTHORISING_OFFICER, Role.APPLICANT), True),
    "close": (_lazy("Close (complete) now"), svc.deployment_close, (Role.AUTHORISING_OFFICER,), False),
}
# What an Authorising Officer may do only at the minimum authorising rank (the services call
# require_authorising_rank): deciding, and lifting, revoking or closing a deployment. Suspending and cancelling stay
# open to any AO; the DPO revokes without a rank.
RANKED_ACTIONS = frozenset({"resume", "revoke", "close"})
RANKED_VERBS = {
    "decide": _lazy("authorise or reject"),
    "resume": _lazy("resume"),
    "revoke": _lazy("revoke"),
    "close": _lazy("close"),
}


def _get(request: HttpRequest, pk: int) -> Deployment:
    try:
        return selectors.deployment_get(user=request.user, pk=pk)
    except Deployment.DoesNotExist as exc:
        raise Http404 from exc


def below_authorising_rank(user: Any) -> bool:
    """An Authorising Officer under the minimum authorising rank: pages withhold what only that rank may do."""
    return has_role(user, Role.AUTHORISING_OFFICER) and not has_authorising_rank(user)


def authorising_rank_note(user: Any, then: str = "") -> str:
    """Why an Authorising Officer is not offered a decision: the configured minimum rank and theirs, then `then`."""
    note = _("Authorising needs the rank of %(min)s or above; you are %(rank)s.") % {
        "min": minimum_authorising_rank().label,
        "rank": Rank(user.rank).label,
    }
    return f"{note} {then}" if then else note


def _role_and_state_actions(user: Any, deployment: Deployment) -> list[dict[str, Any]]:
    actions: list[dict[str, Any]] = []
    is_applicant = deployment.applicant_id == user.pk
    used = svc.deployment_was_used(deployment.pk)
    for name, (label, _service, roles, danger) in REASONED_ACTIONS.items():
        sources = svc.TRANSITIONS["complete" if name == "close" else name][0]
        if name == "close" and used:
            sources = sources | {S.SUBMITTED}  # voided after use: closing is how it ends early
        if deployment.status not in sources or not has_role(user, *roles):
            continue
        if has_role(user, Role.APPLICANT) and (not is_applicant or deployment.status == S.AUTHORISED):
            continue
        if name == "cancel" and used:
            continue  # a deployment that ran is closed, reviewed and published
        if name == "resume" and is_applicant:
            continue  # lifting a suspension is a decision: never on one's own application
        actions.append({"name": name, "label": label, "danger": danger})
    return actions


def available_actions(user: Any, deployment: Deployment) -> list[dict[str, Any]]:
    """Buttons to offer; presentation only (the services decide), so users are not shown dead ends."""
    offered = _role_and_state_actions(user, deployment)
    if below_authorising_rank(user):
        offered = [a for a in offered if a["name"] not in RANKED_ACTIONS]
    return offered


def _may_decide(user: Any, deployment: Deployment) -> bool:
    """Authorise or reject (svc._require_decider): an AO who is not the applicant, of the role and state alone."""
    return (
        has_role(user, Role.AUTHORISING_OFFICER)
        and deployment.status == S.SUBMITTED
        and deployment.applicant_id != user.pk
    )


def withheld_for_rank(user: Any, deployment: Deployment) -> str:
    """What an AO below the minimum rank would otherwise be offered here, and why not; "" when nothing is."""
    if not below_authorising_rank(user):
        return ""
    names = ["decide"] if _may_decide(user, deployment) else []
    names += [a["name"] for a in _role_and_state_actions(user, deployment) if a["name"] in RANKED_ACTIONS]
    if not names:
        return ""
    verbs = get_text_list([str(RANKED_VERBS[name]) for name in names], _("or"))
    return authorising_rank_note(
        user, _("Another Authorising Officer must %(verbs)s this deployment.") % {"verbs": verbs}
    )


@login_required
def deployment_list_view(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status") or None
    if status and status not in S.values:
        status = None
    deployments = selectors.deployment_search(
        selectors.deployment_list(user=request.user, status=status), request.GET.get("q", "")
    )
    return render(
        request,
        "deployments/list.html",
        {"deployments": deployments, "statuses": S.choices, "status": status, "q": request.GET.get("q", "")},
    )


@login_required
@require_http_methods(["GET", "POST"])
def deployment_create_view(request: HttpRequest) -> HttpResponse:
    if not has_role(request.user, Role.APPLICANT):
        raise Http404
    form = DeploymentForm(request.POST or None, initial={"alert_policy": "threshold"})
    if request.method == "POST" and form.is_valid():
        try:
            deployment = svc.deployment_create(actor=request.user, **form.service_kwargs())
        except ServiceError as exc:
            add_to_form(form, exc)
        else:
            messages.success(request, _("Draft %(ref)s saved.") % {"ref": deployment.reference})
            return redirect("deployment_detail", pk=deployment.pk)
    return render(request, "deployments/form.html", {"form": form, "deployment": None})


@login_required
@require_http_methods(["GET", "POST"])
def deployment_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    deployment = _get(request, pk)
    form = DeploymentForm(request.POST or None, initial=DeploymentForm.initial_for(deployment))
    # A camera on the application that has since been made inactive stays a choice, so saving keeps it.
    form.fields["camera_units"].queryset = CameraUnit.objects.filter(
        Q(active=True) | Q(pk__in=deployment.camera_units.values("pk"))
    )
    if request.method == "POST" and form.is_valid():
        kwargs = form.service_kwargs()
        # Windows and cameras are sent only when the user changed them: the form shows times to the minute, so
        # resending unchanged windows could alter them, and any change to them is material (it voids).
        if kwargs.get("windows") is None:  # the text the form showed: unchanged (clean_windows)
            kwargs.pop("windows", None)
        if "camera_units" not in form.changed_data:
            kwargs.pop("camera_unit_ids")
        try:
            updated = svc.deployment_update(actor=request.user, deployment=deployment, **kwargs)
        except ServiceError as exc:
            add_to_form(form, exc)
        else:
            if deployment.status != updated.status and updated.status == S.SUBMITTED:
                messages.warning(
                    request,
                    _("This was a material change: the authorisation is void and %(ref)s needs a fresh decision.")
                    % {"ref": updated.reference},
                )
            else:
                messages.success(request, _("%(ref)s saved.") % {"ref": updated.reference})
            return redirect("deployment_detail", pk=pk)
    return render(request, "deployments/form.html", {"form": form, "deployment": deployment})


def _figures(deployment: Deployment) -> list[tuple[Any, Any]]:
    record = transparency.deployment_record(deployment)
    return [(label, record[key]) for key, label in transparency.COLUMNS]


@login_required
def deployment_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    from compliance.views.eu_ai_act import eu_panel_context  # imported here: the EU pages build on this module

    deployment = _get(request, pk)
    user = request.user
    now = timezone.now()
    report = gates.deployment_gates(deployment, at=now) if deployment.status in (S.AUTHORISED, S.SUSPENDED) else None
    is_applicant = deployment.applicant_id == user.pk
    records_open = deployment.status in svc.RECORDS_EDITABLE_STATES and svc.is_team_member(user, deployment)
    context = {
        "deployment": deployment,
        "authorisations": deployment.authorisations.select_related("decided_by"),
        "problems": svc.application_problems(deployment) if deployment.status == S.DRAFT else {},
        "gate_report": report,
        "signage": selectors.signage_list(user=user, deployment=deployment),
        "leaflets": selectors.leaflet_list(user=user, deployment=deployment),
        "timeline": selectors.deployment_timeline(user=user, deployment=deployment),
        "actions": available_actions(user, deployment),
        "can_edit": is_applicant and deployment.status in svc.EDITABLE_STATES,
        "can_submit": is_applicant and deployment.status == S.DRAFT,
        "can_decide": _may_decide(user, deployment) and has_authorising_rank(user),
        "rank_note": withheld_for_rank(user, deployment),
        "version": svc.application_version(deployment) if deployment.status == S.SUBMITTED else "",
        "can_review": has_role(user, Role.AUTHORISING_OFFICER) and svc.review_open(deployment) and not is_applicant,
        "published": transparency.is_published(deployment),
        "can_record": records_open,
        "can_record_removal": svc.is_team_member(user, deployment) and deployment.status in svc.SIGN_REMOVAL_STATES,
        "can_manage_team": is_applicant and deployment.status in (S.DRAFT, S.SUBMITTED, S.AUTHORISED, S.SUSPENDED),
        "figures": _figures(deployment),
        "review": getattr(deployment, "review", None),
        **eu_panel_context(user, deployment),
    }
    return render(request, "deployments/detail.html", context)


@login_required
@require_http_methods(["POST"])
def deployment_submit_view(request: HttpRequest, pk: int) -> HttpResponse:
    deployment = _get(request, pk)
    try:
        svc.deployment_submit(actor=request.user, deployment=deployment)
    except ServiceError as exc:
        if exc.status_code != 400:
            raise
        messages.error(request, _("%(msg)s Fix the items listed under “Before you can submit”.") % {"msg": exc.message})
    else:
        messages.success(request, _("%(ref)s submitted for authorisation.") % {"ref": deployment.reference})
    return redirect("deployment_detail", pk=pk)


@login_required
@require_http_methods(["GET", "POST"])
def deployment_action_view(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    if action not in REASONED_ACTIONS:
        raise Http404
    deployment = _get(request, pk)
    if action in RANKED_ACTIONS and below_authorising_rank(request.user):
        require_authorising_rank(request.user)  # the refusal page names the rank, before a reason is typed
    label, service, _roles, danger = REASONED_ACTIONS[action]
    form = ReasonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            service(actor=request.user, deployment=deployment, reason=form.cleaned_data["reason"])
        except ServiceError as exc:
            if exc.status_code != 400:
                raise
            add_to_form(form, exc)
        else:
            messages.success(
                request, _("%(action)s: done for %(ref)s.") % {"action": label, "ref": deployment.reference}
            )
            return redirect("deployment_detail", pk=pk)
    return render(
        request,
        "deployments/action.html",
        {"deployment": deployment, "form": form, "label": label, "danger": danger, "action": action},
    )


@login_required
@require_http_methods(["GET", "POST"])
def deployment_decide_view(request: HttpRequest, pk: int) -> HttpResponse:
    deployment = _get(request, pk)
    if below_authorising_rank(request.user):
        require_authorising_rank(request.user)  # the refusal page names the rank, before a rationale is written
    # The version the AO read on the deployment page (its link carries it), else the one shown here.
    read = request.GET.get("version") or svc.application_version(deployment)
    form = DecisionForm(request.POST or None, initial={"reviewed_version": read})
    used = svc.deployment_was_used(deployment.pk)
    if used:  # it ran before a change voided it: authorise the change, or close it (never reject it off the record)
        form.fields["decision"].choices = [c for c in form.fields["decision"].choices if c[0] != "reject"]
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if data["decision"] == "authorise":
                svc.deployment_authorise(
                    actor=request.user,
                    deployment=deployment,
                    rationale=data["rationale"],
                    conditions=data["conditions"],
                    expires_at=data["expires_at"],
                    match_threshold=data["match_threshold"],
                    reviewed_version=data["reviewed_version"],
                )
                messages.success(request, _("%(ref)s authorised.") % {"ref": deployment.reference})
            else:
                svc.deployment_reject(
                    actor=request.user,
                    deployment=deployment,
                    rationale=data["rationale"],
                    reviewed_version=data["reviewed_version"],
                )
                messages.success(request, _("%(ref)s rejected.") % {"ref": deployment.reference})
        except ServiceError as exc:
            if exc.status_code != 400:
                raise
            add_to_form(form, exc)
        else:
            return redirect("deployment_detail", pk=pk)
    return render(
        request,
        "deployments/decide.html",
        {"deployment": deployment, "form": form, "problems": svc.application_problems(deployment), "used": used},
    )


@login_required
@require_http_methods(["GET", "POST"])
def deployment_review_view(request: HttpRequest, pk: int) -> HttpResponse:
    deployment = _get(request, pk)
    form = ReviewForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            svc.deployment_review(actor=request.user, deployment=deployment, **form.cleaned_data)
        except ServiceError as exc:
            if exc.status_code != 400:
                raise
            add_to_form(form, exc)
        else:
            messages.success(request, _("Review recorded; %(ref)s is published.") % {"ref": deployment.reference})
            return redirect("deployment_detail", pk=pk)
    return render(
        request,
        "deployments/simple_form.html",
        {
            "deployment": deployment,
            "form": form,
            "heading": _("Post-deployment review"),
            "button": _("Record review"),
            "intro": _(
                "Recording the review publishes the deployment record on the transparency page. After that its "
                "alerts can no longer be reviewed or have engagements recorded: check with the team that every "
                "alert has been dealt with first."
            ),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def deployment_team_view(request: HttpRequest, pk: int) -> HttpResponse:
    deployment = _get(request, pk)
    candidates = selectors.field_officer_candidates(user=request.user)
    form = TeamForm(
        request.POST or None, candidates=candidates, initial={"officers": list(deployment.assigned_officers.all())}
    )
    if request.method == "POST" and form.is_valid():
        try:
            svc.deployment_set_assigned_officers(
                actor=request.user, deployment=deployment, officer_ids=[u.pk for u in form.cleaned_data["officers"]]
            )
        except ServiceError as exc:
            if exc.status_code != 400:
                raise
            add_to_form(form, exc)
        else:
            messages.success(request, _("Team updated."))
            return redirect("deployment_detail", pk=pk)
    return render(
        request,
        "deployments/simple_form.html",
        {"deployment": deployment, "form": form, "heading": _("Assigned officers"), "button": _("Save team")},
    )


def _as_shown(value: Any) -> Any:
    """A value as the form showed it: times to the minute (LocalDateTimeInput). A time recorded with seconds through
    the API is unchanged when posted back as shown, so recording a sign's removal does not also rewrite, and so
    edit, when the signs were placed (an edit is refused once the deployment completes; a removal is not)."""
    return value.replace(second=0, microsecond=0) if isinstance(value, datetime.datetime) else value


@login_required
@require_http_methods(["GET", "POST"])
def signage_form_view(request: HttpRequest, pk: int, record_pk: int | None = None) -> HttpResponse:
    deployment = _get(request, pk)
    record = None
    initial: dict[str, Any] = {"placed_at": timezone.localtime().replace(second=0, microsecond=0)}
    if record_pk is not None:
        record = selectors.signage_list(user=request.user, deployment=deployment).filter(pk=record_pk).first()
        if record is None:
            raise Http404
        initial = {
            "position_description": record.position_description,
            "sign_count": record.sign_count,
            "placed_at": timezone.localtime(record.placed_at),
            "removed_at": timezone.localtime(record.removed_at) if record.removed_at else None,
        }
    form = SignageForm(request.POST or None, request.FILES or None, initial=initial)
    if record is None:
        del form.fields["removed_at"]
    else:
        del form.fields["photo"]
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            if record is None:
                svc.signage_record_add(actor=request.user, deployment=deployment, **data)
            else:
                changed = {name: value for name, value in data.items() if _as_shown(value) != _as_shown(initial[name])}
                svc.signage_record_update(actor=request.user, record=record, **changed)
        except ServiceError as exc:
            if exc.status_code != 400:
                raise
            add_to_form(form, exc)
        else:
            messages.success(request, _("Signage record saved."))
            return redirect("deployment_detail", pk=pk)
    return render(
        request,
        "deployments/simple_form.html",
        {
            "deployment": deployment,
            "form": form,
            "multipart": True,
            "heading": _("Signage record") if record else _("Record signage placed"),
            "button": _("Save"),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def leaflet_form_view(request: HttpRequest, pk: int, record_pk: int | None = None) -> HttpResponse:
    deployment = _get(request, pk)
    record = None
    initial: dict[str, Any] = {"shift_start": timezone.localtime().replace(second=0, microsecond=0)}
    if record_pk is not None:
        record = selectors.leaflet_list(user=request.user, deployment=deployment).filter(pk=record_pk).first()
        if record is None:
            raise Http404
        initial = {
            "count": record.count,
            "shift_start": timezone.localtime(record.shift_start),
            "shift_description": record.shift_description,
        }
    form = LeafletForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            if record is None:
                svc.leaflet_record_add(actor=request.user, deployment=deployment, **form.cleaned_data)
            else:
                svc.leaflet_record_update(actor=request.user, record=record, **form.cleaned_data)
        except ServiceError as exc:
            if exc.status_code != 400:
                raise
            add_to_form(form, exc)
        else:
            messages.success(request, _("Leaflet record saved."))
            return redirect("deployment_detail", pk=pk)
    return render(
        request,
        "deployments/simple_form.html",
        {"deployment": deployment, "form": form, "heading": _("Leaflets handed out"), "button": _("Save")},
    )


def _pdf_response(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


@login_required
def authorisation_pdf_view(request: HttpRequest, pk: int) -> HttpResponse:
    deployment = _get(request, pk)
    content = svc.deployment_export_pdf(actor=request.user, deployment=deployment, kind="authorisation")
    return _pdf_response(content, f"{deployment.reference}-authorisation.pdf")


@login_required
def record_pdf_view(request: HttpRequest, pk: int) -> HttpResponse:
    deployment = _get(request, pk)
    content = svc.deployment_export_pdf(actor=request.user, deployment=deployment, kind="record")
    return _pdf_response(content, f"{deployment.reference}-record.pdf")


# --- Dashboards -------------------------------------------------------------------------------------------------


@register_home_panel(Role.APPLICANT)
def applicant_panel(user: Any) -> dict[str, Any]:
    """Next actions first: what each authorised deployment still lacks for its gates, then the drafts."""
    mine = selectors.deployment_list(user=user)
    return {
        "readiness": selectors.deployment_readiness(user=user),
        "readiness_limit": selectors.READINESS_LIMIT,
        "my_drafts": mine.filter(status=S.DRAFT),
        "my_submitted": mine.filter(status=S.SUBMITTED),
        "my_active": mine.filter(status__in=[S.AUTHORISED, S.SUSPENDED]),
        "my_rejected": mine.filter(status=S.REJECTED)[:5],
    }


@register_home_panel(Role.AUTHORISING_OFFICER)
def authorising_officer_panel(user: Any) -> dict[str, Any]:
    """What awaits this AO: decisions only at the authorising rank, never on their own applications. The ids of
    today's deployments let the page put their watch-list approvals first: no session starts without one."""
    awaiting = selectors.deployment_list(user=user, status=S.SUBMITTED).exclude(applicant=user)
    below = below_authorising_rank(user)
    live_today = list(selectors.deployment_live_on(user=user))
    return {
        "awaiting_decision": awaiting.none() if below else awaiting,
        "authorising_rank_note": authorising_rank_note(user) if below else "",
        "live_today": live_today,
        "live_today_ids": {d.pk for d in live_today},
        "watchlist_approval_hours": settings.LFR_WATCHLIST_APPROVAL_MAX_AGE_HOURS,
        "awaiting_review": selectors.deployment_awaiting_review(user=user).exclude(applicant=user),
    }


@register_home_panel(Role.DPO)
def dpo_panel(user: Any) -> dict[str, Any]:
    qs = selectors.deployment_list(user=user)
    by_state = [(value, label, qs.filter(status=value).count()) for value, label in S.choices]
    return {"deployments_by_state": by_state, "live_today": selectors.deployment_live_on(user=user)}


@register_home_panel(*FIELD_ROLES)
def field_panel(user: Any) -> dict[str, Any]:
    return {"live_today": selectors.deployment_live_on(user=user)}
