"""Watch-list endpoints: summary, upload (files or zip), batch progress, entries, approval, destruction, library.

Every change calls a service; no endpoint ever returns an encoding. Readers: compilers, AOs and the DPO.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from compliance.choices import Role, WatchlistCategory
from compliance.models import EnrolmentBatch, EnrolmentItem, ReferenceImage, WatchlistEntry
from compliance.models.watchlists import ImageSource
from compliance.permissions import require_role, role_permission
from compliance.selectors import watchlists as sel
from compliance.services import watchlists as svc
from lfr_portal.uploads import require_complete

Readers = role_permission(*sel.READER_ROLES)


# --- serializers ------------------------------------------------------------------------------------------------


class ReferenceImageOut(serializers.ModelSerializer):
    class Meta:
        model = ReferenceImage
        fields = [
            "id",
            "person_reference",
            "legal_basis",
            "source",
            "source_detail",
            "sensitive_or_third_party",
            "captured_on",
            "file_name",
            "content_type",
            "image_sha256",
            "created_at",
        ]


class WatchlistEntryOut(serializers.ModelSerializer):
    reference_image = ReferenceImageOut()
    flags = serializers.SerializerMethodField()

    class Meta:
        model = WatchlistEntry
        fields = [
            "id",
            "reference_image",
            "category",
            "offence_or_reason",
            "justification",
            "age_justification",
            "compiler",
            "image_sha256",
            "face_box",
            "flags",
            "created_at",
            "updated_at",
        ]

    def get_flags(self, entry: WatchlistEntry) -> list[str]:
        return [str(f) for f in sel.entry_flags(entry)]


class WatchlistEntryUpdateIn(serializers.Serializer):
    category = serializers.ChoiceField(choices=WatchlistCategory.choices, required=False)
    offence_or_reason = serializers.CharField(required=False, allow_blank=True)
    justification = serializers.CharField(required=False, allow_blank=True)
    age_justification = serializers.CharField(required=False, allow_blank=True)
    if_unchanged_since = serializers.DateTimeField(
        required=False,
        help_text="The entry's `updated_at` as you read it: if someone has changed the entry since, nothing is "
        "written and the answer is 409 `entry_changed`.",
    )


class WatchlistReasonIn(serializers.Serializer):
    reason = serializers.CharField(allow_blank=True)


class EnrolmentItemOut(serializers.ModelSerializer):
    class Meta:
        model = EnrolmentItem
        fields = ["id", "position", "file_name", "status", "error_code", "message", "entry", "processed_at"]


class EnrolmentBatchOut(serializers.ModelSerializer):
    items = EnrolmentItemOut(many=True, read_only=True)
    done = serializers.SerializerMethodField()

    class Meta:
        model = EnrolmentBatch
        fields = ["id", "kind", "status", "message", "total", "done", "created_at", "finished_at", "items"]

    def get_done(self, batch: EnrolmentBatch) -> int:
        return sum(1 for item in batch.items.all() if item.status != "pending")


class WatchlistUploadIn(serializers.Serializer):
    # An empty file gets its own verdict on the worker, so the other files are still enrolled.
    files = serializers.ListField(child=serializers.FileField(allow_empty_file=True), allow_empty=False)
    category = serializers.ChoiceField(choices=WatchlistCategory.choices)
    offence_or_reason = serializers.CharField()
    justification = serializers.CharField()
    legal_basis = serializers.CharField()
    source = serializers.ChoiceField(choices=ImageSource.choices)
    captured_on = serializers.DateField()
    sensitive_or_third_party = serializers.BooleanField(default=False)
    source_detail = serializers.CharField(required=False, allow_blank=True, default="")
    age_justification = serializers.CharField(required=False, allow_blank=True, default="")
    person_reference = serializers.CharField(required=False, allow_blank=True, default="")


class LibraryEntryIn(serializers.Serializer):
    reference_image = serializers.PrimaryKeyRelatedField(queryset=ReferenceImage.objects.all())
    category = serializers.ChoiceField(choices=WatchlistCategory.choices)
    offence_or_reason = serializers.CharField()
    justification = serializers.CharField()
    age_justification = serializers.CharField(required=False, allow_blank=True, default="")


class WatchlistApproveIn(serializers.Serializer):
    acknowledgement = serializers.CharField(required=False, allow_blank=True, default="")


class WatchlistOut(serializers.Serializer):
    deployment = serializers.IntegerField()
    reference = serializers.CharField()
    deployment_status = serializers.CharField()
    status = serializers.CharField()
    version = serializers.IntegerField()
    size = serializers.IntegerField()
    max_size = serializers.IntegerField(allow_null=True)
    counts = serializers.DictField(child=serializers.IntegerField())
    flagged = serializers.ListField(child=serializers.DictField())
    assessment = serializers.DictField()
    pending_batches = serializers.IntegerField()
    approved_at = serializers.DateTimeField(allow_null=True)
    approved_by = serializers.IntegerField(allow_null=True)
    content_hash = serializers.CharField()
    approval_current = serializers.BooleanField()
    approval_reason = serializers.CharField()


class WatchlistRowOut(serializers.Serializer):
    deployment = serializers.IntegerField(source="pk")
    reference = serializers.CharField()
    title = serializers.CharField()
    deployment_status = serializers.CharField(source="status")
    watchlist_status = serializers.SerializerMethodField()
    entries = serializers.IntegerField(source="entry_count")

    def get_watchlist_status(self, deployment: Any) -> str:
        watchlist = getattr(deployment, "watchlist", None)
        return watchlist.status if watchlist else "none"


def _summary_data(summary: sel.WatchlistSummary) -> dict[str, Any]:
    watchlist = summary.watchlist
    return {
        "deployment": summary.deployment.pk,
        "reference": summary.deployment.reference,
        "deployment_status": summary.deployment.status,
        "status": watchlist.status if watchlist else "none",
        "version": watchlist.version if watchlist else 0,
        "size": summary.size,
        "max_size": summary.deployment.watchlist_max_size,
        "counts": summary.counts,
        "flagged": [{"entry": e.pk, "flags": [str(f) for f in flags]} for e, flags in summary.flagged],
        "assessment": summary.assessment,
        "pending_batches": summary.pending_batches,
        "approved_at": watchlist.approved_at if watchlist else None,
        "approved_by": watchlist.approved_by_id if watchlist else None,
        "content_hash": watchlist.content_hash if watchlist else "",
        "approval_current": summary.approval_current,
        "approval_reason": str(summary.approval_reason),
    }


# --- views ------------------------------------------------------------------------------------------------------


class WatchlistViewSet(viewsets.GenericViewSet):
    """One watch-list per deployment, addressed by the deployment's id."""

    permission_classes = [Readers]
    serializer_class = WatchlistRowOut

    def get_queryset(self):
        return sel.deployments_for_watchlists(user=self.request.user)

    def _summary(self, pk: Any) -> sel.WatchlistSummary:
        return sel.watchlist_summary(user=self.request.user, deployment_id=int(pk))

    @extend_schema(responses=WatchlistRowOut(many=True))
    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(WatchlistRowOut(page, many=True).data)

    @extend_schema(responses=WatchlistOut)
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return Response(WatchlistOut(_summary_data(self._summary(pk))).data)

    @extend_schema(responses=WatchlistEntryOut(many=True))
    @action(detail=True, methods=["get"])
    def entries(self, request: Request, pk: str | None = None) -> Response:
        summary = self._summary(pk)
        if summary.watchlist is None:
            return Response([])
        return Response(
            WatchlistEntryOut(sel.entry_list(user=request.user, watchlist=summary.watchlist), many=True).data
        )

    # Multipart for the images; every other action takes JSON (REST_FRAMEWORK's default parsers).
    @extend_schema(request={"multipart/form-data": WatchlistUploadIn}, responses={202: EnrolmentBatchOut})
    @action(detail=True, methods=["post"], url_path="uploads", parser_classes=[MultiPartParser, FormParser])
    def upload(self, request: Request, pk: str | None = None) -> Response:
        summary = self._summary(pk)
        data = WatchlistUploadIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        uploaded = values.pop("files")
        require_complete(uploaded)
        files = [(f.name, f.read()) for f in uploaded]
        batch = svc.enrolment_batch_create(actor=request.user, deployment=summary.deployment, files=files, **values)
        return Response(EnrolmentBatchOut(batch).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=LibraryEntryIn, responses={202: EnrolmentBatchOut})
    @action(detail=True, methods=["post"], url_path="library-entries")
    def library_entry(self, request: Request, pk: str | None = None) -> Response:
        summary = self._summary(pk)
        # The role first: validating the image id first told any reader which library images exist.
        require_role(request.user, Role.WATCHLIST_COMPILER, action=_("put library images on watch-lists"))
        data = LibraryEntryIn(data=request.data)
        data.is_valid(raise_exception=True)
        batch = svc.enrolment_batch_from_library(
            actor=request.user, deployment=summary.deployment, **data.validated_data
        )
        return Response(EnrolmentBatchOut(batch).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=WatchlistApproveIn, responses=WatchlistOut)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        summary = self._summary(pk)
        data = WatchlistApproveIn(data=request.data)
        data.is_valid(raise_exception=True)
        svc.watchlist_approve(actor=request.user, deployment=summary.deployment, **data.validated_data)
        return Response(WatchlistOut(_summary_data(self._summary(pk))).data)

    @extend_schema(request=WatchlistReasonIn, responses=WatchlistOut)
    @action(detail=True, methods=["post"], url_path="destroy")
    def destroy_watchlist(self, request: Request, pk: str | None = None) -> Response:
        summary = self._summary(pk)
        data = WatchlistReasonIn(data=request.data)
        data.is_valid(raise_exception=True)
        svc.watchlist_destroy(actor=request.user, deployment=summary.deployment, reason=data.validated_data["reason"])
        return Response(WatchlistOut(_summary_data(self._summary(pk))).data)


