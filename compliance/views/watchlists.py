"""Watch-list pages: compile (upload, progress, entries) for the compiler; review and approve for the AO."""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_http_methods, require_POST

from compliance.choices import DeploymentStatus, Role, WatchlistCategory
from compliance.models import Deployment, DeploymentWindow, EnrolmentBatch, WatchlistEntry
from compliance.models.watchlists import ImageSource, WatchlistStatus
from compliance.permissions import has_role, require_role
from compliance.selectors import watchlists as sel
from compliance.services import watchlists as svc
from compliance.views.deployments import authorising_rank_note, below_authorising_rank
from compliance.views.home import register_home_panel
from lfr_portal.errors import ServiceError, add_to_form
from lfr_portal.uploads import require_complete


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ".jpg,.jpeg,.png,.zip"}))
        # An empty file is accepted here and gets its own verdict on the worker, so the others are still enrolled.
        kwargs.setdefault("allow_empty_file", True)
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        return [single(d, initial) for d in data] if isinstance(data, list | tuple) else [single(data, initial)]


class UploadForm(forms.Form):
    files = MultipleFileField(
        label=_lazy("Images or one zip archive"),
        help_text=_lazy("JPEG or PNG, each showing one face; or one zip of them. Each file gets its own verdict."),
    )
    person_reference = forms.CharField(
        label=_lazy("Person reference (single image only)"),
        required=False,
        max_length=100,
        help_text=_lazy("For several files or a zip, each file's name (without extension) is its person reference."),
    )
    category = forms.ChoiceField(label=_lazy("Category"), choices=WatchlistCategory.choices)
    offence_or_reason = forms.CharField(label=_lazy("Offence or reason"), max_length=300)
    justification = forms.CharField(label=_lazy("Justification"), widget=forms.Textarea(attrs={"rows": 3}))
    legal_basis = forms.CharField(label=_lazy("Legal basis for holding the images"))
    source = forms.ChoiceField(label=_lazy("Image source"), choices=ImageSource.choices)
    source_detail = forms.CharField(label=_lazy("Source detail"), required=False, max_length=200)
    sensitive_or_third_party = forms.BooleanField(label=_lazy("Sensitive or third-party source"), required=False)
    captured_on = forms.DateField(label=_lazy("Image capture date"), widget=forms.DateInput(attrs={"type": "date"}))
    age_justification = forms.CharField(
        label=_lazy("Justification for images older than the configured age"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class ApproveForm(forms.Form):
    acknowledgement = forms.CharField(
        label=_lazy("Acknowledgement (required when the matcher is uncalibrated)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class RemoveForm(forms.Form):
    reason = forms.CharField(label=_lazy("Reason for removal"))


class EntryEditForm(forms.Form):
    """What of an entry may change after enrolment (svc.ENTRY_EDITABLE); the image and its encoding never do."""

    category = forms.ChoiceField(label=_lazy("Category"), choices=WatchlistCategory.choices)
    offence_or_reason = forms.CharField(label=_lazy("Offence or reason"), max_length=300)
    justification = forms.CharField(label=_lazy("Justification"), widget=forms.Textarea(attrs={"rows": 3}))
    age_justification = forms.CharField(
        label=_lazy("Justification for images older than the configured age"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    # When the entry was read for this form (ISO 8601, UTC, as stored): a save never undoes a colleague's change
    # made meanwhile. Text, not a DateTimeField, which would round-trip it through local time.
    read_at = forms.CharField(widget=forms.HiddenInput, required=False)


def _summary(request: HttpRequest, pk: int) -> sel.WatchlistSummary:
    require_role(request.user, *sel.READER_ROLES, action=_("open watch-lists"))
    try:
        return sel.watchlist_summary(user=request.user, deployment_id=pk)
    except Deployment.DoesNotExist as exc:
        raise Http404 from exc


@login_required
def watchlist_index(request: HttpRequest) -> HttpResponse:
    require_role(request.user, *sel.READER_ROLES, action=_("open watch-lists"))
    return render(request, "watchlists/index.html", {"deployments": sel.deployments_for_watchlists(user=request.user)})


@login_required
@require_http_methods(["GET", "POST"])
def watchlist_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The compiler's workspace and the approver's review of one deployment's watch-list."""
    summary = _summary(request, pk)
    user = request.user
    upload_form = UploadForm(
        request.POST if request.POST.get("form") == "upload" else None,
        request.FILES if request.POST.get("form") == "upload" else None,
    )
    approve_form = ApproveForm(request.POST if request.POST.get("form") == "approve" else None)
    refused: ServiceError | None = None
    if request.method == "POST":
        try:
            if upload_form.is_bound and upload_form.is_valid():
                values = dict(upload_form.cleaned_data)
                uploaded = values.pop("files")
                require_complete(uploaded)
                files = [(f.name, f.read()) for f in uploaded]
                batch = svc.enrolment_batch_create(actor=user, deployment=summary.deployment, files=files, **values)
                messages.success(
                    request, _("Upload received: %(n)s file(s) queued for enrolment.") % {"n": batch.total}
                )
                return redirect("watchlist_batch", pk=batch.pk)
            if approve_form.is_bound and approve_form.is_valid():
                svc.watchlist_approve(actor=user, deployment=summary.deployment, **approve_form.cleaned_data)
                messages.success(request, _("Watch-list approved and frozen."))
                return redirect("watchlist_detail", pk=pk)
        except ServiceError as exc:
            refused = exc
            add_to_form(upload_form if upload_form.is_bound else approve_form, exc)
    watchlist = summary.watchlist
    approvable = (
        has_role(user, Role.AUTHORISING_OFFICER)
        and summary.deployment.status == DeploymentStatus.AUTHORISED
        and summary.size > 0
    )
    refusal = approval_refusal(user, summary) if approvable else ""
    context = {
        "summary": summary,
        "deployment": summary.deployment,
        "watchlist": watchlist,
        "entries": sel.entry_list(user=user, watchlist=watchlist) if watchlist else [],
        "batches": sel.batch_list(user=user, watchlist=watchlist)[:10] if watchlist else [],
        "upload_form": upload_form,
        "approve_form": approve_form,
        "can_compile": has_role(user, Role.WATCHLIST_COMPILER) and svc.is_compilable(summary.deployment, watchlist),
        "can_approve": approvable and not refusal,
        "approval_refusal": refusal,
        "remove_form": RemoveForm(),
    }
    if refused is not None and not context["can_compile" if upload_form.is_bound else "can_approve"]:
        # The page no longer shows the form that would hold the message (a wrong role, a watch-list that can no
        # longer change or be approved): the refusal page names the rule, with its status code.
        raise refused
    return render(request, "watchlists/detail.html", context)


def approval_refusal(user: Any, summary: sel.WatchlistSummary) -> str:
    """Why svc.watchlist_approve would refuse this AO whatever the list holds, or "" (presentation only: the
    service decides): rank, the applicant, a contributor (separation of duties). Refusals about the content, or
    enrolment still running, pass: the form shows them when it is sent, keeping what was typed."""
    if below_authorising_rank(user):
        return authorising_rank_note(user, _("Another Authorising Officer must approve this watch-list."))
    if summary.deployment.applicant_id == user.pk:
        return _("You applied for this deployment, so another Authorising Officer must approve its watch-list.")
    if user.pk in summary.compiler_ids:
        return _("You compiled or changed entries of this watch-list, so another Authorising Officer must approve it.")
    return ""


def _progress_context(request: HttpRequest, pk: int) -> dict[str, Any]:
    require_role(request.user, *sel.READER_ROLES, action=_("open watch-lists"))
    try:
        return {"progress": sel.batch_progress(user=request.user, pk=pk)}
    except EnrolmentBatch.DoesNotExist as exc:
        raise Http404 from exc


@login_required
def batch_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Progress of an upload; the progress partial refreshes itself until the per-file report is final."""
    return render(request, "watchlists/batch.html", _progress_context(request, pk))


@login_required
def batch_progress(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "watchlists/_progress.html", _progress_context(request, pk))


@login_required
@require_POST
def entry_remove(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        entry = sel.entry_get(user=request.user, pk=pk)
    except WatchlistEntry.DoesNotExist as exc:
        raise Http404 from exc
    form = RemoveForm(request.POST)
    deployment_id = entry.watchlist.deployment_id
    try:
        if not form.is_valid():
            raise ServiceError(_("Give a reason for removing the entry."))
        svc.watchlist_entry_remove(actor=request.user, entry=entry, reason=form.cleaned_data["reason"])
        messages.success(request, _("Entry removed."))
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("watchlist_detail", pk=deployment_id)


def _entry_context(form: EntryEditForm, entry: WatchlistEntry) -> dict[str, Any]:
    watchlist = entry.watchlist
    deployment = watchlist.deployment
    return {
        "form": form,
        "entry": entry,
        "deployment": deployment,
        "approved": watchlist.status == WatchlistStatus.APPROVED,
        "can_change": svc.is_compilable(deployment, watchlist),
    }


def _stale_entry_page(request: HttpRequest, pk: int, exc: ServiceError) -> HttpResponse:
    """The entry as it is now, read again, with why the save was refused (what was typed is not kept)."""
    try:
        entry = sel.entry_get(user=request.user, pk=pk)
    except WatchlistEntry.DoesNotExist as missing:
        raise Http404 from missing
    current = {name: getattr(entry, name) for name in svc.ENTRY_EDITABLE}
    form = _entry_form({**current, "read_at": entry.updated_at.isoformat()}, entry.watchlist.deployment, entry)
    form.is_valid()
    add_to_form(form, exc)
    return render(request, "watchlists/entry_edit.html", _entry_context(form, entry), status=409)


def _entry_form(data: Any, deployment: Deployment, entry: WatchlistEntry, initial: Any = None) -> EntryEditForm:
    form = EntryEditForm(data, initial=initial)
    # Only the categories this deployment's authorisation allows, and the entry's own so a wrong one shows.
    allowed = set(deployment.watchlist_categories or []) | {entry.category}
    form.fields["category"].choices = [(v, label) for v, label in WatchlistCategory.choices if v in allowed]
    if entry.reference_image.captured_on and entry.reference_image.captured_on < sel.age_limit_date():
        age = form.fields["age_justification"]
        age.required = True
        age.help_text = _("This image is older than %(n)s years: record why it is still fit to use.") % {
            "n": settings.LFR_MAX_IMAGE_AGE_YEARS
        }
    return form


@login_required
@require_http_methods(["GET", "POST"])
def entry_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """The compiler corrects an entry's category, reason or justifications; an approved list needs approving again."""
    require_role(request.user, Role.WATCHLIST_COMPILER, action=_("change watch-list entries"))
    try:
        entry = sel.entry_get(user=request.user, pk=pk)
    except WatchlistEntry.DoesNotExist as exc:
        raise Http404 from exc
    watchlist = entry.watchlist
    deployment = watchlist.deployment
    initial = {name: getattr(entry, name) for name in svc.ENTRY_EDITABLE}
    read_at = entry.updated_at.isoformat()
    form = _entry_form(request.POST or None, deployment, entry, initial={**initial, "read_at": read_at})
    if request.method == "POST" and form.is_valid():
        was_approved = watchlist.status == WatchlistStatus.APPROVED
        values = dict(form.cleaned_data)
        try:
            seen = datetime.datetime.fromisoformat(values.pop("read_at"))
        except ValueError:  # missing or unreadable (a page from before this form had it): never "unchanged"
            seen = datetime.datetime.min.replace(tzinfo=datetime.UTC)
        try:
            updated = svc.watchlist_entry_update(actor=request.user, entry=entry, if_unchanged_since=seen, **values)
        except ServiceError as exc:
            if exc.code == "entry_not_found":
                messages.error(request, exc.message)
                return redirect("watchlist_detail", pk=deployment.pk)
            if exc.code == "entry_changed":
                return _stale_entry_page(request, pk, exc)
            add_to_form(form, exc)
        else:
            # What the service stored, not what the form saw: it normalises the text before comparing.
            if all(getattr(updated, name) == value for name, value in initial.items()):
                messages.info(request, _("Nothing changed."))
            else:
                messages.success(request, _("Entry %(n)s updated.") % {"n": entry.pk})
                if was_approved:
                    messages.warning(request, _("The watch-list changed, so it must be approved again."))
            return redirect("watchlist_detail", pk=deployment.pk)
    return render(request, "watchlists/entry_edit.html", _entry_context(form, entry))


# --- home panels ------------------------------------------------------------------------------------------------


@register_home_panel(Role.WATCHLIST_COMPILER)
def compiler_panel(user: Any) -> dict[str, Any]:
    """Lists that need the compiler (not started, or not approved since their last change) apart from approved
    ones, which need nothing of them: any change to an approved list un-approves it."""
    deployments = sel.deployments_for_watchlists(user=user).filter(status__in=svc.COMPILE_STATES)
    approved = {"watchlist__status": WatchlistStatus.APPROVED}
    return {
        "watchlist_deployments": deployments.exclude(**approved)[:20],
        "approved_watchlist_deployments": deployments.filter(**approved)[:20],
    }


APPROVALS_SHOWN = 20


@register_home_panel(Role.AUTHORISING_OFFICER)
def approver_panel(user: Any) -> dict[str, Any]:
    """Watch-lists failing the gate that this AO may approve: at the authorising rank, not on their own
    application, not a list they shaped (svc.watchlist_approve's refusals); soonest next window first, and only
    deployments with a window still to come (an approval for one whose windows have all ended starts nothing)."""
    if below_authorising_rank(user):
        note = authorising_rank_note(user, _("Another Authorising Officer approves watch-lists."))
        return {"watchlists_to_approve": [], "watchlists_rank_note": note}
    now = timezone.now()
    next_window = DeploymentWindow.objects.filter(deployment_id=OuterRef("pk"), end__gt=now).order_by("start", "id")
    deployments = (
        sel.deployments_for_watchlists(user=user)
        .filter(status=DeploymentStatus.AUTHORISED, entry_count__gt=0)
        .exclude(applicant=user)
        # A subquery, not an aggregate over the windows: that would multiply the rows counted for the entries.
        .annotate(next_start=Subquery(next_window.values("start")[:1]))
        .filter(next_start__isnull=False)
        .order_by("next_start", "id")
    )
    rows, more = [], False
    for deployment in deployments:  # filtered here, then cut: an approved or own list takes no place
        ok, reason = sel.watchlist_gate(deployment, now)
        if ok:
            continue
        watchlist = deployment.watchlist
        if user.pk in sel.contributor_ids(watchlist, list(watchlist.entries.only("pk", "compiler_id"))):
            continue
        if len(rows) == APPROVALS_SHOWN:
            more = True
            break
        rows.append((deployment, reason))
    return {"watchlists_to_approve": rows, "watchlists_more": more, "watchlists_rank_note": ""}
