"""End to end in Chromium: one Administrator proposes an Authorising Officer, a second approves it from the home
page, by keyboard."""

from __future__ import annotations

import pytest

from compliance.choices import Role
from compliance.models import User
from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_second_administrator_approves_the_appointment_the_first_proposed(browser, live_server, make_user):
    proposer = make_user("administrator", username="admin-browser")
    approver = make_user("administrator", username="admin2-browser")

    first = browser.new_context(base_url=live_server.url)
    page = first.new_page()
    sign_in(page, proposer)
    page.wait_for_url("**/")
    page.goto("/accounts/users/new/")
    page.get_by_label("Username").fill("supt-new")
    page.get_by_label("Role").select_option(Role.AUTHORISING_OFFICER)
    page.get_by_label("Rank").select_option(label="Superintendent")
    page.get_by_label("Grounds for the appointment").fill("Posting order 2026/114")
    page.get_by_label("Initial password").fill("Harbour-lamp-5521x")
    page.get_by_role("button", name="Create").click()
    page.get_by_text("The appointment as Authorising Officer is proposed").wait_for()
    assert page.get_by_role("button", name="Approve the appointment").count() == 0
    first.close()
    assert User.objects.get(username="supt-new").role == ""

    second = browser.new_context(base_url=live_server.url)
    page = second.new_page()
    sign_in(page, approver)
    page.wait_for_url("**/")
    waiting = page.get_by_test_id("appointments-for-approval")
    assert "supt-new as Authorising Officer, proposed by admin-browser" in waiting.inner_text()
    waiting.get_by_role("link").first.click()
    page.get_by_label("Note").fill("Checked with HR")
    page.get_by_role("button", name="Approve the appointment").focus()
    page.keyboard.press("Enter")
    page.get_by_text("Appointment approved: supt-new is now Authorising Officer.").wait_for()
    second.close()
    assert User.objects.get(username="supt-new").role == Role.AUTHORISING_OFFICER
