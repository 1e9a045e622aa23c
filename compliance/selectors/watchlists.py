"""Reads of watch-lists: restricted lists for people, the matcher's verified loader, the gate and the evidence."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from compliance import biometric_store
from compliance.choices import DeploymentStatus, Role, WatchlistCategory
from compliance.crypto import InvalidToken, decrypt_bytes
from compliance.models import Deployment, EnrolmentBatch, EnrolmentItem, ReferenceImage, Watchlist, WatchlistEntry
from compliance.models.watchlists import BatchStatus, ItemStatus, WatchlistStatus
from compliance.permissions import has_role
from lfr_portal.errors import ServiceError
from matching.engine import Gallery, encoding_from_bytes

READER_ROLES = (Role.WATCHLIST_COMPILER, Role.AUTHORISING_OFFICER, Role.DPO)
LIBRARY_ROLES = (Role.WATCHLIST_COMPILER, Role.DPO)
CONTENT_TYPES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG": "image/png"}


class WatchlistNotApproved(ServiceError):
    """The deployment has no approved, frozen watch-list to match against."""

    status_code = 409
    default_code = "watchlist_not_approved"


class WatchlistTampered(ServiceError):
    """The stored watch-list no longer matches the hash frozen at approval (or will not decrypt)."""

    status_code = 409
    default_code = "watchlist_tampered"


# ----------------------------------------------------------------------------------------------------------------
# Lists for people


def watchlist_list(*, user: Any) -> QuerySet[Watchlist]:
    """Compilers, AOs and the DPO see every watch-list; nobody else sees any."""
    if not has_role(user, *READER_ROLES):
        return Watchlist.objects.none()
    return (
        Watchlist.objects.select_related("deployment", "approved_by")
        .annotate(entry_count=Count("entries", distinct=True))
        .order_by("-deployment__created_at", "-id")
    )


def deployments_for_watchlists(*, user: Any) -> QuerySet[Deployment]:
    """Deployments whose watch-list a reader may open: submitted or later, never drafts."""
    if not has_role(user, *READER_ROLES):
        return Deployment.objects.none()
    return (
        Deployment.objects.exclude(status__in=[DeploymentStatus.DRAFT])
        .select_related("watchlist")
        .annotate(entry_count=Count("watchlist__entries", distinct=True))
        .order_by("-created_at", "-id")
    )


def watchlist_for_deployment(*, user: Any, deployment_id: int) -> Watchlist | None:
    """The watch-list of a deployment the user may see; None when it has none yet (Deployment.DoesNotExist else)."""
    deployments_for_watchlists(user=user).get(pk=deployment_id)
    return Watchlist.objects.select_related("deployment", "approved_by").filter(deployment_id=deployment_id).first()


def entry_list(*, user: Any, watchlist: Watchlist) -> QuerySet[WatchlistEntry]:
    if not has_role(user, *READER_ROLES):
        return WatchlistEntry.objects.none()
    return (
        WatchlistEntry.objects.filter(watchlist=watchlist)
        .select_related("reference_image", "compiler")
        .defer("encoding")
        .order_by("id")
    )


def entry_get(*, user: Any, pk: int) -> WatchlistEntry:
    if not has_role(user, *READER_ROLES):
        raise WatchlistEntry.DoesNotExist
    return (
        WatchlistEntry.objects.select_related("watchlist__deployment", "reference_image").defer("encoding").get(pk=pk)
    )


def batch_list(*, user: Any, watchlist: Watchlist) -> QuerySet[EnrolmentBatch]:
    if not has_role(user, *READER_ROLES):
        return EnrolmentBatch.objects.none()
    return EnrolmentBatch.objects.filter(watchlist=watchlist).select_related("uploaded_by").order_by("-created_at")


def batch_get(*, user: Any, pk: int) -> EnrolmentBatch:
    if not has_role(user, *READER_ROLES):
        raise EnrolmentBatch.DoesNotExist
    return EnrolmentBatch.objects.select_related("watchlist__deployment", "uploaded_by").get(pk=pk)


def reference_image_list(*, user: Any) -> QuerySet[ReferenceImage]:
    """The reference library: compilers and the DPO."""
    if not has_role(user, *LIBRARY_ROLES):
        return ReferenceImage.objects.none()
    return ReferenceImage.objects.select_related("created_by").order_by("person_reference", "id")


@dataclass(frozen=True)
class BatchProgress:
    """Counts for a progress bar and the per-file report."""

    batch: EnrolmentBatch
    total: int
    enrolled: int
    errors: int
    items: list[EnrolmentItem]

    @property
    def done(self) -> int:
        return self.enrolled + self.errors

    @property
    def percent(self) -> int:
        return 100 if self.batch.is_finished else int(100 * self.done / self.total) if self.total else 0


def batch_progress(*, user: Any, pk: int) -> BatchProgress:
    batch = batch_get(user=user, pk=pk)
    items = list(batch.items.order_by("position"))
    counts = Counter(item.status for item in items)
    return BatchProgress(
        batch=batch,
        total=max(batch.total, len(items)),
        enrolled=counts[ItemStatus.ENROLLED],
        errors=counts[ItemStatus.ERROR],
        items=items,
    )


# ----------------------------------------------------------------------------------------------------------------
# Rules shared with the services


def age_limit_date(today: datetime.date | None = None) -> datetime.date:
    """Images captured before this date are 'old' (LFR_MAX_IMAGE_AGE_YEARS) and need a justification."""
    today = today or timezone.localdate()
    years = int(settings.LFR_MAX_IMAGE_AGE_YEARS)
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


def entry_flags(entry: WatchlistEntry) -> list[str]:
    """Why an approver should look twice at an entry: an old image, a sensitive or third-party source."""
    flags: list[str] = []
    image = entry.reference_image
    if image.captured_on < age_limit_date():
        flags.append(_("Image older than %(n)s years") % {"n": settings.LFR_MAX_IMAGE_AGE_YEARS})
    if image.sensitive_or_third_party:
        flags.append(_("Sensitive or third-party source"))
    return flags


def budget_assessment(deployment: Deployment, entries: Sequence[WatchlistEntry]) -> dict[str, Any]:
    """Expected false alerts and TPIR at this size, threshold and policy, from the active calibration (domain.md 9).

    Calibration enrols one image per person. With several images of one person the margin rule compares a face
    with other people only, so fewer faces fall within its margin than calibrated: such a list is assessed as
    under the threshold rule, whose false alerts the margin rule's can never exceed.
    """
    size = len(entries)
    threshold = float(deployment.match_threshold or settings.LFR_POLICY_THRESHOLD)
    policy = deployment.alert_policy or "threshold"
    margin = float(deployment.alert_margin or 0.0) if policy == "margin" else 0.0
    people = people_count(entries)
    assessed_as = "threshold" if policy == "margin" and people < size else policy
    base = {"size": size, "people": people, "threshold": threshold, "policy": policy, "margin": margin}
    note = ""
    if assessed_as != policy:
        note = _(
            "%(n)s images show %(p)s people: some people have several images, so the margin rule's false "
            "alerts are assessed as the threshold rule's, which they cannot exceed."
        ) % {"n": size, "p": people}
        base.update(assessed_as=assessed_as, note=note)
    try:
        from matching import budget
    except ImportError:
        return {
            **base,
            "calibrated": False,
            "expected_fpir": None,
            "expected_tpir": None,
            "false_alerts_per_10k": None,
            "budget_fpir": None,
            "budget_met": None,
            "record_id": None,
            "how": "uncalibrated",
            "message": _("No calibration is available for this matcher."),
        }
    result = budget.expected_performance(
        watchlist_size=size,
        threshold=threshold,
        policy=assessed_as,
        margin=margin if assessed_as == "margin" else 0.0,
    )
    return {
        **base,
        "calibrated": bool(result.calibrated),
        "expected_fpir": result.expected_fpir,
        "expected_tpir": result.expected_tpir,
        "false_alerts_per_10k": result.false_alerts_per_10k,
        "budget_fpir": result.budget_fpir,
        "budget_met": result.budget_met,
        "record_id": result.record_id,
        "how": result.how,
        "message": " ".join(filter(None, (str(result.message), note))),
    }


@dataclass
class WatchlistSummary:
    """What the approver sees: size, counts per category, flagged entries and the false-alert assessment."""

    deployment: Deployment
    watchlist: Watchlist | None
    size: int
    counts: dict[str, int]
    flagged: list[tuple[WatchlistEntry, list[str]]]
    assessment: dict[str, Any]
    pending_batches: int
    compiler_ids: set[int] = field(default_factory=set)
    approval_current: bool = False
    approval_reason: str = ""
    people: int = 0  # images with the same entered person reference are one person

    @property
    def category_rows(self) -> list[tuple[str, int, bool]]:
        allowed = set(self.deployment.watchlist_categories or [])
        return [(str(c.label), self.counts.get(c.value, 0), c.value in allowed) for c in WatchlistCategory]


def contributor_ids(watchlist: Watchlist, entries: list[WatchlistEntry]) -> set[int]:
    """Everyone who shaped this list's content, none of whom may approve it (separation of duties): the compilers
    of its entries, whoever uploaded a batch to it, and whoever enrolled, changed or removed an entry (recorded on
    the list itself, since a removed entry leaves no row and the audit log is pruned in time)."""
    ids = {e.compiler_id for e in entries} | set(watchlist.batches.values_list("uploaded_by_id", flat=True))
    return ids | set(watchlist.contributors.values_list("pk", flat=True))


def watchlist_summary(*, user: Any, deployment_id: int) -> WatchlistSummary:
    """The approval view of a deployment's watch-list, readable by compilers, AOs and the DPO."""
    deployment = deployments_for_watchlists(user=user).get(pk=deployment_id)
    watchlist = Watchlist.objects.filter(deployment=deployment).first()
    entries = list(entry_list(user=user, watchlist=watchlist)) if watchlist else []
    counts = Counter(e.category for e in entries)
    flagged = [(e, flags) for e in entries if (flags := entry_flags(e))]
    pending = (
        EnrolmentBatch.objects.filter(
            watchlist=watchlist, status__in=[BatchStatus.PENDING, BatchStatus.PROCESSING]
        ).count()
        if watchlist
        else 0
    )
    compilers = contributor_ids(watchlist, entries) if watchlist else set()
    current, reason = watchlist_gate(deployment, timezone.now()) if watchlist else (False, _("No watch-list yet."))
    return WatchlistSummary(
        deployment=deployment,
        watchlist=watchlist,
        size=len(entries),
        counts=dict(counts),
        flagged=flagged,
        assessment=budget_assessment(deployment, entries) if entries else {},
        pending_batches=pending,
        compiler_ids=compilers,
        approval_current=current,
        approval_reason=reason,
        people=people_count(entries),
    )


