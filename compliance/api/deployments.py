"""Deployment API: the application, decisions, transitions, gates, signage, leaflets, PDFs and the public record.

Serializers validate shape only; every rule is a service's. Visibility comes from the selectors (404 otherwise).
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from compliance import gates, transparency
from compliance.api.serializers import TimelineEventOut
from compliance.choices import AlertPolicyKind, OffenceType, Role, UseCase, WatchlistCategory
from compliance.models import (
    Authorisation,
    Deployment,
    DeploymentWindow,
    EuAiActRecord,
    EuNotification,
    LeafletRecord,
    ObjectiveMet,
    PostDeploymentReview,
    SignageRecord,
    User,
)
from compliance.models.retention import EuAuthorityKind, EuDecision, EuNotificationAuthority, EuObjective
from compliance.permissions import has_role
from compliance.selectors import deployments as selectors
from compliance.selectors import eu_ai_act as eu_selectors
from compliance.services import deployments as svc
from compliance.services import eu_ai_act as eu
from lfr_portal.errors import ERROR, NotPermitted, RuleViolation

# ---------------------------------------------------------------------------------------------------------------
# Output


class WindowSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeploymentWindow
        fields = ["start", "end"]


class AuthorisationOut(serializers.ModelSerializer):
    decided_by = serializers.CharField(source="decided_by.username", read_only=True)

    class Meta:
        model = Authorisation
        fields = [
            "id",
            "decision",
            "decided_by",
            "decided_at",
            "rationale",
            "conditions",
            "expires_at",
            "snapshot_hash",
            "voided_at",
            "void_reason",
        ]


class ReviewOut(serializers.ModelSerializer):
    class Meta:
        model = PostDeploymentReview
        fields = ["objective_met", "outcome_summary", "issues", "complaints", "complaint_count", "reviewed_at"]


class DeploymentOut(serializers.ModelSerializer):
    applicant = serializers.CharField(source="applicant.username", read_only=True)
    windows = WindowSerializer(many=True, read_only=True)
    camera_units = serializers.SlugRelatedField(slug_field="identifier", many=True, read_only=True)
    camera_unit_ids = serializers.PrimaryKeyRelatedField(source="camera_units", many=True, read_only=True)
    assigned_officers = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    authorisation = AuthorisationOut(read_only=True)
    authorisations = AuthorisationOut(many=True, read_only=True)
    problems = serializers.SerializerMethodField(help_text="What still stops submission, by field.")
    version = serializers.SerializerMethodField(
        help_text="The hash of the application as it stands; send it as `reviewed_version` when deciding."
    )

    class Meta:
        model = Deployment
        fields = [
            "id",
            "reference",
            "title",
            "status",
            "status_reason",
            "applicant",
            *sorted(svc.APPLICATION_FIELDS - {"title"}),
            "windows",
            "camera_units",
            "camera_unit_ids",
            "assigned_officers",
            "authorisation",
            "authorisations",
            "created_at",
            "updated_at",
            "submitted_at",
            "authorised_at",
            "suspended_at",
            "revoked_at",
            "cancelled_at",
            "completed_at",
            "reviewed_at",
            "problems",
            "version",
        ]

    def get_version(self, obj: Deployment) -> str:
        return svc.application_version(obj)

    def get_problems(self, obj: Deployment) -> dict[str, list[str]]:
        if obj.status != "draft":
            return {}
        return svc.application_problems(obj)


class EuNotificationOut(serializers.ModelSerializer):
    notified_by = serializers.CharField(source="notified_by.username", read_only=True)

    class Meta:
        model = EuNotification
        fields = ["authority", "reference", "notified_at", "notified_by"]


class EuUrgencyOut(serializers.Serializer):
    state = serializers.ChoiceField(choices=["granted", "terminated", "not_started", "running", "passed"])
    hours = serializers.IntegerField()
    started_at = serializers.DateTimeField(allow_null=True)
    deadline = serializers.DateTimeField(allow_null=True)


class EuRecordOut(serializers.ModelSerializer):
    """A deployment's EU AI Act record (domain.md 8); `saved` is false until anything of it is first recorded (the
    applicant's record, the authority's decision or a notification)."""

    saved = serializers.SerializerMethodField()
    fria_missing = serializers.SerializerMethodField()
    urgency = serializers.SerializerMethodField()
    notifications = serializers.SerializerMethodField()

    class Meta:
        model = EuAiActRecord
        fields = [
            "saved",
            *eu.APPLICANT_FIELDS,
            "authority_kind",
            "authority_name",
            "authority_reference",
            "authority_decision",
            "authority_decided_on",
            "authority_recorded_at",
            "terminated_at",
            "termination_reason",
            "deletion_evidence",
            "updated_at",
            "fria_missing",
            "urgency",
            "notifications",
        ]

    def get_saved(self, obj: EuAiActRecord) -> bool:
        return obj.pk is not None

    def get_fria_missing(self, obj: EuAiActRecord) -> list[str]:
        """The FRIA items (a)–(f) still empty."""
        return eu.fria_missing(obj)

    @extend_schema_field(EuUrgencyOut(allow_null=True))
    def get_urgency(self, obj: EuAiActRecord) -> dict[str, Any] | None:
        deadline = eu_selectors.eu_urgency_deadline(obj)
        return None if deadline is None else EuUrgencyOut(deadline).data

    @extend_schema_field(EuNotificationOut(many=True))
    def get_notifications(self, obj: EuAiActRecord) -> list[dict[str, Any]]:
        if obj.pk is None:
            return []
        found = eu_selectors.eu_notification_list(user=self.context["user"], deployment=self.context["deployment"])
        return EuNotificationOut(found, many=True).data


def _eu_text(max_length: int | None = None) -> serializers.CharField:
    return serializers.CharField(required=False, allow_blank=True, max_length=max_length)


class EuRecordIn(serializers.Serializer):
    """The applicant's part of the EU AI Act record; send only the fields to change."""

    objective = serializers.ChoiceField(choices=EuObjective.choices, required=False, allow_blank=True)
    objective_detail = _eu_text()
    urgent = serializers.BooleanField(required=False)
    urgency_justification = _eu_text()
    eu_database_reference = _eu_text(100)
    fria_a_processes = _eu_text()
    fria_b_period_frequency = _eu_text()
    fria_c_affected_persons = _eu_text()
    fria_d_risks = _eu_text()
    fria_e_human_oversight = _eu_text()
    fria_f_mitigation = _eu_text()


