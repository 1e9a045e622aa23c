"""Every write to watch-lists (domain.md 3): enrolment, entry changes, approval and freeze, destruction, key rotation.

Content changes bump `Watchlist.version` and un-approve an approved list (audited), so the matcher's cache and
the gate both notice. Images and encodings are only ever written encrypted; the audit log gets ids, counts and
hashes, never an image or an encoding.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import PurePosixPath
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from compliance import audit, biometric_store, zipsafe
from compliance.choices import DeploymentStatus, Role, WatchlistCategory
from compliance.crypto import InvalidToken, encrypt_bytes, rotate_token
from compliance.models import Deployment, EnrolmentBatch, EnrolmentItem, ReferenceImage, User, Watchlist, WatchlistEntry
from compliance.models.watchlists import BatchKind, BatchStatus, ImageSource, ItemStatus, WatchlistStatus
from compliance.permissions import require_authorising_rank, require_role
from compliance.selectors.watchlists import (
    LIBRARY_ROLES,
    age_limit_date,
    budget_assessment,
    clear_gallery_cache,
    content_type_of,
    contributor_ids,
    decrypt_and_hash,
    destruction_evidence,
    entry_flags,
)
from compliance.services import signage_photos
from compliance.text import lf_line_breaks
from lfr_portal.errors import InvalidTransition, NotFound, NotPermitted, RuleViolation
from matching.config import engine_config
from matching.engine import EngineError, encoding_to_bytes, enrolment_encoding

logger = logging.getLogger(__name__)

S = DeploymentStatus
# A watch-list can be compiled once the application is submitted, and until the deployment stops for good.
COMPILE_STATES = frozenset({S.SUBMITTED, S.AUTHORISED, S.SUSPENDED})
# Nothing of the watch-list is needed any more: destroy at once.
DESTROY_AT_ONCE_STATES = frozenset({S.REVOKED, S.CANCELLED, S.REJECTED})
DESTROY_AFTER_DELAY_STATES = frozenset({S.COMPLETED, S.REVIEWED})
# A person may destroy a watch-list by hand only once the deployment can never match again.
MANUAL_DESTROY_STATES = DESTROY_AT_ONCE_STATES | DESTROY_AFTER_DELAY_STATES
ENTRY_EDITABLE = ("category", "offence_or_reason", "justification", "age_justification")

# Other apps may register extra rotators `(actor) -> (label, count)` for their own encrypted artefacts.
extra_rotators: list[Callable[[Any], tuple[str, int]]] = []


# The verdict of an image whose checking kept killing the enrolment worker.
WORKER_CRASHED = "worker_crashed"


class _ItemRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# ----------------------------------------------------------------------------------------------------------------
# Helpers


def _deployment(deployment: Deployment | int) -> Deployment:
    pk = deployment.pk if isinstance(deployment, Deployment) else deployment
    return Deployment.objects.get(pk=pk)


def _locked_watchlist(deployment: Deployment) -> Watchlist:
    """The deployment's watch-list, created on first use, locked for the rest of the transaction."""
    Watchlist.objects.get_or_create(deployment=deployment)
    return Watchlist.objects.select_for_update().select_related("deployment").get(deployment=deployment)


def _compile_refusal(deployment: Deployment, watchlist: Watchlist | None) -> InvalidTransition | None:
    """Why the list may no longer change, or None: the one rule for the service and the pages."""
    if watchlist is not None and watchlist.status == WatchlistStatus.DESTROYED:
        return InvalidTransition(_("This watch-list has been destroyed."), code="watchlist_destroyed")
    if deployment.status not in COMPILE_STATES:
        return InvalidTransition(
            _("The watch-list of %(ref)s cannot change: the deployment is %(status)s.")
            % {"ref": deployment.reference, "status": S(deployment.status).label},
            code="watchlist_closed",
            details={"status": deployment.status},
        )
    return None


def is_compilable(deployment: Deployment, watchlist: Watchlist | None = None) -> bool:
    """Whether the list may still change (pages ask it to offer forms)."""
    return _compile_refusal(deployment, watchlist) is None


def _require_compilable(deployment: Deployment, watchlist: Watchlist | None = None) -> None:
    if (refusal := _compile_refusal(deployment, watchlist)) is not None:
        raise refusal


def _require_compiler(actor: Any, action: str) -> None:
    require_role(actor, Role.WATCHLIST_COMPILER, action=action)


def _text(value: Any) -> str:
    """Text as stored: trimmed, with a browser's CRLF line breaks as LF (so a page and the API store the same)."""
    return lf_line_breaks(str(value or "")).strip()


def _too_long(model: Any, field: str, value: str) -> str:
    """The refusal for a text longer than the model's column holds, or "" (the database would refuse it later,
    on a worker, with nobody to tell)."""
    limit = model._meta.get_field(field).max_length
    if limit and len(_text(value)) > limit:
        return _("At most %(max)s characters (this has %(n)s).") % {"max": limit, "n": len(_text(value))}
    return ""


def entry_rule_errors(
    deployment: Deployment,
    *,
    category: str,
    offence_or_reason: str,
    justification: str,
    captured_on: datetime.date | None,
    age_justification: str,
) -> dict[str, list[str]]:
    """The composition rules for one entry (domain.md 3): closed, authorised category; reason; old-image note."""
    errors: dict[str, list[str]] = {}
    if category not in WatchlistCategory.values:
        errors["category"] = [_("Choose one of the watch-list categories.")]
    elif category not in (deployment.watchlist_categories or []):
        errors["category"] = [
            _("The authorisation of %(ref)s does not allow the category “%(cat)s”.")
            % {"ref": deployment.reference, "cat": WatchlistCategory(category).label}
        ]
    if not _text(offence_or_reason):
        errors["offence_or_reason"] = [_("Record the offence or reason.")]
    elif too_long := _too_long(WatchlistEntry, "offence_or_reason", offence_or_reason):
        errors["offence_or_reason"] = [too_long]
    if not _text(justification):
        errors["justification"] = [_("Record why this person is on the watch-list.")]
    if captured_on is not None and captured_on < age_limit_date() and not _text(age_justification):
        errors["age_justification"] = [
            _("The image is older than %(n)s years: record why it is still fit to use.")
            % {"n": settings.LFR_MAX_IMAGE_AGE_YEARS}
        ]
    return errors


def _pending_count(watchlist: Watchlist) -> int:
    return EnrolmentItem.objects.filter(batch__watchlist=watchlist, status=ItemStatus.PENDING).count() + sum(
        b.total
        for b in EnrolmentBatch.objects.filter(
            watchlist=watchlist, kind=BatchKind.ZIP, status__in=[BatchStatus.PENDING, BatchStatus.PROCESSING]
        ).exclude(items__isnull=False)
    )


def _size_errors(deployment: Deployment, watchlist: Watchlist, adding: int) -> dict[str, list[str]]:
    maximum = deployment.watchlist_max_size
    if not maximum:
        return {"watchlist_max_size": [_("The application sets no maximum watch-list size.")]}
    current = watchlist.entries.count() + _pending_count(watchlist)
    if current + adding > maximum:
        return {
            "files": [
                _("The watch-list would hold %(n)s entries; the authorised maximum is %(max)s.")
                % {"n": current + adding, "max": maximum}
            ]
        }
    return {}


def _content_changed(watchlist: Watchlist, *, actor: Any, change: str) -> None:
    """Bump the version and record `actor` among the list's contributors, none of whom may approve it; an approved
    list becomes a draft again, audited (domain.md 3: any change un-approves)."""
    Watchlist.objects.filter(pk=watchlist.pk).update(version=F("version") + 1, updated_at=timezone.now())
    watchlist.contributors.add(actor)
    if watchlist.status == WatchlistStatus.APPROVED:
        Watchlist.objects.filter(pk=watchlist.pk).update(status=WatchlistStatus.DRAFT)
        audit.record(
            "watchlist.unapproved",
            actor=actor,
            target=watchlist,
            deployment_id=watchlist.deployment_id,
            before={"status": WatchlistStatus.APPROVED, "content_hash": watchlist.content_hash},
            after={"status": WatchlistStatus.DRAFT, "change": change},
        )
        watchlist.status = WatchlistStatus.DRAFT
    watchlist.refresh_from_db(fields=["version", "status", "updated_at"])


