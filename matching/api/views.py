"""Live-matching endpoints: sessions, frames (camera tokens only), alerts and adjudication, camera tokens.

Every state change calls a service; the frame endpoint is the only one a camera token can reach.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.choices import FIELD_ROLES, Role
from compliance.models import CameraUnit, Deployment
from compliance.permissions import role_permission
from lfr_portal.errors import ERROR, NotFound, RuleViolation
from lfr_portal.uploads import MemoryUploadHandler
from matching.api.authentication import CameraTokenAuthentication, IsCamera, ReviewedInPerson
from matching.api.serializers import (
    AlertOut,
    CameraUnitDeactivateIn,
    CameraUnitIn,
    CameraUnitOut,
    CameraUnitReactivateIn,
    EngagementIn,
    FrameAcceptedOut,
    FrameIn,
    IssuedTokenOut,
    NoteIn,
    SessionOut,
    SessionStartIn,
    SessionStopIn,
)
from matching.selectors import sessions as selectors
from matching.services import alerts as alert_services
from matching.services import cameras as camera_services
from matching.services import frames as frame_services
from matching.services import sessions as session_services

SESSION_READERS = (*FIELD_ROLES, Role.AUTHORISING_OFFICER, Role.DPO, Role.ADMINISTRATOR)
ALERT_READERS = (*FIELD_ROLES, Role.AUTHORISING_OFFICER, Role.DPO)
ALERT_PERMISSIONS = [role_permission(*ALERT_READERS)]


def _valid(serializer_class: Any, request: Request) -> dict[str, Any]:
    data = serializer_class(data=request.data)
    data.is_valid(raise_exception=True)
    return dict(data.validated_data)


def _flag(request: Request, name: str) -> bool:
    """A yes/no query parameter; anything else is refused, not read as "no" (a list would then hold more than the
    client asked for)."""
    value = request.query_params.get(name)
    if value is None or value == "":
        return False
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise RuleViolation(
        f"`{name}` is a yes/no filter: give true or false.",
        code="invalid_filter",
        details={name: ["Not true or false."]},
    )


def _id_param(request: Request, name: str) -> int:
    """An id query parameter; one that is not a whole number is refused, not dropped (the list would otherwise hold
    everything the caller may see instead of what they filtered for)."""
    value = request.query_params.get(name, "")
    if not (value.isascii() and value.isdigit()):
        raise RuleViolation(
            f"`{name}` must be an id (a whole number).", code="invalid_filter", details={name: ["Not an id."]}
        )
    return int(value)


class SessionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Matching sessions the user may see, with their counters; operators start and stop them."""

    serializer_class = SessionOut
    permission_classes = [role_permission(*SESSION_READERS)]

    def get_queryset(self):
        # `?live=` filters the list only: a detail URL names its session, and an action re-reads what it changed.
        live = self.action == "list" and _flag(self.request, "live")
        return selectors.session_list(user=self.request.user, live_only=live)

    @extend_schema(parameters=[OpenApiParameter("live", bool, description="Only live sessions")])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=SessionStartIn,
        responses={201: SessionOut, 400: ERROR, 403: ERROR, 404: ERROR, 409: ERROR},
        summary="Start a session (LFR Operator); refused with the failed gate named",
    )
    def create(self, request: Request) -> Response:
        data = _valid(SessionStartIn, request)
        deployment = Deployment.objects.filter(pk=data["deployment"]).first()
        if deployment is None:
            raise NotFound("No such deployment or camera unit.")  # as for a deployment the operator may not see
        # An unknown camera is the service's to refuse (`camera_required`), so the refusal is audited as on the page.
        camera = CameraUnit.objects.filter(pk=data["camera_unit"]).first()
        session = session_services.session_start(actor=request.user, deployment=deployment, camera_unit=camera)
        return Response(SessionOut(self.get_queryset().get(pk=session.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=SessionStopIn, responses={200: SessionOut, 409: ERROR}, summary="Stop a live session")
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, pk: str | None = None) -> Response:
        session = self.get_object()
        data = _valid(SessionStopIn, request)
        session_services.session_stop(actor=request.user, session=session, detail=data["detail"])
        return Response(SessionOut(self.get_queryset().get(pk=session.pk)).data)


class FrameSubmitView(APIView):
    """A camera unit submits one frame to a live session of its own unit (camera token only)."""

    authentication_classes = [CameraTokenAuthentication]
    permission_classes = [IsCamera]
    parser_classes = [MultiPartParser, FormParser]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Before the body is parsed: the frame stays in memory, and bytes past the frame size limit are discarded.
        handler = MemoryUploadHandler(request._request, limit=settings.LFR_MAX_FRAME_BYTES)
        request._request.upload_handlers = [handler]
        super().initial(request, *args, **kwargs)

    @extend_schema(
        request={"multipart/form-data": FrameIn},
        responses={
            202: FrameAcceptedOut,
            400: OpenApiResponse(
                description=(
                    "not_an_image, unsupported_format (WEBP, HEIC, ...), invalid_captured_at (no time zone, or in "
                    "the future), stale_frame (captured longer ago than LFR_LIVE_BUDGET_SECONDS), "
                    "captured_before_session"
                )
            ),
            403: OpenApiResponse(description="Another camera unit's session"),
            409: OpenApiResponse(description="session_not_live or window_closed"),
            413: OpenApiResponse(description="frame_too_large"),
            429: OpenApiResponse(description="queue_full: the session's queue is over its depth"),
        },
        summary="Submit a frame (camera token)",
    )
    def post(self, request: Request, pk: int) -> Response:
        data = _valid(FrameIn, request)
        content = data["image"].read()  # the handler kept at most LFR_MAX_FRAME_BYTES + 1 bytes, in memory
        if not content:
            raise RuleViolation("The frame is empty.", code="not_an_image")
        accepted = frame_services.frame_submit(
            actor=request.user,
            session_id=int(pk),
            data=content,
            captured_at=data["captured_at"],
            size=data["image"].size,
        )
        body = {"accepted": True, "frame_id": accepted.frame_id, "queue_depth": accepted.queue_depth}
        return Response(FrameAcceptedOut(body).data, status=status.HTTP_202_ACCEPTED)


class AlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Alerts for the assigned operators and engagement officers, the AO and the DPO (never Administrators)."""

    serializer_class = AlertOut
    permission_classes = ALERT_PERMISSIONS

    def get_queryset(self):
        # `?session=` and `?status=` filter the list only (a dismissed alert re-read with `?status=new` was a 500).
        params = self.request.query_params if self.action == "list" else {}
        session = params.get("session")
        return selectors.alert_list(
            user=self.request.user,
            session_id=_id_param(self.request, "session") if session else None,
            status=params.get("status") or None,
        )

    def _out(self, alert: Any) -> Response:
        return Response(AlertOut(self.get_queryset().get(pk=alert.pk)).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("session", int, description="Only this session's alerts"),
            OpenApiParameter("status", str, description="Filter by status"),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=NoteIn,
        responses={200: AlertOut, 403: ERROR, 409: ERROR},
        summary="Operator: false alert (signed in to the portal, not with an API token)",
    )
    @action(detail=True, methods=["post"], permission_classes=[*ALERT_PERMISSIONS, ReviewedInPerson])
    def dismiss(self, request: Request, pk: str | None = None) -> Response:
        alert = self.get_object()
        note = _valid(NoteIn, request)["note"]
        return self._out(alert_services.alert_dismiss(actor=request.user, alert=alert, note=note))

    @extend_schema(
        request=NoteIn,
        responses={200: AlertOut, 403: ERROR, 409: ERROR},
        summary=(
            "Refer for engagement (with two-person verification: verify, then a second person refers); signed in "
            "to the portal, not with an API token"
        ),
    )
    @action(detail=True, methods=["post"], permission_classes=[*ALERT_PERMISSIONS, ReviewedInPerson])
    def refer(self, request: Request, pk: str | None = None) -> Response:
        alert = self.get_object()
        note = _valid(NoteIn, request)["note"]
        return self._out(alert_services.alert_refer(actor=request.user, alert=alert, note=note))

    @extend_schema(
        request=EngagementIn,
        responses={200: AlertOut, 400: ERROR, 403: ERROR, 409: ERROR},
        summary="Engagement officer: located, identity confirmed, outcome",
    )
    @action(detail=True, methods=["post"])
    def engagement(self, request: Request, pk: str | None = None) -> Response:
        alert = self.get_object()
        data = _valid(EngagementIn, request)
        return self._out(alert_services.alert_record_engagement(actor=request.user, alert=alert, **data))


class CameraUnitViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Camera units and their API tokens (Administrator): register, deactivate, reactivate; issue, rotate, revoke."""

    serializer_class = CameraUnitOut
    permission_classes = [role_permission(Role.ADMINISTRATOR)]

    def get_queryset(self):
        return selectors.camera_unit_list(user=self.request.user).prefetch_related("api_tokens")

    @extend_schema(request=CameraUnitIn, responses={201: CameraUnitOut})
    def create(self, request: Request) -> Response:
        data = _valid(CameraUnitIn, request)
        unit = camera_services.camera_unit_register(actor=request.user, **data)
        return Response(CameraUnitOut(self.get_queryset().get(pk=unit.pk)).data, status=status.HTTP_201_CREATED)

    def _issued(self, issued: camera_services.IssuedToken) -> Response:
        body = {
            "camera_unit": issued.token.camera_unit.identifier,
            "token": issued.secret,
            "prefix": issued.token.prefix,
        }
        return Response(IssuedTokenOut(body).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={201: IssuedTokenOut, 409: ERROR}, summary="Issue the unit's token")
    @action(detail=True, methods=["post"], url_path="issue-token")
    def issue_token(self, request: Request, pk: str | None = None) -> Response:
        unit = get_object_or_404(self.get_queryset(), pk=pk)
        return self._issued(camera_services.camera_token_issue(actor=request.user, camera_unit=unit))

    @extend_schema(request=None, responses={201: IssuedTokenOut}, summary="Rotate the unit's token")
    @action(detail=True, methods=["post"], url_path="rotate-token")
    def rotate_token(self, request: Request, pk: str | None = None) -> Response:
        unit = get_object_or_404(self.get_queryset(), pk=pk)
        return self._issued(camera_services.camera_token_rotate(actor=request.user, camera_unit=unit))

    @extend_schema(request=None, responses={200: CameraUnitOut, 409: ERROR}, summary="Revoke the unit's token")
    @action(detail=True, methods=["post"], url_path="revoke-token")
    def revoke_token(self, request: Request, pk: str | None = None) -> Response:
        unit = get_object_or_404(self.get_queryset(), pk=pk)
        camera_services.camera_token_revoke(actor=request.user, camera_unit=unit)
        return Response(CameraUnitOut(self.get_queryset().get(pk=unit.pk)).data)

    @extend_schema(
        request=CameraUnitDeactivateIn,
        responses={200: CameraUnitOut, 400: ERROR, 409: ERROR},
        summary="Take the unit out of use: its live sessions stop and its token is revoked at once",
    )
    @action(detail=True, methods=["post"])
    def deactivate(self, request: Request, pk: str | None = None) -> Response:
        unit = get_object_or_404(self.get_queryset(), pk=pk)
        data = _valid(CameraUnitDeactivateIn, request)
        camera_services.camera_unit_deactivate(actor=request.user, camera_unit=unit, **data)
        return Response(CameraUnitOut(self.get_queryset().get(pk=unit.pk)).data)

    @extend_schema(
        request=CameraUnitReactivateIn,
        responses={200: CameraUnitOut, 400: ERROR, 409: ERROR},
        summary="Return a standalone unit to use (issue it a new token afterwards)",
    )
    @action(detail=True, methods=["post"])
    def reactivate(self, request: Request, pk: str | None = None) -> Response:
        unit = get_object_or_404(self.get_queryset(), pk=pk)
        data = _valid(CameraUnitReactivateIn, request)
        camera_services.camera_unit_reactivate(actor=request.user, camera_unit=unit, **data)
        return Response(CameraUnitOut(self.get_queryset().get(pk=unit.pk)).data)