# ----------------------------------------------------------------------------------------------------------------
# The freeze hash


def entry_canonical(entry: WatchlistEntry, encoding_sha256: str) -> dict[str, Any]:
    image = entry.reference_image
    # Whether the reference was entered decides who counts as one person, so it is frozen with the rest; only when
    # set, so that the hashes of lists approved before the field existed still verify.
    entered = {"person_reference_entered": True} if image.person_reference_entered else {}
    return {
        **entered,
        "id": entry.pk,
        "reference_image_id": image.pk,
        "person_reference": image.person_reference,
        "legal_basis": image.legal_basis,
        "source": image.source,
        "sensitive_or_third_party": image.sensitive_or_third_party,
        "captured_on": image.captured_on.isoformat(),
        "category": entry.category,
        "offence_or_reason": entry.offence_or_reason,
        "justification": entry.justification,
        "age_justification": entry.age_justification,
        "compiler_id": entry.compiler_id,
        "image_sha256": entry.image_sha256,
        "encoding_sha256": encoding_sha256,
        "box": list(entry.face_box),
    }


def content_digest(watchlist: Watchlist, canonical_entries: list[dict[str, Any]]) -> str:
    payload = {
        "watchlist_id": watchlist.pk,
        "deployment_id": watchlist.deployment_id,
        "entries": sorted(canonical_entries, key=lambda e: e["id"]),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class DecryptedWatchlist:
    matrix: np.ndarray
    ids: list[int]
    content_hash: str
    persons: list[str] = field(default_factory=list)  # person_key of each entry, in the order of `ids`


def person_key(reference: str) -> str:
    """A person reference without case or spacing differences."""
    return " ".join(reference.split()).casefold()


def person_of(image: ReferenceImage) -> str:
    """Who an image shows, for the margin rule and repeat sightings: its entered person reference, normalised; ""
    (a person of its own) when the reference is only the file's name."""
    return person_key(image.person_reference) if image.person_reference_entered else ""


def people_count(entries: Sequence[WatchlistEntry]) -> int:
    """How many people the entries show: images with the same entered person reference are one person."""
    keys = [person_of(entry.reference_image) for entry in entries]
    return len({key for key in keys if key}) + sum(1 for key in keys if not key)


def decrypt_and_hash(watchlist: Watchlist) -> DecryptedWatchlist:
    """Decrypt every encoding and hash the content from the plaintext; WatchlistTampered if any will not decrypt."""
    entries = list(WatchlistEntry.objects.filter(watchlist=watchlist).select_related("reference_image").order_by("id"))
    vectors: list[np.ndarray] = []
    canonical: list[dict[str, Any]] = []
    for entry in entries:
        try:
            plain = decrypt_bytes(bytes(entry.encoding))
            vector = encoding_from_bytes(plain)
        except (InvalidToken, ValueError) as exc:
            raise WatchlistTampered(
                _("Entry %(id)s of the watch-list cannot be decrypted: it was altered.") % {"id": entry.pk}
            ) from exc
        digest = hashlib.sha256(plain).hexdigest()
        if digest != entry.encoding_sha256:
            raise WatchlistTampered(_("Entry %(id)s's encoding was replaced.") % {"id": entry.pk})
        vectors.append(vector)
        canonical.append(entry_canonical(entry, digest))
    matrix = np.vstack(vectors).astype(np.float32) if vectors else np.empty((0, 128), dtype=np.float32)
    return DecryptedWatchlist(
        matrix=matrix,
        ids=[e.pk for e in entries],
        content_hash=content_digest(watchlist, canonical),
        persons=[person_of(e.reference_image) for e in entries],
    )


# ----------------------------------------------------------------------------------------------------------------
# The matcher's loader


@dataclass(frozen=True)
class LoadedWatchlist:
    """An approved, frozen, verified watch-list ready to search."""

    gallery: Gallery
    content_hash: str
    watchlist_id: int
    size: int
    version: int = 0


# Decrypted galleries, per process, keyed by deployment id. Spec 6: nothing of deleted data may stay in a cache, and a
# worker that never matches for that deployment again would otherwise hold the decrypted matrix for ever; so an entry
# unused for LFR_GALLERY_CACHE_IDLE_SECONDS is dropped, on every access and by a small sweeper thread.
_cache: dict[int, LoadedWatchlist] = {}
_last_used: dict[int, float] = {}
_cache_lock = threading.Lock()
_sweeper: threading.Thread | None = None
SWEEP_SECONDS = 30.0


def _now() -> float:
    return time.monotonic()


def _idle_seconds() -> float:
    return float(settings.LFR_GALLERY_CACHE_IDLE_SECONDS)


def _evict_idle_locked(now: float) -> int:
    cutoff = now - _idle_seconds()
    idle = [deployment_id for deployment_id, used in _last_used.items() if used <= cutoff]
    for deployment_id in idle:
        _cache.pop(deployment_id, None)
        _last_used.pop(deployment_id, None)
    return len(idle)


def evict_idle_galleries() -> int:
    """Drop every cached gallery unused for the idle period; returns how many were dropped."""
    with _cache_lock:
        return _evict_idle_locked(_now())


def _sweep_wait() -> None:
    time.sleep(max(1.0, min(SWEEP_SECONDS, _idle_seconds())))


def _sweep_loop() -> None:
    """Wake every SWEEP_SECONDS (or the idle period, if shorter), evict, and stop once the cache is empty."""
    global _sweeper
    me = threading.current_thread()
    while True:
        _sweep_wait()
        with _cache_lock:
            if _sweeper is not me:
                return  # replaced (the cache was reset, or this process forked): one sweeper per process
            _evict_idle_locked(_now())
            if not _cache:
                # Cleared under the lock, so the next insert (also under it) starts a fresh sweeper.
                _sweeper = None
                return


def _ensure_sweeper_locked() -> None:
    global _sweeper
    if _sweeper is None:
        _sweeper = threading.Thread(target=_sweep_loop, name="lfr-gallery-cache-sweeper", daemon=True)
        _sweeper.start()


def _forget_after_fork() -> None:
    # A forked child (Celery prefork) has no sweeper thread and may inherit a lock held mid-update: start clean.
    global _cache_lock, _sweeper
    _cache_lock = threading.Lock()
    _sweeper = None
    _cache.clear()
    _last_used.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def _store_locked(deployment_id: int, loaded: LoadedWatchlist) -> None:
    _cache[deployment_id] = loaded
    _last_used[deployment_id] = _now()
    _ensure_sweeper_locked()


def _drop_locked(deployment_id: int) -> None:
    _cache.pop(deployment_id, None)
    _last_used.pop(deployment_id, None)


def clear_gallery_cache(deployment_id: int | None = None) -> None:
    """Forget cached galleries (one deployment's, or all), and any other entry past the idle period."""
    with _cache_lock:
        if deployment_id is None:
            _cache.clear()
            _last_used.clear()
        else:
            _drop_locked(deployment_id)
            _evict_idle_locked(_now())


def gallery_cached(deployment_id: int) -> bool:
    """Whether this process still holds the deployment's decrypted gallery (after evicting idle entries)."""
    with _cache_lock:
        _evict_idle_locked(_now())
        return deployment_id in _cache


def load_gallery(deployment_id: int) -> LoadedWatchlist:
    """The deployment's approved watch-list, decrypted and checked against its freeze hash; cached per process.

    One small query when cached: the cache key is (watch-list id, version, hash), and every change bumps version.
    """
    state = (
        Watchlist.objects.filter(deployment_id=deployment_id)
        .values("pk", "status", "version", "approved_version", "content_hash")
        .first()
    )
    return _gallery_for_state(deployment_id, state)


def load_gallery_of(deployment: Deployment) -> LoadedWatchlist:
    """As `load_gallery`, from the watch-list row loaded with `deployment` (the gate check's), without a query."""
    watchlist = _watchlist_of(deployment)
    return _gallery_for_state(deployment.pk, None if watchlist is None else _state_of(watchlist))


def _watchlist_of(deployment: Deployment) -> Watchlist | None:
    """The deployment's watch-list row: the one a gate check selected with it just now, else read fresh (a row
    cached on an older instance must never decide a gate)."""
    from compliance.gates import loaded_for_gates

    if not loaded_for_gates(deployment):
        return Watchlist.objects.filter(deployment_id=deployment.pk).first()
    try:
        return deployment.watchlist
    except ObjectDoesNotExist:
        return None


def _state_of(watchlist: Watchlist) -> dict[str, Any]:
    return {
        "pk": watchlist.pk,
        "status": watchlist.status,
        "version": watchlist.version,
        "approved_version": watchlist.approved_version,
        "content_hash": watchlist.content_hash,
    }


def _gallery_for_state(deployment_id: int, state: dict[str, Any] | None) -> LoadedWatchlist:
    """The cached or freshly verified gallery for a watch-list row already read by the caller."""
    if state is None or state["status"] != WatchlistStatus.APPROVED or state["approved_version"] != state["version"]:
        clear_gallery_cache(deployment_id)
        raise WatchlistNotApproved(_("Deployment %(id)s has no approved watch-list.") % {"id": deployment_id})
    with _cache_lock:
        now = _now()
        _evict_idle_locked(now)
        cached = _cache.get(deployment_id)
        if (
            cached is not None
            and cached.watchlist_id == state["pk"]
            and cached.version == state["version"]
            and cached.content_hash == state["content_hash"]
        ):
            _last_used[deployment_id] = now
            return cached
    with _cache_lock:
        watchlist = Watchlist.objects.get(pk=state["pk"])
        try:
            decrypted = decrypt_and_hash(watchlist)
        except WatchlistTampered:
            _drop_locked(deployment_id)
            raise
        if decrypted.content_hash != state["content_hash"]:
            _drop_locked(deployment_id)
            raise WatchlistTampered(
                _("The watch-list of deployment %(id)s does not match the content approved; it will not be loaded.")
                % {"id": deployment_id}
            )
        loaded = LoadedWatchlist(
            gallery=Gallery.build(decrypted.matrix, decrypted.ids, persons=decrypted.persons),
            content_hash=decrypted.content_hash,
            watchlist_id=watchlist.pk,
            size=len(decrypted.ids),
            version=state["version"],
        )
        _store_locked(deployment_id, loaded)
        return loaded


def entry_reference_image(entry_id: int) -> tuple[bytes, str]:
    """The decrypted reference image of an entry and its content type (callers audit the viewing)."""
    entry = WatchlistEntry.objects.select_related("reference_image").defer("encoding").get(pk=entry_id)
    data = biometric_store.read_decrypted(entry.image_path)
    return data, entry.reference_image.content_type


def content_type_of(data: bytes) -> str:
    for magic, content_type in CONTENT_TYPES.items():
        if data.startswith(magic):
            return content_type
    return "application/octet-stream"


# ----------------------------------------------------------------------------------------------------------------
# Gate and the published size


def watchlist_gate(deployment: Deployment, at: datetime.datetime) -> tuple[bool, str]:
    """Gate 3 (domain.md 2.3): approved after the latest authorisation, fresh enough, and unchanged since."""
    watchlist = _watchlist_of(deployment)
    if watchlist is None or watchlist.status != WatchlistStatus.APPROVED:
        return False, _("The watch-list is not approved.")
    if deployment.authorised_at is None or watchlist.approved_at < deployment.authorised_at:
        return False, _("The watch-list was approved before the latest authorisation; it must be approved again.")
    if watchlist.approved_at > at:
        return False, _("The watch-list was not yet approved at this time.")
    max_age = datetime.timedelta(hours=settings.LFR_WATCHLIST_APPROVAL_MAX_AGE_HOURS)
    if at - watchlist.approved_at > max_age:
        return False, _(
            "The watch-list approval is older than %(h)s hours; it must be reviewed and approved again."
        ) % {"h": settings.LFR_WATCHLIST_APPROVAL_MAX_AGE_HOURS}
    try:
        # The row was just read: verify the gallery from it rather than querying it again (per-frame path).
        loaded = _gallery_for_state(deployment.pk, _state_of(watchlist))
    except ServiceError as exc:
        return False, exc.message
    return True, _("%(n)s entries approved at %(t)s, content unchanged.") % {
        "n": loaded.size,
        "t": timezone.localtime(watchlist.approved_at).strftime("%Y-%m-%d %H:%M"),
    }


def approved_size(deployment: Deployment) -> int:
    """The size of the watch-list as approved; kept on the watch-list row after destruction."""
    return Watchlist.objects.filter(deployment_id=deployment.pk).values_list("approved_size", flat=True).first() or 0


# ----------------------------------------------------------------------------------------------------------------
# Destruction evidence


# What a destruction's evidence counts as left behind: all must be zero (or false) for it to be clean.
LEFT_BEHIND_KEYS = (
    "entry_rows",
    "encodings",
    "batch_rows",
    "item_rows",
    "contributor_rows",
    "files",
    "folder_exists",
    "signage_photo_rows",
    "signage_photo_files",
    "gallery_cached_here",
)


def destruction_evidence(deployment_id: int) -> dict[str, Any]:
    """Look for anything left of a deployment's watch-list: rows, files, signage photos, this process's cache."""
    from compliance.services.signage_photos import signage_photo_evidence

    watchlist = Watchlist.objects.filter(deployment_id=deployment_id).first()
    wl_filter = Q(watchlist__deployment_id=deployment_id)
    entry_rows = WatchlistEntry.objects.filter(wl_filter).count()
    encodings = WatchlistEntry.objects.filter(wl_filter).exclude(encoding=b"").count()
    batch_rows = EnrolmentBatch.objects.filter(wl_filter).count()
    item_rows = EnrolmentItem.objects.filter(batch__watchlist__deployment_id=deployment_id).count()
    contributor_rows = Watchlist.contributors.through.objects.filter(wl_filter).count()
    folder = biometric_store.watchlist_folder(deployment_id)
    files = biometric_store.files_in(folder)
    folder_exists = biometric_store.absolute(folder).exists()
    signage = signage_photo_evidence(deployment_id)
    cached = gallery_cached(deployment_id)
    evidence = {
        "deployment_id": deployment_id,
        "watchlist_id": watchlist.pk if watchlist else None,
        "entry_rows": entry_rows,
        "encodings": encodings,
        "batch_rows": batch_rows,
        "item_rows": item_rows,
        "contributor_rows": contributor_rows,
        "files": len(files),
        "folder": folder,
        "folder_exists": folder_exists,
        **signage,
        "gallery_cached_here": cached,
        "gallery_cache_idle_seconds": settings.LFR_GALLERY_CACHE_IDLE_SECONDS,
        "checked_at": timezone.now().isoformat(),
    }
    evidence["clean"] = not any(evidence[key] for key in LEFT_BEHIND_KEYS)
    return evidence
