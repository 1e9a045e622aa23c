"""Watch-lists (domain.md 3): the reference library, one watch-list per deployment, its entries and enrolment.

Biometric artefacts are never stored in clear: encodings are Fernet tokens in `WatchlistEntry.encoding`, and
every image (library original, watch-list copy, pending upload) is an encrypted file under MEDIA_ROOT.
Only compliance.services.watchlists changes these rows.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from compliance.choices import WatchlistCategory
from compliance.models.accounts import User
from compliance.models.deployments import Deployment


class ImageSource(models.TextChoices):
    """Where a reference image came from (domain.md 3)."""

    CUSTODY = "custody", _("Custody image")
    OTHER = "other", _("Other source")


class WatchlistStatus(models.TextChoices):
    DRAFT = "draft", _("Draft (not approved)")
    APPROVED = "approved", _("Approved and frozen")
    DESTROYED = "destroyed", _("Destroyed")


class BatchKind(models.TextChoices):
    FILES = "files", _("Image files")
    ZIP = "zip", _("Zip archive")
    LIBRARY = "library", _("From the reference library")


class BatchStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for a worker")
    PROCESSING = "processing", _("Processing")
    DONE = "done", _("Finished")
    REFUSED = "refused", _("Refused")


class ItemStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    ENROLLED = "enrolled", _("Enrolled")
    ERROR = "error", _("Error")


class ReferenceImage(models.Model):
    """A lawfully held image in the force's reference library, with its provenance; the image file is encrypted."""

    person_reference = models.CharField(_("person reference"), max_length=100, db_index=True)
    # Entered by the compiler, not taken from the file's name: only entered references say that two images show one
    # person (the margin rule and repeat sightings group them); "front" from a/front.jpg and b/front.jpg does not.
    person_reference_entered = models.BooleanField(default=False, editable=False)
    legal_basis = models.TextField(_("legal basis for holding the image"))
    source = models.CharField(_("image source"), max_length=16, choices=ImageSource.choices)
    source_detail = models.CharField(_("source detail"), max_length=200, blank=True)
    sensitive_or_third_party = models.BooleanField(_("sensitive or third-party source"), default=False)
    captured_on = models.DateField(_("image capture date"))
    file_name = models.CharField(_("original file name"), max_length=255)
    content_type = models.CharField(max_length=32)
    image_path = models.CharField(max_length=255, unique=True)  # relative to MEDIA_ROOT, encrypted bytes
    image_sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveIntegerField()
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["person_reference", "id"]

    def __str__(self) -> str:
        return f"{self.person_reference} ({self.captured_on:%Y-%m-%d})"


class Watchlist(models.Model):
    """The one watch-list of a deployment. `version` rises with every content change; approval freezes a hash.

    The row itself holds no biometrics and survives destruction with the counts the published record needs.
    """

    deployment = models.OneToOneField(Deployment, on_delete=models.PROTECT, related_name="watchlist")
    status = models.CharField(
        _("status"), max_length=16, choices=WatchlistStatus.choices, default=WatchlistStatus.DRAFT, db_index=True
    )
    version = models.PositiveIntegerField(default=0)
    approved_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    approved_version = models.PositiveIntegerField(null=True, blank=True)
    approved_size = models.PositiveIntegerField(_("size when approved"), null=True, blank=True)
    content_hash = models.CharField(_("content hash at approval"), max_length=64, blank=True)
    assessment = models.JSONField(_("false-alert assessment at approval"), default=dict, blank=True)
    acknowledgement = models.TextField(_("acknowledgement of an uncalibrated matcher"), blank=True)
    destroyed_at = models.DateTimeField(_("destroyed at"), null=True, blank=True)
    destroyed_entry_count = models.PositiveIntegerField(null=True, blank=True)
    destruction_evidence = models.JSONField(default=dict, blank=True)
    # Everyone who enrolled, changed or removed an entry: none of them may approve the list (separation of
    # duties). Kept here because a removed entry leaves no row, and the audit log that also names them is pruned.
    contributors = models.ManyToManyField(User, blank=True, related_name="+", verbose_name=_("contributors"))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="approved")
                | (models.Q(approved_at__isnull=False) & ~models.Q(content_hash="")),
                name="watchlist_approved_is_frozen",
                violation_error_message=_("An approved watch-list must record when it was approved and its hash."),
            )
        ]

    def __str__(self) -> str:
        return f"Watch-list of deployment {self.deployment_id}"

    @property
    def is_approved(self) -> bool:
        return self.status == WatchlistStatus.APPROVED