class EuAuthorityDecisionIn(serializers.Serializer):
    authority_kind = serializers.ChoiceField(choices=EuAuthorityKind.choices)
    authority_name = serializers.CharField(max_length=200)
    authority_reference = serializers.CharField(max_length=100)
    decision = serializers.ChoiceField(choices=[EuDecision.GRANTED, EuDecision.REJECTED])
    decided_on = serializers.DateField()


class EuNotificationIn(serializers.Serializer):
    authority = serializers.ChoiceField(choices=EuNotificationAuthority.choices)
    reference = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    notified_at = serializers.DateTimeField()


class SignageOut(serializers.ModelSerializer):
    placed_by = serializers.CharField(source="placed_by.username", read_only=True)
    removed_by = serializers.CharField(source="removed_by.username", read_only=True, default=None)
    has_photo = serializers.BooleanField(read_only=True)

    class Meta:
        model = SignageRecord
        fields = [
            "id",
            "position_description",
            "sign_count",
            "placed_by",
            "placed_at",
            "removed_by",
            "removed_at",
            "has_photo",
        ]


class LeafletOut(serializers.ModelSerializer):
    handed_out_by = serializers.CharField(source="handed_out_by.username", read_only=True)

    class Meta:
        model = LeafletRecord
        fields = ["id", "count", "handed_out_by", "shift_start", "shift_description"]


