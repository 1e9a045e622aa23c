"""Fixtures for the matching tests: live deployments and the frame store (tests/matching/live_helpers.py)."""

from tests.compliance.watchlist_helpers import budget, media  # noqa: F401
from tests.matching.live_helpers import frame_store, live, queued  # noqa: F401