def _dispatch(batch_id: int) -> None:
    """Queue a batch for the enrolment workers. Runs after the upload committed: if the broker is down the batch
    stays pending, and `enrolment_batches_resume` queues it again, rather than the upload answering 500."""
    from compliance.tasks import process_enrolment_batch

    try:
        process_enrolment_batch.delay(batch_id)
    except Exception:  # noqa: BLE001 - the batch is safe in the database; the sweep queues it again
        logger.exception("Could not queue enrolment batch %s; the stalled-batch sweep will queue it again", batch_id)


# ----------------------------------------------------------------------------------------------------------------
# Enrolment: uploads


def enrolment_batch_create(
    *,
    actor: User,
    deployment: Deployment,
    files: Sequence[tuple[str, bytes]],
    category: str,
    offence_or_reason: str,
    justification: str,
    legal_basis: str,
    source: str,
    captured_on: datetime.date | None,
    sensitive_or_third_party: bool = False,
    source_detail: str = "",
    age_justification: str = "",
    person_reference: str = "",
) -> EnrolmentBatch:
    """Accept one image, several images, or one zip for enrolment on a worker; the metadata applies to each image.

    Uploads are stored encrypted until a worker gives each image exactly one verdict.
    """
    _require_compiler(actor, _("enrol watch-list images"))
    files = [(PurePosixPath(str(name).replace("\\", "/")).name or "upload", bytes(data)) for name, data in files]
    errors = entry_rule_errors(
        _deployment(deployment),
        category=category,
        offence_or_reason=offence_or_reason,
        justification=justification,
        captured_on=captured_on,
        age_justification=age_justification,
    )
    if not files:
        errors["files"] = [_("Choose at least one image or a zip archive.")]
    if not _text(legal_basis):
        errors["legal_basis"] = [_("Record the legal basis for holding the images.")]
    if source not in ImageSource.values:
        errors["source"] = [_("Choose where the images came from.")]
    for field, value in (("source_detail", source_detail), ("person_reference", person_reference)):
        if too_long := _too_long(ReferenceImage, field, value):
            errors[field] = [too_long]
    if captured_on is None:
        errors["captured_on"] = [_("Record when the images were taken.")]
    elif captured_on > timezone.localdate():
        errors["captured_on"] = [_("The capture date cannot be in the future.")]
    zips = [f for f in files if zipsafe.is_zip(f[1]) or f[0].lower().endswith(".zip")]
    if zips and len(files) > 1:
        errors.setdefault("files", []).append(_("Upload a zip archive on its own."))
    zip_members = 0
    if zips and len(files) == 1:
        try:
            zip_members = len(zipsafe.inspect(files[0][1], _zip_limits()))
        except zipsafe.ZipRefused as exc:
            errors.setdefault("files", []).append(exc.message)
            _audit_refused_zip(actor, deployment, files[0], exc)
    if errors:
        raise RuleViolation(_("The upload cannot be accepted."), code="upload_refused", details=errors)
    metadata = {
        "category": category,
        "offence_or_reason": _text(offence_or_reason),
        "justification": _text(justification),
        "age_justification": _text(age_justification),
        "legal_basis": _text(legal_basis),
        "source": source,
        "source_detail": _text(source_detail),
        "sensitive_or_third_party": bool(sensitive_or_third_party),
        "captured_on": captured_on.isoformat(),
        "person_reference": _text(person_reference) if len(files) == 1 and not zips else "",
    }
    with transaction.atomic():
        locked_deployment = Deployment.objects.select_for_update().get(pk=deployment.pk)
        watchlist = _locked_watchlist(locked_deployment)
        _require_compilable(locked_deployment, watchlist)
        adding = zip_members if zips else len(files)
        size_errors = _size_errors(locked_deployment, watchlist, adding)
        if size_errors:
            raise RuleViolation(
                _("The watch-list would be too large."), code="watchlist_too_large", details=size_errors
            )
        folder = biometric_store.watchlist_folder(locked_deployment.pk) + "/uploads"
        batch = EnrolmentBatch.objects.create(
            watchlist=watchlist,
            kind=BatchKind.ZIP if zips else BatchKind.FILES,
            uploaded_by=actor,
            metadata=metadata,
            source_name=files[0][0] if zips else "",
            total=adding,
        )
        if zips:
            batch.source_path = biometric_store.new_path(folder)
            biometric_store.write_encrypted(batch.source_path, files[0][1])
            batch.save(update_fields=["source_path"])
        else:
            items = []
            for position, (name, data) in enumerate(files):
                path = biometric_store.new_path(folder)
                biometric_store.write_encrypted(path, data)
                items.append(
                    EnrolmentItem(
                        batch=batch, position=position, file_name=name, upload_path=path, size_bytes=len(data)
                    )
                )
            EnrolmentItem.objects.bulk_create(items)
        audit.record(
            "watchlist.batch_uploaded",
            actor=actor,
            target=batch,
            deployment_id=locked_deployment.pk,
            after={
                "batch_id": batch.pk,
                "kind": batch.kind,
                "files": adding,
                "sha256": [hashlib.sha256(data).hexdigest() for _name, data in files],
                "category": category,
            },
        )
        transaction.on_commit(lambda: _dispatch(batch.pk))
    return batch


def _audit_refused_zip(actor: User, deployment: Deployment, file: tuple[str, bytes], exc: zipsafe.ZipRefused) -> None:
    with transaction.atomic():
        audit.record(
            "watchlist.zip_refused",
            actor=actor,
            target=deployment,
            deployment_id=deployment.pk,
            after={"code": exc.code, "sha256": hashlib.sha256(file[1]).hexdigest(), "size": len(file[1])},
        )


def reference_image_remove(*, actor: User, image: ReferenceImage, reason: str) -> None:
    """Delete an image from the force's reference library (no longer lawfully held, or held in error): its
    encrypted file and its provenance row. Refused while a watch-list entry uses it: remove the entry first (a
    destroyed watch-list keeps none). Audited with the image's hash and the reason, never the person reference;
    that the file is gone is checked after the commit and audited too (domain.md 6: checked, not trusted)."""
    require_role(actor, *LIBRARY_ROLES, action=_("remove library images"))
    reason = (reason or "").strip()
    if not reason:
        raise RuleViolation(_("Give the reason for removing the image."), details={"reason": [_("Required.")]})
    with transaction.atomic():
        locked = ReferenceImage.objects.select_for_update().filter(pk=image.pk).first()
        if locked is None:
            raise NotFound(_("There is no such library image."), code="reference_image_not_found")
        in_use = WatchlistEntry.objects.filter(reference_image=locked).select_related("watchlist__deployment").first()
        if in_use is None:  # an upload from the library still waiting for its worker would lose its image
            in_use = (
                EnrolmentItem.objects.filter(reference_image=locked, status=ItemStatus.PENDING)
                .select_related("batch__watchlist__deployment")
                .first()
            )
            in_use = in_use and in_use.batch
        if in_use is not None:
            raise RuleViolation(
                _(
                    "The image is on, or being put on, the watch-list of %(ref)s: remove that entry first, or wait "
                    "for its upload to finish."
                )
                % {"ref": in_use.watchlist.deployment.reference},
                code="library_image_in_use",
            )
        image_id, path = locked.pk, locked.image_path
        after = {"sha256": locked.image_sha256, "reason": reason}
        audit.record("reference_image.removed", actor=actor, target=locked, after=after)
        locked.delete()
        transaction.on_commit(
            lambda: _remove_and_verify(
                path, action="reference_image.removal", target_type=ReferenceImage._meta.label_lower, target_id=image_id
            )
        )


