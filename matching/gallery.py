"""The one door from matching to the watch-list app: the approved gallery of a deployment and entry images.

Kept as module attributes so the worker always goes through compliance.selectors.watchlists (which checks the
approval and the content hash, and caches per worker) and tests can substitute a gallery.
"""

from __future__ import annotations

from typing import Any


def load_gallery_of(deployment: Any) -> Any:
    """The deployment's approved watch-list as a LoadedWatchlist (.gallery, .watchlist_id, .content_hash, .size),
    from the watch-list row the gate check loaded with `deployment` (no query when cached).

    Raises a lfr_portal.errors.ServiceError when the watch-list is missing, un-approved or tampered with.
    """
    from compliance.selectors.watchlists import load_gallery_of as _load_of

    return _load_of(deployment)


def entry_reference_image(entry_id: int) -> tuple[bytes, str]:
    """The watch-list image of an entry, decrypted, with its content type (raises when destroyed)."""
    from compliance.selectors.watchlists import entry_reference_image as _image

    return _image(entry_id)


def entries_present(entry_ids: Any) -> set[int]:
    """Which of these watch-list entries still exist (an entry goes when removed or its list is destroyed)."""
    from compliance.models import WatchlistEntry

    return set(WatchlistEntry.objects.filter(pk__in=set(entry_ids)).values_list("pk", flat=True))


def entry_still_held() -> Any:
    """A filter expression for alerts (`entry_id`) whose watch-list entry still exists."""
    from django.db.models import Exists, OuterRef

    from compliance.models import WatchlistEntry

    return Exists(WatchlistEntry.objects.filter(pk=OuterRef("entry_id")))
