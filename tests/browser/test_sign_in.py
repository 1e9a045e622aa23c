"""End to end in Chromium: the real TOTP sign-in, and the lock-out message."""

from __future__ import annotations

import pytest
from django.conf import settings

from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_authorising_officer_enrols_totp_and_reaches_home(page, make_user):
    officer = make_user("authorising_officer", username="supt-browser")
    sign_in(page, officer)
    page.wait_for_url("**/")
    assert page.get_by_role("heading", level=1).inner_text() == "Authorising Officer"
    assert page.get_by_text("Superintendent").first.is_visible()


def test_locked_out_user_sees_a_clear_message(page, make_user):
    make_user("applicant", username="planner-browser")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill("planner-browser")
        page.get_by_label("Password").fill("wrong password")
        page.get_by_role("button", name="Sign in").click()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("planner-browser")
    page.get_by_label("Password").fill("whatever")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("heading", name="Account temporarily locked").is_visible()
    assert "Too many failed sign-in attempts" in page.content()