def _remove_and_verify(
    path: str, *, action: str, target_type: str, target_id: int, deployment_id: int | None = None
) -> None:
    """After the commit: delete an image file and audit whether it is gone (`<action>_verified` or
    `<action>_incomplete`): every deletion is verified (domain.md 6)."""
    try:
        biometric_store.remove(path)
    except OSError:
        logger.exception("Could not delete the image of %s %s", target_type, target_id)
    gone = not biometric_store.absolute(path).exists()
    if not gone:
        logger.error("%s %s: its image file is still on disk after removal", target_type, target_id)
    audit.record_now(
        f"{action}_verified" if gone else f"{action}_incomplete",
        target_type=target_type,
        target_id=target_id,
        deployment_id=deployment_id,
        after={"file_gone": gone},
    )


def enrolment_batch_from_library(
    *,
    actor: User,
    deployment: Deployment,
    reference_image: ReferenceImage,
    category: str,
    offence_or_reason: str,
    justification: str,
    age_justification: str = "",
) -> EnrolmentBatch:
    """Put a library image on a deployment's watch-list; the encoding is computed on a worker like an upload."""
    _require_compiler(actor, _("compile watch-lists"))
    errors = entry_rule_errors(
        _deployment(deployment),
        category=category,
        offence_or_reason=offence_or_reason,
        justification=justification,
        captured_on=reference_image.captured_on,
        age_justification=age_justification,
    )
    if errors:
        raise RuleViolation(_("The entry cannot be added."), code="entry_refused", details=errors)
    with transaction.atomic():
        locked_deployment = Deployment.objects.select_for_update().get(pk=deployment.pk)
        watchlist = _locked_watchlist(locked_deployment)
        _require_compilable(locked_deployment, watchlist)
        # Held until the upload is recorded: a removal from the library waits, then sees the pending upload.
        if not ReferenceImage.objects.select_for_update().filter(pk=reference_image.pk).exists():
            raise NotFound(_("There is no such library image."), code="reference_image_not_found")
        if watchlist.entries.filter(reference_image=reference_image).exists():
            raise RuleViolation(
                _("This reference image is already on the watch-list."),
                details={"reference_image": [_("Already on the watch-list.")]},
            )
        size_errors = _size_errors(locked_deployment, watchlist, 1)
        if size_errors:
            raise RuleViolation(
                _("The watch-list would be too large."), code="watchlist_too_large", details=size_errors
            )
        batch = EnrolmentBatch.objects.create(
            watchlist=watchlist,
            kind=BatchKind.LIBRARY,
            uploaded_by=actor,
            total=1,
            metadata={
                "category": category,
                "offence_or_reason": _text(offence_or_reason),
                "justification": _text(justification),
                "age_justification": _text(age_justification),
            },
        )
        EnrolmentItem.objects.create(
            batch=batch, position=0, file_name=reference_image.file_name, reference_image=reference_image
        )
        audit.record(
            "watchlist.batch_uploaded",
            actor=actor,
            target=batch,
            deployment_id=locked_deployment.pk,
            after={"batch_id": batch.pk, "kind": batch.kind, "reference_image_id": reference_image.pk},
        )
        transaction.on_commit(lambda: _dispatch(batch.pk))
    return batch


# ----------------------------------------------------------------------------------------------------------------
# Enrolment: the worker side


def _zip_limits() -> zipsafe.ZipLimits:
    return zipsafe.ZipLimits(
        max_files=settings.LFR_MAX_ZIP_FILES,
        max_total_bytes=settings.LFR_MAX_ZIP_UNCOMPRESSED_BYTES,
        max_ratio=settings.LFR_MAX_ZIP_RATIO,
        max_file_bytes=settings.LFR_MAX_IMAGE_BYTES,
    )


def _finish_batch(batch: EnrolmentBatch, status: str, message: str = "") -> None:
    with transaction.atomic():
        counts = Counter(batch.items.values_list("status", flat=True))
        codes = Counter(batch.items.filter(status=ItemStatus.ERROR).values_list("error_code", flat=True))
        EnrolmentBatch.objects.filter(pk=batch.pk).update(status=status, message=message, finished_at=timezone.now())
        audit.record(
            "watchlist.batch_processed" if status == BatchStatus.DONE else "watchlist.batch_refused",
            actor=batch.uploaded_by,
            target=batch,
            deployment_id=batch.watchlist.deployment_id,
            after={
                "batch_id": batch.pk,
                "status": status,
                "enrolled": counts[ItemStatus.ENROLLED],
                "errors": counts[ItemStatus.ERROR],
                "error_codes": dict(codes),
                "message": message,
            },
        )


def _drop_expansion(batch: EnrolmentBatch, written: list[str], *, keep_source: bool = False) -> None:
    for path in written:
        biometric_store.remove(path)
    if not keep_source:
        biometric_store.remove(batch.source_path)


def _expand_zip(batch: EnrolmentBatch) -> bool:
    """Turn the stored zip into items, each file encrypted on its own; False when the archive is refused."""
    written: list[str] = []
    folder = biometric_store.watchlist_folder(batch.watchlist.deployment_id) + "/uploads"
    items: list[EnrolmentItem] = []
    try:
        data = biometric_store.read_decrypted(batch.source_path)
    except (OSError, InvalidToken) as exc:
        logger.warning("Enrolment batch %s: stored archive unreadable: %s", batch.pk, exc.__class__.__name__)
        biometric_store.remove(batch.source_path)
        _finish_batch(batch, BatchStatus.REFUSED, _("The uploaded archive could not be read back; upload it again."))
        return False
    try:
        for position, (name, content, code, message) in enumerate(zipsafe.members(data, _zip_limits())):
            item = EnrolmentItem(batch=batch, position=position, file_name=name[-255:])
            if content is None:
                item.status, item.error_code, item.message = ItemStatus.ERROR, code, message
                item.processed_at = timezone.now()
            else:
                item.upload_path = biometric_store.new_path(folder)
                item.size_bytes = len(content)
                biometric_store.write_encrypted(item.upload_path, content)
                written.append(item.upload_path)
            items.append(item)
    except zipsafe.ZipRefused as exc:
        _drop_expansion(batch, written)
        _finish_batch(batch, BatchStatus.REFUSED, exc.message)
        return False
    except SoftTimeLimitExceeded:
        _drop_expansion(batch, written, keep_source=True)  # the next run expands the archive again
        raise
    except Exception:  # noqa: BLE001 - an archive the upload checks passed but that cannot be expanded
        logger.exception("Enrolment batch %s: the archive could not be expanded", batch.pk)
        _drop_expansion(batch, written)
        _finish_batch(batch, BatchStatus.REFUSED, _("The uploaded archive could not be read back; upload it again."))
        return False
    try:
        with transaction.atomic():
            # Under the lock a destruction takes: a list destroyed while the archive was unpacked (the files were
            # written without it) has lost this batch, and what was written must go, not outlive the destruction.
            watchlist = Watchlist.objects.select_for_update().filter(pk=batch.watchlist_id).first()
            destroyed = watchlist is None or watchlist.status == WatchlistStatus.DESTROYED
            alive = not destroyed and EnrolmentBatch.objects.filter(pk=batch.pk).exists()
            if alive:
                EnrolmentItem.objects.bulk_create(items)
                EnrolmentBatch.objects.filter(pk=batch.pk).update(total=len(items), source_path="")
    except BaseException:
        # Whatever made the commit fail (a destruction it did not see, the database, the time limit), no row
        # points at these files: the next run expands the archive again if the batch is still there.
        _drop_expansion(batch, written, keep_source=True)
        raise
    if not alive:
        logger.warning("Enrolment batch %s: its watch-list was destroyed while the archive was expanded", batch.pk)
        _drop_expansion(batch, written)
        if destroyed:
            biometric_store.remove_folder(biometric_store.watchlist_folder(batch.watchlist.deployment_id))
        return False
    biometric_store.remove(batch.source_path)
    return True


