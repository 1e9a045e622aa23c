"""Calibration records and the false-alert budget in the portal: the DPO reviews, approves and sets the budget."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from compliance.choices import Role
from compliance.permissions import has_role, require_role
from lfr_portal.errors import ServiceError
from matching.calibration import expected_rates, operating_point
from matching.config import engine_config
from matching.engine import AlertPolicy
from matching.models import AlertBudgetPolicy, CalibrationRecord, CalibrationStatus
from matching.selectors.calibration import (
    CALIBRATION_READERS,
    active_calibration_record,
    calibration_plot_png,
    calibration_record_get,
    calibration_record_list,
)
from matching.services import calibration as calibration_services


class AlertBudgetForm(forms.Form):
    false_alerts_per_10k = forms.FloatField(
        label=gettext_lazy("Most false alerts allowed per 10,000 faces not on the watch-list"),
        help_text=gettext_lazy("The default is 1 (a false-positive identification rate of 0.0001)."),
        min_value=0.0001,
        max_value=10_000,
    )


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _per_10k(value: float | None) -> str:
    if value is None:
        return "—"
    scaled = value * 10_000
    return f"{scaled:,.0f}" if scaled >= 10 else f"{scaled:.2g}"


def _point_text(point: dict[str, Any] | None, kind: str, non_mated: int) -> str:
    if non_mated == 0:
        return _("no unlisted faces to measure")
    if point is None:
        return _("no setting meets the budget")
    setting = f"≤ {point['threshold']:.2f}" + (f", margin ≥ {point['margin']:.2f}" if kind == "margin" else "")
    return f"{setting}: TPIR {_rate(point['tpir'])}, {_per_10k(point['fpir'])}/10k"


def _size_rows(sizes: list[dict[str, Any]], budget: float, threshold: float) -> list[dict[str, Any]]:
    policy = AlertPolicy("threshold", threshold)
    rows = []
    for entry in sizes:
        if entry["status"] != "ok":
            rows.append({"size": entry["size"], "refused": True, "reason": entry.get("reason", "")})
            continue
        fpir, tpir, _how = expected_rates({entry["size"]: entry["curves"]}, entry["size"], policy)
        non_mated = entry["non_mated_probes"]
        rows.append(
            {
                "size": entry["size"],
                "refused": False,
                "mated": entry["mated_probes"],
                "non_mated": non_mated,
                "tpir": _rate(tpir),
                "per_10k": _per_10k(fpir),
                "threshold_point": _point_text(
                    operating_point(entry["curves"]["threshold"], budget), "threshold", non_mated
                ),
                "margin_point": _point_text(operating_point(entry["curves"]["margin"], budget), "margin", non_mated),
                "resolvable": non_mated * budget >= 1,
            }
        )
    return rows


def _curve_rows(record: CalibrationRecord) -> tuple[list[int], list[dict[str, Any]]]:
    """The threshold-rule curve as one row per threshold with TPIR and false alerts per 10k for each size."""
    curves = {int(size): c["threshold"] for size, c in record.usable_curves().items()}
    sizes = sorted(curves)
    by_threshold: dict[float, list[str]] = {}
    for size in sizes:
        for point in curves[size]:
            by_threshold.setdefault(round(point["threshold"], 4), []).append(
                f"{_rate(point['tpir'])} / {_per_10k(point['fpir'])}"
            )
    rows = [{"threshold": t, "cells": cells} for t, cells in sorted(by_threshold.items())]
    return sizes, rows


def approval_refusal(user: Any, record: CalibrationRecord) -> str:
    """Why the approval service would refuse this DPO this draft, in its own words, or "" (the page offers no
    button then)."""
    refusal = calibration_services.calibration_approval_refusal(user, record)
    return refusal.message if refusal is not None else ""


@login_required
@require_GET
def calibration_list_view(request: HttpRequest) -> HttpResponse:
    require_role(request.user, *CALIBRATION_READERS, action=_("see calibration records"))
    config = engine_config()
    budget = AlertBudgetPolicy.current()
    return render(
        request,
        "matching/calibration_list.html",
        {
            "records": calibration_record_list(user=request.user),
            "active": active_calibration_record(),
            "budget": budget,
            "engine": config,
            "fingerprint": config.fingerprint(),
            "can_edit": has_role(request.user, Role.DPO),
            "budget_form": AlertBudgetForm(initial={"false_alerts_per_10k": budget.per_10k}),
        },
    )


@login_required
@require_GET
def calibration_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request.user, *CALIBRATION_READERS, action=_("see calibration records"))
    try:
        record = calibration_record_get(user=request.user, pk=pk)
    except CalibrationRecord.DoesNotExist as exc:
        raise Http404 from exc
    reviewing = has_role(request.user, Role.DPO) and record.status == CalibrationStatus.DRAFT
    refusal = approval_refusal(request.user, record) if reviewing else ""
    budget = AlertBudgetPolicy.current().budget_fpir
    sizes = record.identification["sizes"] if record.identification else []
    curve_sizes, curve_rows = _curve_rows(record)
    groups = []
    for name, data in ((record.groups or {}).get("groups") or {}).items():
        groups.append(
            {
                "name": name,
                "identities": data["identities"],
                "rows": _size_rows(data["sizes"], budget, record.policy_threshold),
            }
        )
    return render(
        request,
        "matching/calibration_detail.html",
        {
            "record": record,
            "stale": record.is_stale,
            "can_approve": reviewing and not refusal,
            "approval_refusal": refusal,
            "can_retire": has_role(request.user, Role.DPO) and record.status != CalibrationStatus.RETIRED,
            "budget": budget,
            "budget_per_10k": _per_10k(budget),
            "verification": record.verification,
            "size_rows": _size_rows(sizes, budget, record.policy_threshold),
            "curve_sizes": curve_sizes,
            "curve_rows": curve_rows,
            "groups": groups,
            "has_plot": bool(record.det_plot),
        },
    )


@login_required
@require_GET
def calibration_plot_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request.user, *CALIBRATION_READERS, action=_("see calibration records"))
    try:
        png = calibration_plot_png(user=request.user, pk=pk)
    except CalibrationRecord.DoesNotExist as exc:
        raise Http404 from exc
    if not png:
        raise Http404
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_POST
def calibration_approve_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request.user, Role.DPO, action=_("approve a calibration record"))
    record = _get_or_404(request, pk)
    try:
        calibration_services.calibration_record_approve(actor=request.user, record=record)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Calibration record #%(pk)s is now active.") % {"pk": record.pk})
    return redirect("calibration_detail", pk=pk)


@login_required
@require_POST
def calibration_retire_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request.user, Role.DPO, action=_("retire a calibration record"))
    record = _get_or_404(request, pk)
    try:
        calibration_services.calibration_record_retire(actor=request.user, record=record)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Calibration record #%(pk)s is retired.") % {"pk": record.pk})
    return redirect("calibration_detail", pk=pk)


@login_required
@require_http_methods(["GET", "POST"])
def alert_budget_view(request: HttpRequest) -> HttpResponse:
    require_role(request.user, Role.DPO, action=_("change the false-alert budget"))
    budget = AlertBudgetPolicy.current()
    form = AlertBudgetForm(request.POST or None, initial={"false_alerts_per_10k": budget.per_10k})
    if request.method == "POST" and form.is_valid():
        try:
            calibration_services.alert_budget_update(
                actor=request.user, budget_fpir=form.cleaned_data["false_alerts_per_10k"] / 10_000
            )
        except ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("The false-alert budget is updated."))
            return redirect("calibration_list")
    return render(request, "matching/alert_budget_form.html", {"form": form, "budget": budget})


def _get_or_404(request: HttpRequest, pk: int) -> CalibrationRecord:
    try:
        return calibration_record_get(user=request.user, pk=pk)
    except CalibrationRecord.DoesNotExist as exc:
        raise Http404 from exc