class GateOut(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    passed = serializers.BooleanField()
    reason = serializers.CharField()


class GateReportOut(serializers.Serializer):
    passed = serializers.BooleanField()
    gates = GateOut(many=True)


class TransparencyRecordOut(serializers.Serializer):
    reference = serializers.CharField()
    location = serializers.CharField()
    date = serializers.CharField()
    duration = serializers.CharField()
    duration_seconds = serializers.IntegerField()
    use_case = serializers.CharField()
    watchlist_size = serializers.IntegerField()
    min_threshold = serializers.FloatField(allow_null=True)
    total_alerts = serializers.IntegerField()
    true_confirmed = serializers.IntegerField()
    true_unconfirmed = serializers.IntegerField()
    false_confirmed = serializers.IntegerField()
    false_unconfirmed = serializers.IntegerField()
    false_alert_rate = serializers.CharField()
    outcome_arrest = serializers.IntegerField()
    outcome_other = serializers.IntegerField()
    no_action = serializers.IntegerField()
    faces_seen = serializers.IntegerField()
    engagements = serializers.IntegerField()
    window_duration = serializers.CharField()
    window_duration_seconds = serializers.IntegerField()
    status = serializers.CharField(help_text="How the deployment ended: Completed or Revoked.")


class TransparencyDetailOut(TransparencyRecordOut):
    location_address = serializers.CharField()
    zone_of_recognition = serializers.CharField()
    public_notice_at = serializers.DateTimeField(allow_null=True)
    public_notice_where = serializers.CharField()
    public_notice_text = serializers.CharField()


# ---------------------------------------------------------------------------------------------------------------
# Input


class DeploymentIn(serializers.Serializer):
    """Every field optional: drafts may have gaps; submission checks completeness."""

    title = serializers.CharField(max_length=200, required=False)
    use_case = serializers.ChoiceField(choices=UseCase.choices, required=False, allow_blank=True)
    objectives = serializers.CharField(required=False, allow_blank=True)
    offence_types = serializers.ListField(child=serializers.ChoiceField(choices=OffenceType.choices), required=False)
    other_offence = serializers.CharField(max_length=200, required=False, allow_blank=True)
    location_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    location_address = serializers.CharField(required=False, allow_blank=True)
    latitude = serializers.FloatField(required=False, allow_null=True)
    longitude = serializers.FloatField(required=False, allow_null=True)
    zone_of_recognition = serializers.CharField(required=False, allow_blank=True)
    location_grounds = serializers.CharField(required=False, allow_blank=True)
    necessity = serializers.CharField(required=False, allow_blank=True)
    proportionality = serializers.CharField(required=False, allow_blank=True)
    alternatives_considered = serializers.CharField(required=False, allow_blank=True)
    watchlist_categories = serializers.ListField(
        child=serializers.ChoiceField(choices=WatchlistCategory.choices), required=False
    )
    watchlist_max_size = serializers.IntegerField(required=False, allow_null=True)
    match_threshold = serializers.FloatField(required=False, allow_null=True)
    alert_policy = serializers.ChoiceField(choices=AlertPolicyKind.choices, required=False)
    alert_margin = serializers.FloatField(required=False, allow_null=True)
    dpia_reference = serializers.CharField(max_length=100, required=False, allow_blank=True)
    dpia_version = serializers.CharField(max_length=32, required=False, allow_blank=True)
    eia_reference = serializers.CharField(max_length=100, required=False, allow_blank=True)
    apd_reference = serializers.CharField(max_length=100, required=False, allow_blank=True)
    public_notice_at = serializers.DateTimeField(required=False, allow_null=True)
    public_notice_where = serializers.CharField(max_length=300, required=False, allow_blank=True)
    public_notice_text = serializers.CharField(required=False, allow_blank=True)
    critical_threat_justification = serializers.CharField(required=False, allow_blank=True)
    standalone_attested = serializers.BooleanField(required=False)
    windows = WindowSerializer(many=True, required=False)
    camera_unit_ids = serializers.ListField(child=serializers.IntegerField(), required=False)

    def service_kwargs(self) -> dict[str, Any]:
        data = dict(self.validated_data)
        if "windows" in data:
            data["windows"] = [(w["start"], w["end"]) for w in data["windows"]]
        return data


REVIEWED_VERSION_HELP = (
    "The `version` of the application you read (GET /deployments/{id}/): if it changed since, the decision is "
    "refused with 409 application_changed. Send it: without it the decision applies to whatever is there now."
)


class AuthoriseIn(serializers.Serializer):
    rationale = serializers.CharField(allow_blank=True)
    conditions = serializers.CharField(required=False, allow_blank=True, default="")
    expires_at = serializers.DateTimeField(allow_null=True)
    match_threshold = serializers.FloatField(required=False, allow_null=True, default=None)
    reviewed_version = serializers.CharField(
        required=False, allow_blank=True, default="", help_text=REVIEWED_VERSION_HELP
    )


class RejectIn(serializers.Serializer):
    rationale = serializers.CharField(allow_blank=True)
    reviewed_version = serializers.CharField(
        required=False, allow_blank=True, default="", help_text=REVIEWED_VERSION_HELP
    )


class ReasonIn(serializers.Serializer):
    reason = serializers.CharField(allow_blank=True)


class ReviewIn(serializers.Serializer):
    objective_met = serializers.ChoiceField(choices=ObjectiveMet.choices)
    outcome_summary = serializers.CharField(allow_blank=True)
    issues = serializers.CharField(required=False, allow_blank=True, default="")
    complaints = serializers.CharField(required=False, allow_blank=True, default="")
    complaint_count = serializers.IntegerField(required=False, default=0, min_value=0)


class AssignedOfficersIn(serializers.Serializer):
    officer_ids = serializers.ListField(child=serializers.IntegerField())


# Counts a person records by hand: bounded well inside the database's integer column, so a slip of the keyboard is
# refused with the field named (and SQLite, whose integers are wider, answers as PostgreSQL does).
MAX_RECORDED_COUNT = 1_000_000


class SignageIn(serializers.Serializer):
    position_description = serializers.CharField(max_length=300)
    sign_count = serializers.IntegerField(max_value=MAX_RECORDED_COUNT)
    placed_at = serializers.DateTimeField()


class SignageUpdateIn(serializers.Serializer):
    position_description = serializers.CharField(max_length=300, required=False)
    sign_count = serializers.IntegerField(required=False, max_value=MAX_RECORDED_COUNT)
    placed_at = serializers.DateTimeField(required=False)
    removed_at = serializers.DateTimeField(required=False, allow_null=True)


class LeafletIn(serializers.Serializer):
    count = serializers.IntegerField(max_value=MAX_RECORDED_COUNT)
    shift_start = serializers.DateTimeField()
    shift_description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class LeafletUpdateIn(serializers.Serializer):
    count = serializers.IntegerField(required=False, max_value=MAX_RECORDED_COUNT)
    shift_start = serializers.DateTimeField(required=False)
    shift_description = serializers.CharField(max_length=200, required=False, allow_blank=True)


# ---------------------------------------------------------------------------------------------------------------
# Views


def _valid(serializer_class: type[serializers.Serializer], request: Request) -> serializers.Serializer:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer


# Gate 6 reveals a person's training and assignment: only about oneself, unless the asker oversees deployments.
GATE_OPERATOR_OVERSEERS = (Role.AUTHORISING_OFFICER, Role.DPO)


def _gate_operator(user: Any, raw_id: str) -> User:
    """The user named by `?operator=`, if the asker may learn their gate 6 status (403 before any lookup)."""
    try:
        operator_id = int(raw_id)
    except (TypeError, ValueError) as exc:
        raise RuleViolation("Give `operator` as a user id.", details={"operator": ["Not a user id."]}) from exc
    if operator_id != user.pk and not has_role(user, *GATE_OPERATOR_OVERSEERS):
        raise NotPermitted(
            "Only authorising officers and the DPO may check another officer's gate.", code="not_permitted"
        )
    operator = User.objects.filter(pk=operator_id).first()
    if operator is None:
        raise RuleViolation("Unknown operator.", details={"operator": ["No such user."]})
    return operator


def _pdf(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


PDF_RESPONSE = OpenApiResponse(response=OpenApiTypes.BINARY, description="application/pdf")
EU_NOT_FOUND = OpenApiResponse(description="Not in EU mode, or a deployment you cannot see")
# A change to the EU record answers the whole record: 400 a rule, 403 a role, 409 a terminated use.
EU_RECORD_CHANGED = {200: EuRecordOut, 400: ERROR, 403: ERROR, 404: EU_NOT_FOUND, 409: ERROR}


class DeploymentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Deployments the user may see; every change is a service call (403 role, 409 state, 400 rule)."""

    serializer_class = DeploymentOut

    @staticmethod
    def _for_output(qs):
        """What DeploymentOut reads besides the row and what deployment_list loads: the assigned officers, and the
        authorisations with who decided them."""
        return qs.prefetch_related("assigned_officers", "authorisations__decided_by")

    def get_queryset(self):
        # `?status=` filters the list; it never hides the one deployment a detail URL names.
        status_filter = self.request.query_params.get("status") if self.action == "list" else None
        qs = selectors.deployment_list(user=self.request.user, status=status_filter)
        # Every other action loads the deployment to act on it or to read something else (gates, timeline, EU record,
        # PDFs), and a changed deployment is answered through `_out`, which reads it afresh.
        return self._for_output(qs) if self.action in ("list", "retrieve") else qs

    def _out(self, deployment: Deployment, code: int = status.HTTP_200_OK) -> Response:
        # Not narrowed by a `?status=` filter: the deployment just acted on may have left that status.
        fresh = self._for_output(selectors.deployment_list(user=self.request.user)).get(pk=deployment.pk)
        return Response(DeploymentOut(fresh).data, status=code)

    @extend_schema(
        parameters=[OpenApiParameter("status", str, description="Filter by status")], responses=DeploymentOut(many=True)
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=DeploymentIn, responses={201: DeploymentOut})
    def create(self, request: Request) -> Response:
        data = _valid(DeploymentIn, request).service_kwargs()
        if "title" not in data:
            raise RuleViolation("Give the deployment a title.", details={"title": ["This field is required."]})
        deployment = svc.deployment_create(actor=request.user, **data)
        return self._out(deployment, status.HTTP_201_CREATED)

    @extend_schema(request=DeploymentIn, responses=DeploymentOut)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        deployment = self.get_object()
        data = _valid(DeploymentIn, request).service_kwargs()
        svc.deployment_update(actor=request.user, deployment=deployment, **data)
        return self._out(deployment)

    @extend_schema(request=None, responses=DeploymentOut, summary="Submit a draft for authorisation")
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk: str | None = None) -> Response:
        deployment = self.get_object()
        svc.deployment_submit(actor=request.user, deployment=deployment)
        return self._out(deployment)

    @extend_schema(
        request=AuthoriseIn, responses=DeploymentOut, summary="Authorise (AO, minimum rank, not the applicant)"
    )
    @action(detail=True, methods=["post"])
    def authorise(self, request: Request, pk: str | None = None) -> Response:
        deployment = self.get_object()
        svc.deployment_authorise(
            actor=request.user, deployment=deployment, **_valid(AuthoriseIn, request).validated_data
        )
        return self._out(deployment)

    @extend_schema(request=RejectIn, responses=DeploymentOut, summary="Reject with reasons")
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        deployment = self.get_object()
        svc.deployment_reject(actor=request.user, deployment=deployment, **_valid(RejectIn, request).validated_data)
        return self._out(deployment)

    def _reasoned(self, request: Request, service: Any) -> Response:
        deployment = self.get_object()
        service(actor=request.user, deployment=deployment, reason=_valid(ReasonIn, request).validated_data["reason"])
        return self._out(deployment)

    @extend_schema(request=ReasonIn, responses=DeploymentOut, summary="Suspend at once (AO or DPO)")
    @action(detail=True, methods=["post"])
    def suspend(self, request: Request, pk: str | None = None) -> Response:
        return self._reasoned(request, svc.deployment_suspend)

    @extend_schema(request=ReasonIn, responses=DeploymentOut, summary="Resume a suspended deployment (AO)")
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        return self._reasoned(request, svc.deployment_resume)

    @extend_schema(request=ReasonIn, responses=DeploymentOut, summary="Revoke for good (AO or DPO)")
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        return self._reasoned(request, svc.deployment_revoke)

    @extend_schema(request=ReasonIn, responses=DeploymentOut, summary="Cancel (applicant before authorisation, AO)")
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        return self._reasoned(request, svc.deployment_cancel)

    @extend_schema(request=ReasonIn, responses=DeploymentOut, summary="Close (complete) early (AO)")
    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: str | None = None) -> Response:
        return self._reasoned(request, svc.deployment_close)

    @extend_schema(request=ReviewIn, responses=DeploymentOut, summary="Record the post-deployment review (AO)")
    @action(detail=True, methods=["post"])
    def review(self, request: Request, pk: str | None = None) -> Response:
        deployment = self.get_object()
        svc.deployment_review(actor=request.user, deployment=deployment, **_valid(ReviewIn, request).validated_data)
        return self._out(deployment)

    @extend_schema(request=AssignedOfficersIn, responses=DeploymentOut, summary="Set the assigned field officers")
    @action(detail=True, methods=["put"], url_path="assigned-officers")
    def assigned_officers(self, request: Request, pk: str | None = None) -> Response:
        deployment = self.get_object()
        ids = _valid(AssignedOfficersIn, request).validated_data["officer_ids"]
        svc.deployment_set_assigned_officers(actor=request.user, deployment=deployment, officer_ids=ids)
        return self._out(deployment)

    @extend_schema(
        parameters=[
            OpenApiParameter("at", OpenApiTypes.DATETIME, description="Moment to evaluate (default now)"),
            OpenApiParameter(
                "operator",
                int,
                description="Operator id for gate 6 (skipped when absent): your own, or anyone's for an AO or the DPO",
            ),
        ],
        responses=GateReportOut,
        summary="Evaluate the six gates of domain.md 2.3",
    )
    @action(detail=True, methods=["get"])
    def gates(self, request: Request, pk: str | None = None) -> Response:
        deployment = self.get_object()
        at = timezone.now()
        if request.query_params.get("at"):
            try:
                at = parse_datetime(request.query_params["at"])
            except ValueError:  # well formed but impossible, e.g. 30 February
                at = None
            if at is None or timezone.is_naive(at):
                raise RuleViolation("Give `at` as an ISO 8601 time with a zone.", details={"at": ["Invalid time."]})
        operator = None
        if request.query_params.get("operator"):
            operator = _gate_operator(request.user, request.query_params["operator"])
        return Response(gates.deployment_gates(deployment, at=at, operator=operator).as_dict())

    def _eu_deployment(self) -> Deployment:
        if not eu.eu_mode():
            raise Http404
        return self.get_object()

    def _eu_record_out(self, deployment: Deployment) -> Response:
        record = eu_selectors.eu_record_get(user=self.request.user, deployment=deployment)
        return Response(EuRecordOut(record, context={"user": self.request.user, "deployment": deployment}).data)

    @extend_schema(
        methods=["GET"],
        responses={200: EuRecordOut, 404: EU_NOT_FOUND},
        summary="The deployment's EU AI Act record, notifications and 24 h urgency status (EU mode only)",
    )
    @extend_schema(
        methods=["PATCH"],
        request=EuRecordIn,
        responses=EU_RECORD_CHANGED,
        summary="Applicant: the objective, urgency, FRIA items (a)–(f) and EU database reference (EU mode only)",
        description=(
            "Send only the fields to change. A change after authorisation voids the authorisation, as a material "
            "change to the application does. 403 `not_applicant` for anyone but the deployment's applicant; 409 "
            "`eu_terminated` once the use has been terminated."
        ),
    )
    @action(detail=True, methods=["get", "patch"], url_path="eu-record")
    def eu_record(self, request: Request, pk: str | None = None) -> Response:
        deployment = self._eu_deployment()
        if request.method == "PATCH":
            fields = dict(_valid(EuRecordIn, request).validated_data)
            # The serializer drops keys it does not know; the service names them (a misspelt FRIA item, or the
            # authority's part) rather than ignore them.
            fields.update({name: value for name, value in request.data.items() if name not in EuRecordIn().fields})
            if not fields:
                raise RuleViolation("Send at least one field of the record to change.", code="nothing_to_change")
            eu.eu_record_update(actor=request.user, deployment=deployment, **fields)
        return self._eu_record_out(deployment)

    @extend_schema(
        request=EuAuthorityDecisionIn,
        responses=EU_RECORD_CHANGED,
        summary="AO or DPO: the judicial or administrative authority's decision (EU mode only)",
        description=(
            "A rejection stops every session and deletes all data and results of the use at once, verified "
            "(`terminated_at` and `deletion_evidence` in the answer)."
        ),
    )
    @action(detail=True, methods=["post"], url_path="eu-record/authority-decision")
    def eu_authority_decision(self, request: Request, pk: str | None = None) -> Response:
        deployment = self._eu_deployment()
        data = _valid(EuAuthorityDecisionIn, request).validated_data
        eu.eu_authority_decision_record(actor=request.user, deployment=deployment, **data)
        return self._eu_record_out(deployment)

    @extend_schema(
        request=EuNotificationIn,
        responses={201: EuNotificationOut, 400: ERROR, 403: ERROR, 404: EU_NOT_FOUND},
        summary="Log a notification of this use to an authority (Art. 5(4); EU mode only)",
    )
    @action(detail=True, methods=["post"], url_path="eu-record/notifications")
    def eu_notifications(self, request: Request, pk: str | None = None) -> Response:
        deployment = self._eu_deployment()
        data = _valid(EuNotificationIn, request).validated_data
        notification = eu.eu_notification_log(actor=request.user, deployment=deployment, **data)
        return Response(EuNotificationOut(notification).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses=TimelineEventOut(many=True),
        summary="Every audited event about the deployment, as its page shows them (whole events: /audit-events/)",
    )
    @action(detail=True, methods=["get"])
    def timeline(self, request: Request, pk: str | None = None) -> Response:
        deployment = self.get_object()
        events = selectors.deployment_timeline(user=request.user, deployment=deployment)
        return Response(TimelineEventOut(events, many=True).data)

    @extend_schema(methods=["GET"], request=None, responses=SignageOut(many=True))
    @extend_schema(methods=["POST"], request=SignageIn, responses={201: SignageOut})
    @action(detail=True, methods=["get", "post"])
    def signage(self, request: Request, pk: str | None = None) -> Response:
        deployment = self.get_object()
        if request.method == "GET":
            return Response(
                SignageOut(selectors.signage_list(user=request.user, deployment=deployment), many=True).data
            )
        data = _valid(SignageIn, request).validated_data
        record = svc.signage_record_add(actor=request.user, deployment=deployment, **data)
        return Response(SignageOut(record).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=SignageUpdateIn, responses=SignageOut, summary="Correct a signage record or record removal")
    @action(detail=True, methods=["patch"], url_path=r"signage/(?P<record_id>\d+)")
    def signage_update(self, request: Request, pk: str | None = None, record_id: str | None = None) -> Response:
        deployment = self.get_object()
        record = selectors.signage_list(user=request.user, deployment=deployment).filter(pk=record_id).first()
        if record is None:
            raise Http404
        record = svc.signage_record_update(
            actor=request.user, record=record, **_valid(SignageUpdateIn, request).validated_data
        )
        return Response(SignageOut(record).data)

    @extend_schema(methods=["GET"], request=None, responses=LeafletOut(many=True))
    @extend_schema(methods=["POST"], request=LeafletIn, responses={201: LeafletOut})
    @action(detail=True, methods=["get", "post"])
    def leaflets(self, request: Request, pk: str | None = None) -> Response:
        deployment = self.get_object()
        if request.method == "GET":
            return Response(
                LeafletOut(selectors.leaflet_list(user=request.user, deployment=deployment), many=True).data
            )
        data = _valid(LeafletIn, request).validated_data
        record = svc.leaflet_record_add(actor=request.user, deployment=deployment, **data)
        return Response(LeafletOut(record).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=LeafletUpdateIn, responses=LeafletOut, summary="Correct a leaflet record")
    @action(detail=True, methods=["patch"], url_path=r"leaflets/(?P<record_id>\d+)")
    def leaflet_update(self, request: Request, pk: str | None = None, record_id: str | None = None) -> Response:
        deployment = self.get_object()
        record = selectors.leaflet_list(user=request.user, deployment=deployment).filter(pk=record_id).first()
        if record is None:
            raise Http404
        record = svc.leaflet_record_update(
            actor=request.user, record=record, **_valid(LeafletUpdateIn, request).validated_data
        )
        return Response(LeafletOut(record).data)

    @extend_schema(responses={(200, "application/pdf"): PDF_RESPONSE}, summary="Authorisation record (PDF)")
    @action(detail=True, methods=["get"], url_path="authorisation-pdf")
    def authorisation_pdf(self, request: Request, pk: str | None = None) -> HttpResponse:
        deployment = self.get_object()
        content = svc.deployment_export_pdf(actor=request.user, deployment=deployment, kind="authorisation")
        return _pdf(content, f"{deployment.reference}-authorisation.pdf")

    @extend_schema(responses={(200, "application/pdf"): PDF_RESPONSE}, summary="Deployment record (PDF)")
    @action(detail=True, methods=["get"], url_path="record-pdf")
    def record_pdf(self, request: Request, pk: str | None = None) -> HttpResponse:
        deployment = self.get_object()
        content = svc.deployment_export_pdf(actor=request.user, deployment=deployment, kind="record")
        return _pdf(content, f"{deployment.reference}-record.pdf")


class TransparencyViewSet(viewsets.ViewSet):
    """Published deployment records (public, no login): the Met columns, computed from the system's records."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    lookup_field = "reference"
    lookup_value_regex = r"[A-Za-z0-9-]+"

    @extend_schema(responses=TransparencyRecordOut(many=True))
    def list(self, request: Request) -> Response:
        records = [transparency.deployment_record(d) for d in selectors.deployment_published_list()]
        return Response(TransparencyRecordOut(records, many=True).data)

    @extend_schema(responses=TransparencyDetailOut)
    def retrieve(self, request: Request, reference: str | None = None) -> Response:
        try:
            deployment = selectors.deployment_published_get(reference=reference or "")
        except Deployment.DoesNotExist as exc:
            raise Http404 from exc
        return Response(TransparencyDetailOut(transparency.public_detail(deployment)).data)