# A run of the enrolment task ends within its hard time limit (LFR_ENROLMENT_TIME_LIMIT): a batch still
# `processing` this long after its run started has lost its worker, and another run may take it over.
ENROLMENT_TAKEOVER = datetime.timedelta(seconds=settings.LFR_ENROLMENT_TIME_LIMIT + 100)
# A batch still `pending` this long after its upload was never queued (the broker was down) or its message was lost.
ENROLMENT_REQUEUE = datetime.timedelta(minutes=10)
# After this many runs that died with no image to blame, the images left are given a verdict instead of a further run.
ENROLMENT_MAX_RUNS = 3
# An image whose checking killed the worker this many times gets its own verdict, `worker_crashed`, and the rest of
# its batch goes on. Not at once: the first death may have had nothing to do with the image (a worker restarted
# for a deployment, or a run whose hard time limit fell on it), and a good photo must not be lost for that.
ENROLMENT_ITEM_MAX_DEATHS = 2


def _claim_batch(batch_id: int) -> bool:
    """Start a run: of a pending batch, or of one whose last run must have died; False when another run holds it
    (a duplicate message while it works) or it is finished."""
    now = timezone.now()
    start = {"status": BatchStatus.PROCESSING, "started_at": now, "runs": F("runs") + 1}
    batches = EnrolmentBatch.objects.filter(pk=batch_id)
    return bool(
        batches.filter(status=BatchStatus.PENDING).update(**start)
        or batches.filter(status=BatchStatus.PROCESSING, started_at__lt=now - ENROLMENT_TAKEOVER).update(**start)
    )


def enrolment_batches_resume() -> list[int]:
    """Beat: queue again every batch that was never queued or whose worker died; returns their ids."""
    now = timezone.now()
    stalled = list(
        EnrolmentBatch.objects.filter(
            Q(status=BatchStatus.PENDING, created_at__lt=now - ENROLMENT_REQUEUE)
            | Q(status=BatchStatus.PROCESSING, started_at__lt=now - ENROLMENT_TAKEOVER)
        ).values_list("pk", flat=True)
    )
    for batch_id in stalled:
        logger.warning("Enrolment batch %s stalled; queued again", batch_id)
        _dispatch(batch_id)
    return stalled


def enrolment_batch_process(*, batch_id: int) -> EnrolmentBatch | None:
    """Give every image of a batch exactly one verdict (run by the `enrolment` worker; safe to run twice)."""
    claimed = _claim_batch(batch_id)
    batch = EnrolmentBatch.objects.select_related("watchlist", "uploaded_by").filter(pk=batch_id).first()
    if batch is None or not claimed:
        return batch  # finished already, running elsewhere, or destroyed with its watch-list
    _charge_dead_run_to_image(batch)
    if batch.runs > ENROLMENT_MAX_RUNS:
        # Every earlier run died on this batch with no image in hand (between images?): no run for ever.
        if batch.kind == BatchKind.ZIP and batch.source_path and not batch.items.exists():
            biometric_store.remove(batch.source_path)  # died expanding it: nothing of it is kept
            _finish_batch(batch, BatchStatus.REFUSED, _("The archive could not be processed; upload it again."))
        else:
            for item in batch.items.filter(status=ItemStatus.PENDING):
                _item_error(
                    item, "interrupted", _("Processing stopped before this image was checked; upload it again.")
                )
            _finish_batch(batch, BatchStatus.DONE, _crashed_summary(batch))
        batch.refresh_from_db()
        return batch
    if batch.kind == BatchKind.ZIP and batch.source_path and not batch.items.exists() and not _expand_zip(batch):
        return EnrolmentBatch.objects.filter(pk=batch_id).first()  # refused, or destroyed with its watch-list
    for item_id in batch.items.filter(status=ItemStatus.PENDING).values_list("pk", flat=True):
        # Committed before the work (the task runs in autocommit): if the worker dies on this image, the next run
        # knows which one it was.
        started = EnrolmentItem.objects.filter(pk=item_id, status=ItemStatus.PENDING)
        started.update(started_at=timezone.now())
        try:
            enrolment_item_process(item_id=item_id)
        except SoftTimeLimitExceeded:
            # The task's time is up, and no worker died: the items left go to a new run at once, which does not
            # count against ENROLMENT_MAX_RUNS, and the image in hand is not blamed.
            started.update(started_at=None)
            EnrolmentBatch.objects.filter(pk=batch_id, status=BatchStatus.PROCESSING).update(
                status=BatchStatus.PENDING, runs=F("runs") - 1
            )
            _dispatch(batch_id)  # the task runs in autocommit: the batch is already pending again
            raise
        except Exception:  # noqa: BLE001 - one image's failure must not strand the rest of the batch
            # Logged without the image or its metadata; the item gets its own verdict and the batch goes on.
            logger.exception("Enrolment item %s failed", item_id)
            _item_error(
                EnrolmentItem.objects.get(pk=item_id),
                "internal_error",
                _("This image could not be processed because of an internal error; upload it again."),
            )
    if not EnrolmentBatch.objects.filter(pk=batch_id).exists():
        return None
    _finish_batch(batch, BatchStatus.DONE, _crashed_summary(batch))
    batch.refresh_from_db()
    return batch


def _charge_dead_run_to_image(batch: EnrolmentBatch) -> None:
    """At the start of a run: a pending image marked started is the one the last run's worker died on (killed for
    memory, or by the hard time limit inside the face detector). The death is charged to that image, not to the
    batch; an image that has now killed the worker ENROLMENT_ITEM_MAX_DEATHS times gets its own verdict, so one bad
    file no longer takes every file after it down with it (domain.md 3: the rest of a batch still enrols)."""
    for item in batch.items.filter(status=ItemStatus.PENDING, started_at__isnull=False):
        EnrolmentItem.objects.filter(pk=item.pk).update(started_at=None, worker_deaths=F("worker_deaths") + 1)
        EnrolmentBatch.objects.filter(pk=batch.pk, runs__gt=0).update(runs=F("runs") - 1)
        deaths = item.worker_deaths + 1
        logger.warning("Enrolment item %s: the worker died checking it (%s times)", item.pk, deaths)
        if deaths >= ENROLMENT_ITEM_MAX_DEATHS:
            _item_error(
                item,
                WORKER_CRASHED,
                _(
                    "Checking “%(name)s” made the enrolment worker fail %(n)s times, so it was not enrolled: the "
                    "image is probably too large or malformed. Save it again as an ordinary JPEG or PNG of a few "
                    "megapixels and upload it again; the other files were checked."
                )
                % {"name": item.file_name, "n": deaths},
            )
    batch.refresh_from_db(fields=["runs"])


def _crashed_summary(batch: EnrolmentBatch) -> str:
    """The batch's message when images killed the worker: a count, never file names (they may be person
    references, and the message goes into the audit log)."""
    crashed = batch.items.filter(status=ItemStatus.ERROR, error_code=WORKER_CRASHED).count()
    if not crashed:
        return ""
    return _(
        "%(n)s file(s) made the enrolment worker fail and were not enrolled: see the per-file report. Every other "
        "file was checked."
    ) % {"n": crashed}


def _item_error(item: EnrolmentItem, code: str, message: str) -> None:
    with transaction.atomic():
        EnrolmentItem.objects.filter(pk=item.pk, status=ItemStatus.PENDING).update(
            status=ItemStatus.ERROR, error_code=code, message=message, upload_path="", processed_at=timezone.now()
        )
    biometric_store.remove(item.upload_path)


