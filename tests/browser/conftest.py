"""Playwright harness: Debian's Chromium (never a downloaded browser) against pytest-django's live server."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator

import pytest
from django_otp.oath import totp

from tests.conftest import PASSWORD
from tests.services import CHROMIUM, chromium_available, require

# Playwright's sync API runs an event loop in this thread; the ORM calls in tests are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser(live_server) -> Iterator:
    """Chromium, started after the live server so that it closes first: its open connections end while the
    server still shares the in-memory SQLite connection with its request threads (a thread that closed it later
    raised DatabaseError, reported as a warning at the end of the run)."""
    require(chromium_available(), "Chromium at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server) -> Iterator:
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def current_totp(secret_b32: str) -> str:
    """The code an authenticator app would show for this base32 secret right now."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    return f"{totp(key):06d}"


def sign_in(page, user, password: str = PASSWORD) -> None:
    """Sign in through the real login form, enrolling or verifying TOTP when the role needs it."""
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    if not user.requires_second_factor:
        return
    page.wait_for_url("**/accounts/2fa/**")
    if "/enrol/" in page.url:
        secret = page.get_by_test_id("totp-secret").inner_text().strip()
        page.evaluate("s => sessionStorage.setItem('lfr-test-secret', s)", secret)
        user._test_totp_secret = secret
    secret = getattr(user, "_test_totp_secret", None)
    if secret is None:
        raise AssertionError("The user has a TOTP device but the test does not know its secret")
    page.get_by_label("Six-digit code from your authenticator app").fill(current_totp(secret))
    page.get_by_role("button", name="Confirm" if "/enrol/" in page.url else "Verify").click()
