"""Accounts and audit endpoints. State changes go through services."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.api.serializers import (
    AuditEventOut,
    MeOut,
    TrainingRecordIn,
    TrainingRecordOut,
    UserCreateIn,
    UserOut,
    UserUpdateIn,
)
from compliance.choices import Role
from compliance.models import AuditEvent
from compliance.permissions import RolePermission
from compliance.selectors.accounts import audit_event_list, user_list
from compliance.services import accounts as account_services


class MeView(APIView):
    """The signed-in user or token holder."""

    @extend_schema(responses=MeOut)
    def get(self, request: Request) -> Response:
        return Response(MeOut(request.user).data)


class UserViewSet(viewsets.ReadOnlyModelViewSet):
    """Accounts, roles, ranks and training records (Administrator only)."""

    lookup_value_regex = r"[0-9]+"  # ids only: anything else is a 404, not a 500 from int()

    serializer_class = UserOut
    permission_classes = [RolePermission]
    allowed_roles = (Role.ADMINISTRATOR,)

    def get_queryset(self):
        return user_list(user=self.request.user)

    @extend_schema(request=UserCreateIn, responses={201: UserOut})
    def create(self, request: Request) -> Response:
        data = UserCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        user = account_services.user_create(actor=request.user, **data.validated_data)
        return Response(UserOut(user).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=UserUpdateIn, responses=UserOut)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        target = self.get_object()
        data = UserUpdateIn(data=request.data)
        data.is_valid(raise_exception=True)
        target = account_services.user_update(actor=request.user, user=target, **data.validated_data)
        return Response(UserOut(self.get_queryset().get(pk=target.pk)).data)

    @extend_schema(request=TrainingRecordIn, responses={201: TrainingRecordOut})
    @action(detail=True, methods=["post"], url_path="training-records")
    def add_training_record(self, request: Request, pk: str | None = None) -> Response:
        target = self.get_object()
        data = TrainingRecordIn(data=request.data)
        data.is_valid(raise_exception=True)
        record = account_services.training_record_add(actor=request.user, user=target, **data.validated_data)
        return Response(TrainingRecordOut(record).data, status=status.HTTP_201_CREATED)


class AuditEventFilter(django_filters.FilterSet):
    actor = django_filters.CharFilter(field_name="actor_username")
    action = django_filters.CharFilter(field_name="action", lookup_expr="startswith")
    deployment = django_filters.NumberFilter(field_name="deployment_id")
    since = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = ["actor", "action", "deployment", "target_type", "target_id", "since", "until"]


@extend_schema_view(
    retrieve=extend_schema(
        parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH, description="The event's sequence number.")]
    )
)
class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    """The hash-chained audit log (DPO: everything; Administrator: account events)."""

    lookup_value_regex = r"[0-9]+"  # ids only: anything else is a 404, not a 500 from int()

    serializer_class = AuditEventOut
    permission_classes = [RolePermission]
    allowed_roles = (Role.DPO, Role.ADMINISTRATOR)
    filterset_class = AuditEventFilter

    def get_queryset(self):
        return audit_event_list(user=self.request.user)