def enrolment_item_process(*, item_id: int) -> EnrolmentItem | None:
    """Encode one image; enrol it when it holds exactly one usable face and the watch-list rules still allow it."""
    item = (
        EnrolmentItem.objects.select_related("batch__watchlist__deployment", "batch__uploaded_by", "reference_image")
        .filter(pk=item_id)
        .first()
    )
    if item is None or item.status != ItemStatus.PENDING:
        return item
    batch = item.batch
    meta = batch.metadata
    try:
        data = biometric_store.read_decrypted(
            item.reference_image.image_path if item.reference_image_id else item.upload_path
        )
    except (OSError, ValueError, InvalidToken) as exc:
        logger.warning("Enrolment item %s: stored upload unreadable: %s", item.pk, exc.__class__.__name__)
        _item_error(item, "corrupt", _("The uploaded file could not be read back."))
        return item
    if len(data) > settings.LFR_MAX_IMAGE_BYTES:
        _item_error(
            item, "file_too_large", _("The file is larger than %(n)s bytes.") % {"n": settings.LFR_MAX_IMAGE_BYTES}
        )
        return item
    try:
        result = enrolment_encoding(data, config=engine_config(), max_pixels=settings.LFR_MAX_IMAGE_PIXELS)
    except EngineError as exc:
        _item_error(item, exc.code, exc.message)
        return item
    plain = encoding_to_bytes(result.encoding)
    image_sha = hashlib.sha256(data).hexdigest()
    deployment_id = batch.watchlist.deployment_id
    copy_path = biometric_store.new_path(biometric_store.watchlist_folder(deployment_id) + "/entries")
    library_path = "" if item.reference_image_id else biometric_store.new_path(biometric_store.LIBRARY_DIR)
    biometric_store.write_encrypted(copy_path, data)
    if library_path:
        biometric_store.write_encrypted(library_path, data)
    try:
        with transaction.atomic():
            watchlist = Watchlist.objects.select_for_update().select_related("deployment").get(pk=batch.watchlist_id)
            if not EnrolmentItem.objects.filter(pk=item.pk, status=ItemStatus.PENDING).exists():
                raise _ItemRefused("", "")  # another delivery of the task got there first
            deployment = watchlist.deployment
            if watchlist.status == WatchlistStatus.DESTROYED or deployment.status not in COMPILE_STATES:
                raise _ItemRefused("watchlist_closed", _("The watch-list can no longer change."))
            if meta["category"] not in (deployment.watchlist_categories or []):
                raise _ItemRefused("category_not_authorised", _("The category is no longer authorised."))
            if deployment.watchlist_max_size and watchlist.entries.count() >= deployment.watchlist_max_size:
                raise _ItemRefused(
                    "watchlist_full",
                    _("The watch-list already holds the authorised maximum of %(n)s entries.")
                    % {"n": deployment.watchlist_max_size},
                )
            duplicate = watchlist.entries.filter(image_sha256=image_sha).values_list("pk", flat=True).first()
            if duplicate:
                raise _ItemRefused(
                    "duplicate", _("The same image is already on the watch-list (entry %(id)s).") % {"id": duplicate}
                )
            image = item.reference_image
            if image is None:
                image = ReferenceImage.objects.create(
                    person_reference=(meta.get("person_reference") or PurePosixPath(item.file_name).stem)[:100],
                    person_reference_entered=bool(meta.get("person_reference")),
                    legal_basis=meta["legal_basis"],
                    source=meta["source"],
                    source_detail=meta.get("source_detail", ""),
                    sensitive_or_third_party=meta.get("sensitive_or_third_party", False),
                    captured_on=datetime.date.fromisoformat(meta["captured_on"]),
                    file_name=item.file_name[-255:],
                    content_type=content_type_of(data),
                    image_path=library_path,
                    image_sha256=image_sha,
                    size_bytes=len(data),
                    created_by=batch.uploaded_by,
                )
            entry = WatchlistEntry.objects.create(
                watchlist=watchlist,
                reference_image=image,
                category=meta["category"],
                offence_or_reason=meta["offence_or_reason"],
                justification=meta["justification"],
                age_justification=meta.get("age_justification", ""),
                compiler=batch.uploaded_by,
                encoding=encrypt_bytes(plain),
                encoding_sha256=hashlib.sha256(plain).hexdigest(),
                image_path=copy_path,
                image_sha256=image_sha,
                box_top=result.box.top,
                box_right=result.box.right,
                box_bottom=result.box.bottom,
                box_left=result.box.left,
            )
            EnrolmentItem.objects.filter(pk=item.pk).update(
                status=ItemStatus.ENROLLED,
                entry=entry,
                reference_image=image,
                upload_path="",
                processed_at=timezone.now(),
                message="",
            )
            _content_changed(watchlist, actor=batch.uploaded_by, change="entry_enrolled")
            audit.record(
                "watchlist.entry_enrolled",
                actor=batch.uploaded_by,
                target=entry,
                deployment_id=deployment_id,
                after={
                    "entry_id": entry.pk,
                    "reference_image_id": image.pk,
                    "batch_id": batch.pk,
                    "category": entry.category,
                    "image_sha256": image_sha,
                    "encoding_sha256": entry.encoding_sha256,
                    "version": watchlist.version,
                },
            )
    except _ItemRefused as exc:
        biometric_store.remove(copy_path)
        biometric_store.remove(library_path)
        if exc.code:
            _item_error(item, exc.code, exc.message)
        return item
    except Exception:
        biometric_store.remove(copy_path)
        biometric_store.remove(library_path)
        raise
    biometric_store.remove(item.upload_path)
    item.refresh_from_db()
    return item


# ----------------------------------------------------------------------------------------------------------------
# Entries


def _locked_entry(entry: WatchlistEntry | int) -> tuple[WatchlistEntry, Watchlist]:
    pk = entry.pk if isinstance(entry, WatchlistEntry) else entry
    watchlist_id = WatchlistEntry.objects.filter(pk=pk).values_list("watchlist_id", flat=True).first()
    if watchlist_id is None:  # removed meanwhile (or never there)
        raise NotFound(_("This entry is no longer on the watch-list."), code="entry_not_found")
    watchlist = Watchlist.objects.select_for_update().select_related("deployment").get(pk=watchlist_id)
    locked = WatchlistEntry.objects.select_related("reference_image").defer("encoding").get(pk=pk)
    return locked, watchlist


def _utc(value: datetime.datetime) -> datetime.datetime:
    return value.astimezone(datetime.UTC)