class WatchlistEntry(models.Model):
    """One person on a watch-list: category (closed list), reason, justification and an encrypted encoding."""

    watchlist = models.ForeignKey(Watchlist, on_delete=models.CASCADE, related_name="entries")
    reference_image = models.ForeignKey(ReferenceImage, on_delete=models.PROTECT, related_name="entries")
    category = models.CharField(_("category"), max_length=32, choices=WatchlistCategory.choices)
    offence_or_reason = models.CharField(_("offence or reason"), max_length=300)
    justification = models.TextField(_("justification"))
    age_justification = models.TextField(_("justification for an old image"), blank=True)
    compiler = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    encoding = models.BinaryField(_("encrypted encoding"))  # Fernet token; never the float32 vector itself
    encoding_sha256 = models.CharField(max_length=64)  # of the plaintext vector, so a swapped token is detected
    image_path = models.CharField(max_length=255, unique=True)  # the deployment's encrypted copy
    image_sha256 = models.CharField(max_length=64)
    box_top = models.PositiveIntegerField()
    box_right = models.PositiveIntegerField()
    box_bottom = models.PositiveIntegerField()
    box_left = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "watch-list entries"
        constraints = [
            models.UniqueConstraint(
                fields=["watchlist", "reference_image"],
                name="watchlist_entry_image_once",
                violation_error_message=_("This reference image is already on the watch-list."),
            ),
            models.CheckConstraint(
                condition=models.Q(category__in=WatchlistCategory.values),
                name="watchlist_entry_category_closed",
                violation_error_message=_("The category must be one of the closed list."),
            ),
        ]

    def __str__(self) -> str:
        return f"Entry {self.pk} ({self.category})"

    @property
    def face_box(self) -> tuple[int, int, int, int]:
        """(top, right, bottom, left) in the reference image."""
        return (self.box_top, self.box_right, self.box_bottom, self.box_left)


class EnrolmentBatch(models.Model):
    """One upload (files, a zip, or a library pick) for a watch-list, processed on an `enrolment` worker."""

    watchlist = models.ForeignKey(Watchlist, on_delete=models.CASCADE, related_name="batches")
    kind = models.CharField(max_length=16, choices=BatchKind.choices)
    status = models.CharField(max_length=16, choices=BatchStatus.choices, default=BatchStatus.PENDING)
    uploaded_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    # Metadata applied to every image of the batch (a zip's person reference is each file's name).
    metadata = models.JSONField(default=dict)
    source_name = models.CharField(max_length=255, blank=True)
    source_path = models.CharField(max_length=255, blank=True)  # encrypted zip awaiting expansion
    message = models.TextField(blank=True)
    total = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Worker runs that count against ENROLMENT_MAX_RUNS: a run cut short by its soft time limit, and a dead run
    # charged to the image it was checking (EnrolmentItem.worker_deaths), are taken off again.
    runs = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "enrolment batches"

    def __str__(self) -> str:
        return f"Batch {self.pk} ({self.kind}, {self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (BatchStatus.DONE, BatchStatus.REFUSED)


class EnrolmentItem(models.Model):
    """One image of a batch and its single verdict: enrolled, or an error with a stable code."""

    batch = models.ForeignKey(EnrolmentBatch, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    file_name = models.CharField(max_length=255)
    status = models.CharField(max_length=16, choices=ItemStatus.choices, default=ItemStatus.PENDING)
    error_code = models.CharField(max_length=32, blank=True)
    message = models.TextField(blank=True)
    upload_path = models.CharField(max_length=255, blank=True)  # encrypted bytes until processed
    reference_image = models.ForeignKey(
        ReferenceImage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    entry = models.ForeignKey(WatchlistEntry, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    size_bytes = models.PositiveIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)
    # Committed before a run checks the image and cleared when it ends without a verdict (its soft time limit): a
    # pending item still marked when the next run starts is the image the last run's worker died on.
    started_at = models.DateTimeField(null=True, blank=True)
    worker_deaths = models.PositiveSmallIntegerField(default=0)  # runs that died checking this image

    class Meta:
        ordering = ["batch", "position"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "position"], name="enrolment_item_position_unique"),
            models.CheckConstraint(
                condition=~models.Q(status="error") | ~models.Q(error_code=""),
                name="enrolment_item_error_has_code",
                violation_error_message=_("An item in error must name the error."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.file_name}: {self.status}"