class EnrolmentBatchViewSet(viewsets.GenericViewSet):
    """Progress and the per-file report of an upload."""

    permission_classes = [Readers]
    serializer_class = EnrolmentBatchOut

    def get_queryset(self):
        return EnrolmentBatch.objects.none()

    @extend_schema(responses=EnrolmentBatchOut)
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        batch = sel.batch_get(user=request.user, pk=int(pk))
        return Response(EnrolmentBatchOut(batch).data)


class WatchlistEntryViewSet(viewsets.GenericViewSet):
    """Entries: read, correct (un-approves the list) and remove."""

    permission_classes = [Readers]
    serializer_class = WatchlistEntryOut

    def get_queryset(self):
        return WatchlistEntry.objects.none()

    def _entry(self, pk: Any) -> WatchlistEntry:
        return sel.entry_get(user=self.request.user, pk=int(pk))

    @extend_schema(responses=WatchlistEntryOut)
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        return Response(WatchlistEntryOut(self._entry(pk)).data)

    @extend_schema(request=WatchlistEntryUpdateIn, responses=WatchlistEntryOut)
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        entry = self._entry(pk)
        data = WatchlistEntryUpdateIn(data=request.data)
        data.is_valid(raise_exception=True)
        svc.watchlist_entry_update(actor=request.user, entry=entry, **data.validated_data)
        return Response(WatchlistEntryOut(self._entry(pk)).data)

    @extend_schema(request=WatchlistReasonIn, responses={204: None})
    @action(detail=True, methods=["post"])
    def remove(self, request: Request, pk: str | None = None) -> Response:
        entry = self._entry(pk)
        data = WatchlistReasonIn(data=request.data)
        data.is_valid(raise_exception=True)
        svc.watchlist_entry_remove(actor=request.user, entry=entry, reason=data.validated_data["reason"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class ReferenceImageViewSet(viewsets.ReadOnlyModelViewSet):
    """The reference library's provenance records (never the images)."""

    permission_classes = [role_permission(*sel.LIBRARY_ROLES)]
    serializer_class = ReferenceImageOut

    def get_queryset(self):
        return sel.reference_image_list(user=self.request.user)

    @extend_schema(request=WatchlistReasonIn, responses={204: None})
    @action(detail=True, methods=["post"])
    def remove(self, request: Request, pk: str | None = None) -> Response:
        """Delete the image from the library (no longer lawfully held, or held in error), with the reason; refused
        while a watch-list entry uses it (`library_image_in_use`)."""
        data = WatchlistReasonIn(data=request.data)
        data.is_valid(raise_exception=True)
        svc.reference_image_remove(actor=request.user, image=self.get_object(), reason=data.validated_data["reason"])
        return Response(status=status.HTTP_204_NO_CONTENT)
