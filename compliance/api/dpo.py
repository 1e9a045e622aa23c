"""DPO workspace API: retention policies, evidential holds, retention runs, chain verification, audit CSV export
and audit packs. Every state change goes through compliance.services.retention."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.api.views import AuditEventFilter
from compliance.choices import Role
from compliance.models import Deployment, EvidentialHold, RetentionRun
from compliance.models.retention import RetentionDataClass
from compliance.permissions import RolePermission
from compliance.selectors import retention as sel
from compliance.selectors.accounts import audit_event_list
from compliance.selectors.deployments import deployment_get
from compliance.services import retention as svc


class RetentionPolicyOut(serializers.Serializer):
    data_class = serializers.CharField()
    label = serializers.CharField()
    period_hours = serializers.IntegerField(allow_null=True)
    default_hours = serializers.IntegerField(allow_null=True)
    min_hours = serializers.IntegerField(allow_null=True)
    max_hours = serializers.IntegerField(allow_null=True)
    updated_by = serializers.CharField()
    updated_at = serializers.DateTimeField(allow_null=True)
    note = serializers.CharField()


class RetentionPolicyIn(serializers.Serializer):
    data_class = serializers.ChoiceField(choices=RetentionDataClass.choices)
    period_hours = serializers.IntegerField(min_value=0)
    note = serializers.CharField(required=False, allow_blank=True, default="")


class EvidentialHoldOut(serializers.ModelSerializer):
    placed_by = serializers.CharField(source="placed_by.username")
    lifted_by = serializers.CharField(source="lifted_by.username", allow_null=True, default=None)

    class Meta:
        model = EvidentialHold
        fields = [
            "id",
            "target_type",
            "target_id",
            "deployment_id",
            "reason",
            "placed_by",
            "placed_at",
            "lifted_by",
            "lifted_at",
            "lift_reason",
        ]


class EvidentialHoldIn(serializers.Serializer):
    target_type = serializers.CharField(max_length=64)
    target_id = serializers.CharField(max_length=64)
    reason = serializers.CharField()


class LiftIn(serializers.Serializer):
    reason = serializers.CharField()


class RetentionRunOut(serializers.ModelSerializer):
    audit_checkpoint = serializers.IntegerField(source="audit_checkpoint.seq", allow_null=True, default=None)

    class Meta:
        model = RetentionRun
        fields = [
            "id",
            "started_at",
            "finished_at",
            "trigger",
            "actor_username",
            "status",
            "due",
            "deleted",
            "held",
            "evidence",
            "failures",
            "audit_checkpoint",
        ]


class ChainReportOut(serializers.Serializer):
    ok = serializers.BooleanField()
    count = serializers.IntegerField()
    first_broken_seq = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField()
    last_hash = serializers.CharField()


class RetentionPolicyView(APIView):
    """Retention periods in force per data class, with their statutory bounds; the DPO sets them."""

    permission_classes = [RolePermission]
    allowed_roles = (Role.DPO,)

    @extend_schema(responses=RetentionPolicyOut(many=True))
    def get(self, request: Request) -> Response:
        rows = sel.retention_policy_rows(user=request.user)
        return Response(RetentionPolicyOut([row.__dict__ for row in rows], many=True).data)

    @extend_schema(request=RetentionPolicyIn, responses=RetentionPolicyOut(many=True))
    def post(self, request: Request) -> Response:
        data = RetentionPolicyIn(data=request.data)
        data.is_valid(raise_exception=True)
        svc.retention_policy_set(actor=request.user, **data.validated_data)
        return self.get(request)


class EvidentialHoldViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Evidential holds (DPO and Authorising Officers): placing and lifting are audited."""

    serializer_class = EvidentialHoldOut
    permission_classes = [RolePermission]
    allowed_roles = (Role.DPO, Role.AUTHORISING_OFFICER)

    def get_queryset(self):
        return sel.evidential_hold_list(user=self.request.user)

    @extend_schema(request=EvidentialHoldIn, responses={201: EvidentialHoldOut})
    def create(self, request: Request) -> Response:
        data = EvidentialHoldIn(data=request.data)
        data.is_valid(raise_exception=True)
        hold = svc.evidential_hold_place(actor=request.user, **data.validated_data)
        return Response(EvidentialHoldOut(hold).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=LiftIn, responses=EvidentialHoldOut)
    @action(detail=True, methods=["post"])
    def lift(self, request: Request, pk: str | None = None) -> Response:
        hold = self.get_object()
        data = LiftIn(data=request.data)
        data.is_valid(raise_exception=True)
        hold = svc.evidential_hold_lift(actor=request.user, hold=hold, reason=data.validated_data["reason"])
        return Response(EvidentialHoldOut(hold).data)


class RetentionRunViewSet(viewsets.ReadOnlyModelViewSet):
    """Retention sweeps with what was due, deleted, held, the verification evidence and failures (DPO)."""

    serializer_class = RetentionRunOut
    permission_classes = [RolePermission]
    allowed_roles = (Role.DPO,)

    def get_queryset(self):
        return sel.retention_run_list(user=self.request.user)


class EqualityFieldOut(serializers.Serializer):
    name = serializers.SlugField()
    label = serializers.CharField()
    choices = serializers.ListField(child=serializers.CharField())
    active = serializers.BooleanField()


class EqualityFieldViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The self-described monitoring fields the DPO configured (Bridges ground 5): the DPO sees every field,
    operators and engagement officers the active ones, which an engagement may record (`self_described`)."""

    serializer_class = EqualityFieldOut
    permission_classes = [RolePermission]
    allowed_roles = (Role.DPO, *svc.EQUALITY_RECORDER_ROLES)
    pagination_class = None  # a handful of fields, read whole by a client building its engagement form

    def get_queryset(self):
        return sel.equality_field_list(user=self.request.user)


class AuditVerifyView(APIView):
    """Re-verify the audit chain now (DPO); the verification is audited."""

    permission_classes = [RolePermission]
    allowed_roles = (Role.DPO,)

    @extend_schema(request=None, responses=ChainReportOut)
    def post(self, request: Request) -> Response:
        report = svc.audit_chain_verify(actor=request.user)
        return Response(ChainReportOut(report.__dict__).data)


class AuditExportView(APIView):
    """The audit log as CSV, filtered like /audit-events/ (DPO); the export is audited."""

    permission_classes = [RolePermission]
    allowed_roles = (Role.DPO,)

    @extend_schema(responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR)})
    def get(self, request: Request) -> HttpResponse:
        events = AuditEventFilter(request.query_params, queryset=audit_event_list(user=request.user))
        if not events.is_valid():
            return Response({"error": {"code": "validation_error", "message": "Invalid filters.",
                                       "details": events.errors}}, status=400)  # fmt: skip
        body = svc.audit_log_export_csv(actor=request.user, events=events.qs, filters=events.form.cleaned_data)
        response = HttpResponse(body, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="audit-log.csv"'
        return response


class AuditPackView(APIView):
    """A deployment's audit pack PDF (DPO); the export is audited with the PDF's SHA-256."""

    permission_classes = [RolePermission]
    allowed_roles = (Role.DPO,)

    @extend_schema(responses={(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY)})
    def get(self, request: Request, pk: int) -> HttpResponse:
        try:
            deployment = deployment_get(user=request.user, pk=pk)
        except Deployment.DoesNotExist as exc:
            raise Http404 from exc
        pdf = svc.audit_pack_export(actor=request.user, deployment=deployment)
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="audit-pack-{deployment.reference}.pdf"'
        return response
