"""Whether the real services a test needs are here: skip locally when absent, fail in CI (LFR_REQUIRE_SERVICES=1)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("LFR_CHROMIUM", "/usr/bin/chromium")


def require(condition: bool, what: str) -> None:
    """Skip the test when `what` is missing, unless CI demands every service (then fail loudly)."""
    if condition:
        return
    if os.environ.get("LFR_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{what} is required in CI but is not available", pytrace=False)
    pytest.skip(f"{what} not available (set LFR_REQUIRE_SERVICES=1 to make this a failure)")


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() or shutil.which("chromium") is not None


def redis_broker_url() -> str | None:
    url = os.environ.get("CELERY_BROKER_URL", "")
    return url if url.startswith("redis") else None