def watchlist_entry_update(
    *, actor: User, entry: WatchlistEntry, if_unchanged_since: datetime.datetime | None = None, **changes: Any
) -> WatchlistEntry:
    """Change an entry's category, reason or justifications; an approved list is un-approved (audited).

    `if_unchanged_since`: the entry's `updated_at` when the caller read it; a form that sends back every field
    passes it, so that it cannot silently undo a colleague's change made meanwhile (409 `entry_changed`)."""
    _require_compiler(actor, _("change watch-list entries"))
    unknown = sorted(set(changes) - set(ENTRY_EDITABLE))
    if unknown:
        raise RuleViolation(
            _("Unknown fields: %(f)s.") % {"f": ", ".join(unknown)},
            details={name: [_("Not an editable field of an entry.")] for name in unknown},
        )
    with transaction.atomic():
        locked, watchlist = _locked_entry(entry)
        _require_compilable(watchlist.deployment, watchlist)
        before = {name: getattr(locked, name) for name in ENTRY_EDITABLE}
        # Compared as stored text: a page posts the same words back with CRLF line breaks, which is no change.
        stored = {k: _text(v) for k, v in before.items()}
        after = {**stored, **{k: _text(v) for k, v in changes.items()}}
        errors = entry_rule_errors(
            watchlist.deployment,
            category=after["category"],
            offence_or_reason=after["offence_or_reason"],
            justification=after["justification"],
            captured_on=locked.reference_image.captured_on,
            age_justification=after["age_justification"],
        )
        if errors:
            raise RuleViolation(_("The entry cannot be changed."), code="entry_refused", details=errors)
        changed = [k for k in ENTRY_EDITABLE if after[k] != stored[k]]
        if not changed:  # nothing to write, so nothing a stale page could undo either
            return locked
        # Compared in UTC: an API client echoes `updated_at` in the local zone, and in the hour the clocks go back
        # Python never finds datetimes of two different zones equal, even at the same instant.
        if if_unchanged_since is not None and _utc(locked.updated_at) != _utc(if_unchanged_since):
            raise InvalidTransition(
                _("Someone changed this entry after you opened it. Check it as it is now, then make your change."),
                code="entry_changed",
            )
        # Only what changed is written, so every change is in the audit record below.
        for name in changed:
            setattr(locked, name, after[name])
        locked.save(update_fields=[*changed, "updated_at"])
        _content_changed(watchlist, actor=actor, change="entry_updated")
        audit.record(
            "watchlist.entry_updated",
            actor=actor,
            target=locked,
            deployment_id=watchlist.deployment_id,
            before={k: _audited_entry_value(k, before[k]) for k in changed},
            after={k: _audited_entry_value(k, after[k]) for k in changed},
        )
    return locked


def _audited_entry_value(name: str, value: Any) -> Any:
    """What the audit log keeps of an entry's field: the category (a closed list, counted anyway), and of free text
    about the person only its SHA-256 and length. The log outlives the watch-list by six years, and once a list is
    destroyed "only counts and hashes remain" (domain.md 3); the entry itself shows the text while it exists."""
    if name == "category":
        return value
    text = str(value or "")
    return {"sha256": hashlib.sha256(text.encode()).hexdigest(), "length": len(text)}


def watchlist_entry_remove(*, actor: User, entry: WatchlistEntry, reason: str) -> None:
    """Take a person off the watch-list: the entry, its encoding and its image copy go; the audit keeps hashes."""
    _require_compiler(actor, _("remove watch-list entries"))
    if not _text(reason):
        raise RuleViolation(_("Give a reason."), details={"reason": [_("A reason is required.")]})
    with transaction.atomic():
        locked, watchlist = _locked_entry(entry)
        _require_compilable(watchlist.deployment, watchlist)
        path = locked.image_path
        payload = {
            "entry_id": locked.pk,
            "category": locked.category,
            "image_sha256": locked.image_sha256,
            "encoding_sha256": locked.encoding_sha256,
        }
        EnrolmentItem.objects.filter(entry=locked).update(entry=None)
        locked.delete()
        _content_changed(watchlist, actor=actor, change="entry_removed")
        audit.record(
            "watchlist.entry_removed",
            actor=actor,
            target_type="compliance.watchlistentry",
            target_id=payload["entry_id"],
            deployment_id=watchlist.deployment_id,
            before=payload,
            # The reason is about the person (an arrest, a warrant): the log outlives the list, and the deployment's
            # timeline shows its events to the applicant and the team, so it keeps the reason's hash only.
            after={"reason_digest": _audited_entry_value("reason", _text(reason)), "version": watchlist.version},
        )
        deployment_id = watchlist.deployment_id
        transaction.on_commit(
            lambda: _remove_and_verify(
                path,
                action="watchlist.entry_removal",
                target_type=WatchlistEntry._meta.label_lower,
                target_id=payload["entry_id"],
                deployment_id=deployment_id,
            )
        )


# ----------------------------------------------------------------------------------------------------------------
# Approval


def watchlist_approve(*, actor: User, deployment: Deployment, acknowledgement: str = "") -> Watchlist:
    """Approve and freeze (AO, not a compiler of this list): refused over the false-alert budget; uncalibrated
    matchers need a recorded acknowledgement. Approving again renews an approval (domain.md 2.3: within 24 h).
    """
    require_role(actor, Role.AUTHORISING_OFFICER, action=_("approve watch-lists"))
    require_authorising_rank(actor)
    with transaction.atomic():
        locked_deployment = Deployment.objects.select_for_update().get(pk=deployment.pk)
        if locked_deployment.applicant_id == actor.pk:
            raise NotPermitted(
                _("You applied for this deployment, so you cannot approve its watch-list."), code="own_application"
            )
        watchlist = _locked_watchlist(locked_deployment)
        if watchlist.status == WatchlistStatus.DESTROYED:
            raise InvalidTransition(_("This watch-list has been destroyed."), code="watchlist_destroyed")
        if locked_deployment.status != S.AUTHORISED:
            raise InvalidTransition(
                _("Only the watch-list of an authorised deployment can be approved; %(ref)s is %(status)s.")
                % {"ref": locked_deployment.reference, "status": S(locked_deployment.status).label},
                code="deployment_not_authorised",
            )
        if watchlist.batches.filter(status__in=[BatchStatus.PENDING, BatchStatus.PROCESSING]).exists():
            raise InvalidTransition(
                _("Enrolment is still running; approve when every upload has finished."), code="enrolment_running"
            )
        entries = list(watchlist.entries.select_related("reference_image").defer("encoding"))
        if actor.pk in contributor_ids(watchlist, entries):
            raise NotPermitted(
                _("You compiled or changed entries of this watch-list, so you cannot approve it."),
                code="compiled_by_you",
            )
        errors: dict[str, list[str]] = {}
        if not entries:
            errors["entries"] = [_("The watch-list is empty.")]
        maximum = locked_deployment.watchlist_max_size or 0
        if len(entries) > maximum:
            errors["size"] = [
                _("%(n)s entries exceed the authorised maximum of %(max)s.") % {"n": len(entries), "max": maximum}
            ]
        allowed = set(locked_deployment.watchlist_categories or [])
        outside = sorted({e.category for e in entries} - allowed)
        if outside:
            errors["category"] = [
                _("Entries in categories the authorisation does not allow: %(c)s.")
                % {"c": ", ".join(str(WatchlistCategory(c).label) for c in outside)}
            ]
        old_unjustified = [
            e.pk for e in entries if e.reference_image.captured_on < age_limit_date() and not e.age_justification
        ]
        if old_unjustified:
            errors["age_justification"] = [
                _("Entries %(ids)s use old images without a justification.")
                % {"ids": ", ".join(map(str, old_unjustified))}
            ]
        if errors:
            raise RuleViolation(_("The watch-list cannot be approved."), code="cannot_approve", details=errors)
        assessment = budget_assessment(locked_deployment, entries)
        acknowledgement = _text(acknowledgement)
        if assessment["calibrated"] and assessment["budget_met"] is False:
            raise RuleViolation(
                _(
                    "At %(n)s entries and threshold %(t)s the matcher is expected to raise %(fa).2f false alerts per "
                    "10,000 faces, over the budget. Tighten the threshold or shrink the watch-list."
                )
                % {"n": len(entries), "t": assessment["threshold"], "fa": assessment["false_alerts_per_10k"] or 0}
                + (" " + assessment["note"] if assessment.get("note") else ""),
                code="over_false_alert_budget",
                details={"size": [_("Over the false-alert budget.")], "assessment": assessment},
            )
        if assessment["calibrated"] and assessment["budget_met"] is not True:
            # The calibration cannot bound the rate here (outside its measured grid): unknown is not "met".
            raise RuleViolation(
                _("The false-alert rate at this size and threshold cannot be shown to meet the budget: %(m)s")
                % {"m": assessment["message"]},
                code="budget_unknown",
                details={"size": [_("Not shown to be within the false-alert budget.")], "assessment": assessment},
            )
        if not assessment["calibrated"] and not acknowledgement:
            raise RuleViolation(
                _("The matcher is uncalibrated: record that you approve without an expected false-alert rate."),
                code="acknowledgement_required",
                details={"acknowledgement": [_("An acknowledgement is required without an active calibration.")]},
            )
        decrypted = decrypt_and_hash(watchlist)
        now = timezone.now()
        before = {"status": watchlist.status, "content_hash": watchlist.content_hash or None}
        Watchlist.objects.filter(pk=watchlist.pk).update(
            status=WatchlistStatus.APPROVED,
            approved_by=actor,
            approved_at=now,
            approved_version=watchlist.version,
            approved_size=len(entries),
            content_hash=decrypted.content_hash,
            assessment=assessment,
            acknowledgement=acknowledgement if not assessment["calibrated"] else "",
            updated_at=now,
        )
        watchlist.refresh_from_db()
        audit.record(
            "watchlist.approved",
            actor=actor,
            target=watchlist,
            deployment_id=locked_deployment.pk,
            before=before,
            after={
                "status": watchlist.status,
                "size": len(entries),
                "counts": dict(Counter(e.category for e in entries)),
                "flagged": len([e for e in entries if entry_flags(e)]),
                "content_hash": watchlist.content_hash,
                "version": watchlist.version,
                "assessment": assessment,
                "acknowledgement": watchlist.acknowledgement,
            },
        )
    return watchlist


