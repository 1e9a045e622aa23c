"""Calibration records, the false-alert budget and the expected-performance check. Writes go through services."""

from __future__ import annotations

import dataclasses

from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.choices import Role
from compliance.permissions import role_permission
from lfr_portal.errors import RuleViolation
from matching.api.calibration_serializers import (
    AlertBudgetIn,
    AlertBudgetOut,
    CalibrationRecordListOut,
    CalibrationRecordOut,
    ExpectedPerformanceIn,
    ExpectedPerformanceOut,
)
from matching.budget import expected_performance
from matching.models import AlertBudgetPolicy, CalibrationRecord
from matching.selectors.calibration import CALIBRATION_READERS, calibration_plot_png, calibration_record_list
from matching.services import calibration as calibration_services


class CalibrationRecordViewSet(viewsets.ReadOnlyModelViewSet):
    """Calibration runs of the matcher (DPO and Authorising Officers read; the DPO approves and retires)."""

    permission_classes = [role_permission(*CALIBRATION_READERS)]

    def get_queryset(self):
        return calibration_record_list(user=self.request.user)

    def get_serializer_class(self):
        return CalibrationRecordListOut if self.action == "list" else CalibrationRecordOut

    @extend_schema(request=None, responses=CalibrationRecordOut, summary="Approve a draft record as active (DPO)")
    @action(detail=True, methods=["post"], permission_classes=[role_permission(Role.DPO)])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        record = calibration_services.calibration_record_approve(actor=request.user, record=self.get_object())
        return Response(CalibrationRecordOut(self.get_queryset().get(pk=record.pk)).data)

    @extend_schema(request=None, responses=CalibrationRecordOut, summary="Retire a record (DPO)")
    @action(detail=True, methods=["post"], permission_classes=[role_permission(Role.DPO)])
    def retire(self, request: Request, pk: str | None = None) -> Response:
        record = calibration_services.calibration_record_retire(actor=request.user, record=self.get_object())
        return Response(CalibrationRecordOut(self.get_queryset().get(pk=record.pk)).data)

    @extend_schema(
        responses={(200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="DET plot")},
        summary="The run's DET plot as PNG",
    )
    @action(detail=True, methods=["get"])
    def plot(self, request: Request, pk: str | None = None) -> HttpResponse:
        try:
            png = calibration_plot_png(user=request.user, pk=int(pk))
        except (CalibrationRecord.DoesNotExist, TypeError, ValueError) as exc:
            raise Http404 from exc
        if not png:
            raise Http404
        return HttpResponse(png, content_type="image/png")


class AlertBudgetView(APIView):
    """The force's false-alert budget: every staff role reads it, only the DPO changes it (audited)."""

    def get_permissions(self):
        roles = (Role.DPO,) if self.request.method in ("PUT", "PATCH") else tuple(Role.values)
        return [role_permission(*roles)()]

    @extend_schema(responses=AlertBudgetOut, summary="The false-alert budget")
    def get(self, request: Request) -> Response:
        return Response(AlertBudgetOut(AlertBudgetPolicy.current()).data)

    @extend_schema(request=AlertBudgetIn, responses=AlertBudgetOut, summary="Change the false-alert budget (DPO)")
    def put(self, request: Request) -> Response:
        data = AlertBudgetIn(data=request.data)
        data.is_valid(raise_exception=True)
        policy = calibration_services.alert_budget_update(
            actor=request.user, budget_fpir=data.validated_data["budget_fpir"]
        )
        return Response(AlertBudgetOut(policy).data)

    @extend_schema(request=AlertBudgetIn, responses=AlertBudgetOut, summary="Change the false-alert budget (DPO)")
    def patch(self, request: Request) -> Response:
        return self.put(request)


class ExpectedPerformanceView(APIView):
    """Expected false alerts and hit rate for a watch-list size and alert policy, from the active calibration."""

    permission_classes = [role_permission(*Role.values)]

    @extend_schema(
        parameters=[ExpectedPerformanceIn], responses=ExpectedPerformanceOut, summary="Check against the budget"
    )
    def get(self, request: Request) -> Response:
        data = ExpectedPerformanceIn(data=request.query_params)
        data.is_valid(raise_exception=True)
        try:
            assessment = expected_performance(**data.validated_data)
        except ValueError as exc:
            raise RuleViolation(str(exc), code="invalid_policy") from exc
        return Response(ExpectedPerformanceOut(dataclasses.asdict(assessment)).data)
