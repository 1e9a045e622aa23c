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