# ----------------------------------------------------------------------------------------------------------------
# Destruction


def watchlist_destroy(*, actor: Any = None, deployment: Deployment | int, reason: str) -> Watchlist | None:
    """Delete every entry, encoding, image copy and enrolment record of a deployment's watch-list, and its signage
    photos. By hand (an actor) only once the deployment is completed, reviewed, revoked, cancelled or rejected.

    The watch-list row stays with counts and hashes only; files go after commit and the result is verified.
    """
    deployment = _deployment(deployment)
    if actor is not None:
        require_role(actor, Role.AUTHORISING_OFFICER, Role.DPO, action=_("destroy watch-lists"))
    with transaction.atomic():
        if actor is not None:
            # A live deployment's list destroyed by hand could never be rebuilt: the deployment would be blocked.
            status = Deployment.objects.select_for_update().values_list("status", flat=True).get(pk=deployment.pk)
            if status not in MANUAL_DESTROY_STATES:
                raise InvalidTransition(
                    _("The watch-list of a deployment that is %(s)s cannot be destroyed by hand.")
                    % {"s": S(status).label},
                    code="deployment_not_ended",
                )
        watchlist = Watchlist.objects.select_for_update().filter(deployment=deployment).first()
        if watchlist is None:
            signage_photos.signage_photos_destroy(actor=actor, deployment_id=deployment.pk, reason=_text(reason))
            return None
        if watchlist.status == WatchlistStatus.DESTROYED:
            return watchlist
        signage_photos.signage_photos_destroy(actor=actor, deployment_id=deployment.pk, reason=_text(reason))
        entries = list(watchlist.entries.defer("encoding").order_by("id"))
        digest = hashlib.sha256(
            "\n".join(f"{e.image_sha256}:{e.encoding_sha256}" for e in entries).encode()
        ).hexdigest()
        counts = dict(Counter(e.category for e in entries))
        batches = watchlist.batches.count()
        items = EnrolmentItem.objects.filter(batch__watchlist=watchlist).count()
        EnrolmentItem.objects.filter(batch__watchlist=watchlist).delete()
        watchlist.batches.all().delete()
        watchlist.entries.all().delete()
        watchlist.contributors.clear()  # they mattered only for approval, which a destroyed list never gets
        now = timezone.now()
        before_status = watchlist.status
        Watchlist.objects.filter(pk=watchlist.pk).update(
            status=WatchlistStatus.DESTROYED,
            version=F("version") + 1,
            destroyed_at=now,
            destroyed_entry_count=len(entries),
            updated_at=now,
        )
        watchlist.refresh_from_db()
        audit.record(
            "watchlist.destroyed",
            actor=actor,
            target=watchlist,
            deployment_id=deployment.pk,
            before={"status": before_status, "content_hash": watchlist.content_hash or None},
            after={
                "status": WatchlistStatus.DESTROYED,
                "reason": _text(reason),
                "entries": len(entries),
                "counts": counts,
                "batches": batches,
                "items": items,
                "entries_digest": digest,
                "approved_size": watchlist.approved_size,
            },
        )
        transaction.on_commit(lambda: _after_destruction(deployment.pk, actor))
    return watchlist


def _after_destruction(deployment_id: int, actor: Any) -> None:
    biometric_store.remove_folder(biometric_store.watchlist_folder(deployment_id))
    clear_gallery_cache(deployment_id)
    watchlist_verify_destruction(deployment_id=deployment_id, actor=actor)


def watchlist_verify_destruction(*, deployment_id: int, actor: Any = None) -> dict[str, Any]:
    """Check nothing of a destroyed watch-list can be found (rows, files), record the evidence and audit it."""
    evidence = destruction_evidence(deployment_id)
    with transaction.atomic():
        Watchlist.objects.filter(deployment_id=deployment_id).update(destruction_evidence=evidence)
        audit.record(
            "watchlist.destruction_verified" if evidence["clean"] else "watchlist.destruction_incomplete",
            actor=actor,
            target_type="compliance.watchlist",
            target_id=evidence["watchlist_id"] or "",
            deployment_id=deployment_id,
            after=evidence,
        )
    if not evidence["clean"]:
        logger.error("Watch-list destruction for deployment %s left data behind: %s", deployment_id, evidence)
    return evidence


# How often `destroy_due_watchlists` runs (LFR_WATCHLIST_DESTRUCTION_SWEEP_SECONDS, its beat interval).
DESTRUCTION_SWEEP = datetime.timedelta(seconds=settings.LFR_WATCHLIST_DESTRUCTION_SWEEP_SECONDS)


def watchlists_destroy_due(*, at: datetime.datetime | None = None) -> list[int]:
    """Destroy watch-lists of revoked, cancelled or rejected deployments, and of completed ones after the delay."""
    at = at or timezone.now()
    # "Within 24 h": what falls due before the next run (every DESTRUCTION_SWEEP) is destroyed now.
    cutoff = at - datetime.timedelta(hours=settings.LFR_WATCHLIST_DESTRUCTION_DELAY_HOURS) + DESTRUCTION_SWEEP
    candidates = Watchlist.objects.exclude(status=WatchlistStatus.DESTROYED).select_related("deployment")
    destroyed: list[int] = []
    for watchlist in candidates:
        deployment = watchlist.deployment
        if deployment.status in DESTROY_AT_ONCE_STATES:
            reason = _("The deployment is %(s)s.") % {"s": S(deployment.status).label}
        elif deployment.status in DESTROY_AFTER_DELAY_STATES and (deployment.completed_at or at) <= cutoff:
            reason = _("The deployment completed more than %(h)s hours ago.") % {
                "h": settings.LFR_WATCHLIST_DESTRUCTION_DELAY_HOURS
            }
        else:
            continue
        try:
            watchlist_destroy(actor=None, deployment=deployment, reason=reason)
        except Exception:  # noqa: BLE001 - one failure must not stop the sweep; the next run retries
            logger.exception("Destroying the watch-list of deployment %s failed", deployment.pk)
            continue
        destroyed.append(deployment.pk)
    _signage_photos_destroy_due(at=at, cutoff=cutoff)
    _reconcile_destructions()
    return destroyed


# A destruction's own removal and check run just after its commit; the reconcile leaves it this long first.
RECONCILE_AFTER = datetime.timedelta(minutes=10)


def _without_time(evidence: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in evidence.items() if k != "checked_at"}


