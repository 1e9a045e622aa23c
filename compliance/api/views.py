"""Accounts and audit endpoints. State changes go through services."""

from __future__ import annotations

from typing import Any

import django_filters
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.api.serializers import (
    AppointmentApproveIn,
    AppointmentOut,
    AppointmentRejectIn,
    AuditEventOut,
    MeOut,
    PasswordResetIn,
    SecondFactorResetIn,
    SecondFactorResetOut,
    TrainingRecordIn,
    TrainingRecordOut,
    UserCreateIn,
    UserOut,
    UserUpdateIn,
)
from compliance.choices import AppointmentStatus, Role
from compliance.models import AuditEvent, RoleAppointment
from compliance.permissions import RolePermission
from compliance.selectors.accounts import appointment_list, audit_event_list, user_list
from compliance.services import accounts as account_services
from compliance.services import appointments as appointment_services


class MeView(APIView):
    """The signed-in user or token holder."""

    @extend_schema(responses=MeOut)
    def get(self, request: Request) -> Response:
        return Response(MeOut(request.user).data)


class UserViewSet(viewsets.ReadOnlyModelViewSet):
    """Accounts, roles, ranks and training records (Administrator only)."""

    serializer_class = UserOut
    permission_classes = [RolePermission]
    allowed_roles = (Role.ADMINISTRATOR,)

    def get_queryset(self):
        return user_list(user=self.request.user)

    def _apply(self, service: Any, data_class: type[serializers.Serializer], **target: Any) -> Any:
        """Validate the body's shape with `data_class`, then call the service as the caller."""
        data = data_class(data=self.request.data)
        data.is_valid(raise_exception=True)
        return service(actor=self.request.user, **target, **data.validated_data)

    def _user_out(self, user: Any) -> Response:
        return Response(UserOut(self.get_queryset().get(pk=user.pk)).data)

    @extend_schema(request=UserCreateIn, responses={201: UserOut})
    def create(self, request: Request) -> Response:
        user = self._apply(account_services.user_create, UserCreateIn)
        return Response(UserOut(user).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=UserUpdateIn,
        responses=UserOut,
        description="Change role, rank or enabled. A role in LFR_APPROVED_ROLES, or a rank rise that would let an "
        "Authorising Officer authorise, is proposed instead (on `appointment_grounds`): the response's "
        "`pending_appointment` is the proposal, which a second Administrator approves.",
    )
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        return self._user_out(self._apply(account_services.user_update, UserUpdateIn, user=self.get_object()))

    @extend_schema(request=TrainingRecordIn, responses={201: TrainingRecordOut})
    @action(detail=True, methods=["post"], url_path="training-records")
    def add_training_record(self, request: Request, pk: str | None = None) -> Response:
        record = self._apply(account_services.training_record_add, TrainingRecordIn, user=self.get_object())
        return Response(TrainingRecordOut(record).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=PasswordResetIn, responses=UserOut)
    @action(detail=True, methods=["post"], url_path="password-reset")
    def password_reset(self, request: Request, pk: str | None = None) -> Response:
        """A temporary password for an account whose holder forgot theirs (not your own)."""
        return self._user_out(
            self._apply(account_services.user_password_reset, PasswordResetIn, user=self.get_object())
        )

    @extend_schema(request=SecondFactorResetIn, responses=SecondFactorResetOut)
    @action(detail=True, methods=["post"], url_path="second-factor-reset")
    def second_factor_reset(self, request: Request, pk: str | None = None) -> Response:
        """Remove the authenticator of an account whose holder lost it (not your own)."""
        target = self.get_object()
        removed = self._apply(account_services.user_second_factor_reset, SecondFactorResetIn, user=target)
        return Response(SecondFactorResetOut({"devices_removed": removed}).data)


class AppointmentFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=AppointmentStatus.choices)

    class Meta:
        model = RoleAppointment
        fields = ["status", "user"]


class AppointmentViewSet(viewsets.ReadOnlyModelViewSet):
    """Appointments to the roles that take two Administrators (LFR_APPROVED_ROLES), and rank rises that would let an
    Authorising Officer authorise: one proposes (creating an account or changing its role or rank, with
    `appointment_grounds`), another approves or rejects; the proposer may withdraw. Pending ones first."""

    serializer_class = AppointmentOut
    permission_classes = [RolePermission]
    allowed_roles = (Role.ADMINISTRATOR,)
    filterset_class = AppointmentFilter

    def get_queryset(self):
        return appointment_list(user=self.request.user)

    def _decide(self, service: Any, data_class: type[serializers.Serializer] | None = None) -> Response:
        data = {}
        if data_class is not None:
            body = data_class(data=self.request.data)
            body.is_valid(raise_exception=True)
            data = body.validated_data
        decided = service(actor=self.request.user, appointment=self.get_object(), **data)
        return Response(AppointmentOut(self.get_queryset().get(pk=decided.pk)).data)

    @extend_schema(request=AppointmentApproveIn, responses=AppointmentOut)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        """Approve (not your own proposal, nor your own account): the account now holds the role (and rank)."""
        return self._decide(appointment_services.appointment_approve, AppointmentApproveIn)

    @extend_schema(request=AppointmentRejectIn, responses=AppointmentOut)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        """Reject, saying why: the account keeps the role it had."""
        return self._decide(appointment_services.appointment_reject, AppointmentRejectIn)

    @extend_schema(request=None, responses=AppointmentOut)
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str | None = None) -> Response:
        """The proposer takes the proposal back."""
        return self._decide(appointment_services.appointment_withdraw)


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

    serializer_class = AuditEventOut
    permission_classes = [RolePermission]
    allowed_roles = (Role.DPO, Role.ADMINISTRATOR)
    filterset_class = AuditEventFilter

    def get_queryset(self):
        return audit_event_list(user=self.request.user)
