"""Signage photos (domain.md 2.4): stored encrypted, viewed only through an audited read, destroyed with the watch-list.

A photo of a sign in a street may show members of the public, so it is handled like the other biometric-adjacent
images: an encrypted file in `compliance.biometric_store` under `signage/<deployment id>/`, never served raw, and
deleted when the deployment's watch-list is destroyed (completion plus the delay, revocation, cancellation).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

from compliance import audit, biometric_store
from compliance.choices import DeploymentStatus, Role
from compliance.models import Deployment, SignageRecord, User, Watchlist
from compliance.models.watchlists import WatchlistStatus
from compliance.permissions import has_role
from compliance.selectors.deployments import deployment_visible
from lfr_portal.errors import NotFound, NotPermitted, RuleViolation

SIGNAGE_DIR = "signage"
PHOTO_TYPES = {b"\xff\xd8\xff": ("JPEG", "image/jpeg"), b"\x89PNG\r\n\x1a\n": ("PNG", "image/png")}
PHOTO_TARGET_TYPE = "compliance.signagerecord"
# No photo may be added once the deployment's data is due for destruction at once (nothing would delete it).
_NO_NEW_PHOTOS = frozenset({DeploymentStatus.REVOKED, DeploymentStatus.CANCELLED, DeploymentStatus.REJECTED})


def signage_folder(deployment_id: int) -> str:
    return f"{SIGNAGE_DIR}/{int(deployment_id)}"


@dataclass(frozen=True)
class StoredPhoto:
    path: str
    content_type: str
    sha256: str


def _photo_error(message: str) -> RuleViolation:
    return RuleViolation(_("The signage photo cannot be stored."), details={"photo": [message]})


def signage_photo_validate(upload: Any) -> tuple[bytes, str]:
    """The photo's bytes and content type, if it is a readable JPEG or PNG within the size and pixel limits."""
    limit = settings.LFR_MAX_IMAGE_BYTES
    if getattr(upload, "size", None) is not None and upload.size > limit:
        raise _photo_error(_("The photo is larger than %(mb)s MB.") % {"mb": limit // (1024 * 1024)})
    if hasattr(upload, "seek"):
        upload.seek(0)
    data = upload.read(limit + 1) if hasattr(upload, "read") else bytes(upload)
    if len(data) > limit:
        raise _photo_error(_("The photo is larger than %(mb)s MB.") % {"mb": limit // (1024 * 1024)})
    kind = next((v for magic, v in PHOTO_TYPES.items() if data.startswith(magic)), None)
    if kind is None:
        raise _photo_error(_("Upload the photo as a JPEG or PNG image."))
    fmt, content_type = kind
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as image:
            if image.width * image.height > settings.LFR_MAX_IMAGE_PIXELS:
                raise _photo_error(_("The photo has too many pixels."))
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise _photo_error(_("The photo cannot be read as an image.")) from exc
    return data, content_type


def signage_photo_store(*, deployment: Deployment, upload: Any) -> StoredPhoto:
    """Validate and write the photo encrypted; call inside the signage service's transaction (deployment locked).

    If that transaction rolls back, the file is left in the deployment's signage folder, which the destruction
    removes as a whole, so it cannot outlive the deployment's retention.
    """
    if (
        deployment.status in _NO_NEW_PHOTOS
        or Watchlist.objects.filter(deployment_id=deployment.pk, status=WatchlistStatus.DESTROYED).exists()
    ):
        raise _photo_error(_("This deployment's data has been destroyed; photos can no longer be added."))
    data, content_type = signage_photo_validate(upload)
    path = biometric_store.new_path(signage_folder(deployment.pk))
    biometric_store.write_encrypted(path, data)
    return StoredPhoto(path=path, content_type=content_type, sha256=hashlib.sha256(data).hexdigest())


def may_view_signage_photo(user: Any, deployment: Deployment) -> bool:
    """The applicant's team, authorising officers and the DPO, and only for a deployment they can see."""
    from compliance.services.deployments import is_team_member

    if not deployment_visible(user=user, deployment=deployment):
        return False
    return is_team_member(user, deployment) or has_role(user, Role.AUTHORISING_OFFICER, Role.DPO)


def signage_photo_read(*, actor: User, record: SignageRecord) -> tuple[bytes, str]:
    """The decrypted photo and its content type for someone allowed to see it; the viewing is audited."""
    deployment = record.deployment
    if not may_view_signage_photo(actor, deployment):
        raise NotPermitted(
            _("Only the applicant's team, authorising officers and the DPO may view signage photos."),
            code="not_permitted",
        )
    if not record.photo_path:
        raise NotFound(_("This signage record has no photo, or it has been destroyed."), code="photo_not_found")
    try:
        data = biometric_store.read_decrypted(record.photo_path)
    except FileNotFoundError as exc:
        raise NotFound(_("The signage photo is no longer stored."), code="photo_not_found") from exc
    with transaction.atomic():
        audit.record(
            "signage.photo_viewed",
            actor=actor,
            target_type=PHOTO_TARGET_TYPE,
            target_id=record.pk,
            deployment_id=deployment.pk,
            after={"photo_sha256": record.photo_sha256},
        )
    return data, record.photo_content_type or "application/octet-stream"


def signage_photos_destroy(*, actor: Any = None, deployment_id: int, reason: str) -> int:
    """Forget every signage photo of a deployment and remove its folder after commit; audited with the count."""
    with transaction.atomic():
        records = list(
            SignageRecord.objects.select_for_update()
            .filter(deployment_id=deployment_id)
            .exclude(photo_path="")
            .values_list("pk", "photo_sha256")
        )
        if records:
            SignageRecord.objects.filter(pk__in=[pk for pk, _sha in records]).update(
                photo_path="", photo_content_type=""
            )
            audit.record(
                "signage.photos_destroyed",
                actor=actor,
                target_type="compliance.deployment",
                target_id=deployment_id,
                deployment_id=deployment_id,
                after={"reason": reason, "photos": len(records), "photo_sha256": [sha for _pk, sha in records]},
            )
        transaction.on_commit(lambda: biometric_store.remove_folder(signage_folder(deployment_id)))
    return len(records)


def signage_photo_evidence(deployment_id: int) -> dict[str, int]:
    """What is left of a deployment's signage photos: rows still pointing at a file, and files on disk."""
    rows = SignageRecord.objects.filter(deployment_id=deployment_id).exclude(photo_path="").count()
    folder = signage_folder(deployment_id)
    files = len(biometric_store.files_in(folder))
    return {"signage_photo_rows": rows, "signage_photo_files": files}


def stored_photo_paths() -> set[str]:
    return set(SignageRecord.objects.exclude(photo_path="").values_list("photo_path", flat=True))


def deployments_with_photo_folders() -> list[int]:
    """Deployments that have a signage photo folder on disk (one directory listing)."""
    return biometric_store.deployment_folders(SIGNAGE_DIR)


def signage_photos_rotate(actor: Any = None) -> tuple[str, int]:
    """Re-encrypt every stored signage photo under the newest key (for `rotate_encoding_key`)."""
    count = 0
    for path in sorted(stored_photo_paths()):
        if biometric_store.rotate_file(path):
            count += 1
    return "signage_photos", count