def _reconcile_destructions() -> None:
    """Finish destructions whose files outlived their rows: the removal runs after the commit, so a worker that
    died in between, or a folder that could not be removed, left files that no later sweep looked for (every
    sweep skips what is marked destroyed); so may a worker that wrote files after a clean check and died. Remove
    and check again until the evidence is clean; each attempt is audited, an unclean one loudly."""
    # Only deployments that still have a photo folder on disk: one listing, not a look at every ended deployment.
    ended = Deployment.objects.filter(pk__in=signage_photos.deployments_with_photo_folders()).filter(
        Q(status__in=DESTROY_AT_ONCE_STATES)
        | Q(status__in=DESTROY_AFTER_DELAY_STATES, watchlist__status=WatchlistStatus.DESTROYED)
    )
    for deployment_id in ended.values_list("pk", flat=True):
        left = signage_photos.signage_photo_evidence(deployment_id)
        if left["signage_photo_files"] and not left["signage_photo_rows"]:
            logger.warning("Removing signage photo files left after destruction for deployment %s", deployment_id)
            biometric_store.remove_folder(signage_photos.signage_folder(deployment_id))
    # Not one destroyed a moment ago: its own removal and check may still be running after its commit.
    settled = timezone.now() - RECONCILE_AFTER
    # A folder on disk counts even when the evidence said clean: a worker still unpacking a zip when the
    # destruction committed may have written files (and the folder) again after the check, then died.
    unfinished = Watchlist.objects.filter(status=WatchlistStatus.DESTROYED, destroyed_at__lte=settled).filter(
        Q(destruction_evidence={})
        | Q(destruction_evidence__clean=False)
        | Q(deployment_id__in=biometric_store.deployment_folders(biometric_store.WATCHLISTS_DIR))
    )
    for deployment_id, recorded in unfinished.values_list("deployment_id", "destruction_evidence"):
        try:
            if (recorded or {}).get("clean"):
                # What was found is audited before it is removed, so the log shows the clean record was wrong.
                recorded = watchlist_verify_destruction(deployment_id=deployment_id, actor=None)
            biometric_store.remove_folder(biometric_store.watchlist_folder(deployment_id))
            clear_gallery_cache(deployment_id)
            # Audited when what is left changed (or was never recorded): a folder that cannot be removed is
            # logged every run but not written into the hash-chained log every five minutes for six years.
            if _without_time(destruction_evidence(deployment_id)) != _without_time(recorded or {}):
                watchlist_verify_destruction(deployment_id=deployment_id, actor=None)
            else:
                logger.error(
                    "The watch-list of deployment %s is still not fully destroyed: %s", deployment_id, recorded
                )
        except Exception:  # noqa: BLE001 - the next run tries again
            logger.exception("Finishing the destruction of deployment %s's watch-list failed", deployment_id)


def _signage_photos_destroy_due(*, at: datetime.datetime, cutoff: datetime.datetime) -> None:
    """Signage photos of ended deployments that never had a watch-list (the others go with their watch-list)."""
    ended = Deployment.objects.filter(signage__photo_path__gt="", watchlist__isnull=True).filter(
        Q(status__in=DESTROY_AT_ONCE_STATES) | Q(status__in=DESTROY_AFTER_DELAY_STATES, completed_at__lte=cutoff)
    )
    for deployment_id in ended.values_list("pk", flat=True).distinct():
        try:
            signage_photos.signage_photos_destroy(
                actor=None, deployment_id=deployment_id, reason=_("The deployment has ended.")
            )
        except Exception:  # noqa: BLE001 - one failure must not stop the sweep; the next run retries
            logger.exception("Destroying the signage photos of deployment %s failed", deployment_id)


def _on_deployment_stopped(deployment_id: int, reason: str) -> None:
    if reason in ("revoked", "cancelled"):
        watchlist_destroy(actor=None, deployment=deployment_id, reason=reason)


# ----------------------------------------------------------------------------------------------------------------
# Key rotation


def encryption_keys_rotate(*, actor: Any = None) -> dict[str, int]:
    """Re-encrypt every encrypted artefact under the newest key (LFR_ENCODING_KEYS[0]); audited with counts.

    Rows and files are rewritten in many small transactions, so the run is audited when it starts as well as when
    it ends: a run that died part-way shows as `encryption.keys_rotation_started` with no `keys_rotated` after it.
    """
    keys = len(settings.LFR_ENCODING_KEYS)
    audit.record_now("encryption.keys_rotation_started", actor=actor, after={"keys": keys})
    counts = {"encodings": 0, "watchlist_images": 0, "library_images": 0, "pending_uploads": 0, "missing_files": 0}
    for pk in WatchlistEntry.objects.values_list("pk", flat=True).iterator():
        with transaction.atomic():
            entry = WatchlistEntry.objects.select_for_update().only("encoding", "image_path").get(pk=pk)
            WatchlistEntry.objects.filter(pk=pk).update(encoding=rotate_token(bytes(entry.encoding)))
            counts["encodings"] += 1
        counts["watchlist_images" if biometric_store.rotate_file(entry.image_path) else "missing_files"] += 1
    for path in ReferenceImage.objects.values_list("image_path", flat=True).iterator():
        counts["library_images" if biometric_store.rotate_file(path) else "missing_files"] += 1
    pending = list(EnrolmentItem.objects.exclude(upload_path="").values_list("upload_path", flat=True))
    pending += list(EnrolmentBatch.objects.exclude(source_path="").values_list("source_path", flat=True))
    for path in pending:
        if biometric_store.rotate_file(path):
            counts["pending_uploads"] += 1
    label, count = signage_photos.signage_photos_rotate(actor)
    counts[label] = count
    counts.update(_rotate_unreferenced_files())
    for rotator in list(extra_rotators):
        label, count = rotator(actor)
        counts[label] = count
    with transaction.atomic():
        audit.record("encryption.keys_rotated", actor=actor, after={**counts, "keys": keys})
    return counts


def _rotate_unreferenced_files() -> dict[str, int]:
    """Re-encrypt files in the encrypted folders that no row points at (e.g. left by a rolled-back upload).

    They are counted so the audit shows them; without this they would become unreadable, not deleted, once the
    old key is removed.
    """
    referenced = set(WatchlistEntry.objects.values_list("image_path", flat=True))
    referenced |= set(ReferenceImage.objects.values_list("image_path", flat=True))
    referenced |= set(EnrolmentItem.objects.exclude(upload_path="").values_list("upload_path", flat=True))
    referenced |= set(EnrolmentBatch.objects.exclude(source_path="").values_list("source_path", flat=True))
    referenced |= signage_photos.stored_photo_paths()
    counts = {"unreferenced_files": 0, "undecryptable_files": 0}
    for folder in (biometric_store.LIBRARY_DIR, biometric_store.WATCHLISTS_DIR, signage_photos.SIGNAGE_DIR):
        for path in biometric_store.files_in(folder):
            if path in referenced or path.endswith(".tmp"):
                continue
            try:
                if biometric_store.rotate_file(path):
                    counts["unreferenced_files"] += 1
            except InvalidToken:
                counts["undecryptable_files"] += 1
                logger.warning("%s cannot be decrypted with any configured key", path)
    return counts


# ----------------------------------------------------------------------------------------------------------------
# Wiring


def connect() -> None:
    """Register the gate, the published-size provider and the deployment stop hooks (idempotent; apps.ready)."""
    from compliance import gates, transparency
    from compliance.selectors.watchlists import approved_size, watchlist_gate
    from compliance.services import deployments

    gates.register_watchlist_gate(watchlist_gate)
    transparency.register_watchlist_size_provider(approved_size)
    if _on_deployment_stopped not in deployments.on_deployment_stopped:
        deployments.on_deployment_stopped.append(_on_deployment_stopped)
