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


def test_a_failed_sign_in_moves_the_focus_to_the_error_summary(page, make_user):
    make_user("applicant", username="planner-focus")
    page.goto("/accounts/login/")
    assert page.evaluate("document.activeElement.id") == "id_username"  # no summary: the page's own focus stays
    page.get_by_label("Username").fill("planner-focus")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("load")
    summary = page.locator("#error-summary")
    assert summary.is_visible()
    assert page.evaluate("document.activeElement.id") == "error-summary"
    assert page.get_by_label("Username").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Password").get_attribute("aria-describedby") == "login-error"


def test_a_refused_form_moves_the_focus_to_its_shared_error_summary(page, make_user):
    applicant = make_user("applicant", username="planner-form")
    sign_in(page, applicant)
    page.wait_for_url("**/")
    page.goto("/deployments/new/")
    page.get_by_label("Time windows").fill("tomorrow morning")
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_load_state("load")
    assert page.get_by_role("heading", name="There is a problem").is_visible()
    assert page.evaluate("document.activeElement.id") == "error-summary"
