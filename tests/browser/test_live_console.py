"""End to end in Chromium: an alert arrives in the live console without a reload and is adjudicated."""

from __future__ import annotations

import pytest
from django.utils import timezone

from matching.models import Alert
from matching.models.sessions import AlertStatus
from matching.services import frames as frame_services
from matching.services import sessions as session_services
from tests.browser.conftest import sign_in
from tests.compliance.watchlist_helpers import budget, media  # noqa: F401
from tests.matching.live_helpers import build_live, face_jpeg, frame_store, queued  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.usefixtures("media", "budget", "frame_store", "queued")
def test_console_shows_an_alert_arriving_live_and_records_the_review(page, make_user):
    live = build_live(make_user)
    session = session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)
    sign_in(page, live.operator)
    page.goto(f"/sessions/{session.pk}/console/")
    assert page.get_by_test_id("no-alerts").is_visible()

    # The camera sends a frame of the watched person while the page is open; the worker matches it.
    accepted = frame_services.frame_submit(
        actor=live.principal, session_id=session.pk, data=face_jpeg(), captured_at=timezone.now()
    )
    frame_services.frame_process(session_id=session.pk, frame_id=accepted.frame_id, captured_at=timezone.now())
    alert = Alert.objects.get()

    card = page.get_by_test_id(f"alert-{alert.pk}")
    card.wait_for(timeout=5_000)  # polled every second: no reload
    assert "threshold" in card.inner_text()
    # The decrypted probe crop loads through the audited image view.
    page.wait_for_function(
        "id => { const img = document.querySelector(`[data-testid=alert-${id}] img`);"
        " return img && img.naturalWidth > 0; }",
        arg=alert.pk,
    )

    card.get_by_role("button", name="Refer for engagement").click()
    page.wait_for_url(f"**/sessions/{session.pk}/console/")
    assert page.get_by_text(f"Alert {alert.pk} recorded.").is_visible()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.REFERRED and alert.first_verifier == live.operator


def _referred_alert_on_the_engagement_console(page, live):
    """A live session whose one alert the operator referred, open on the engagement officer's console."""
    from matching.services import alerts as alert_services

    session = session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)
    accepted = frame_services.frame_submit(
        actor=live.principal, session_id=session.pk, data=face_jpeg(), captured_at=timezone.now()
    )
    frame_services.frame_process(session_id=session.pk, frame_id=accepted.frame_id, captured_at=timezone.now())
    alert = alert_services.alert_refer(actor=live.operator, alert=Alert.objects.get())
    sign_in(page, live.engagement)
    page.goto(f"/sessions/{session.pk}/console/")
    card = page.get_by_test_id(f"alert-{alert.pk}")
    card.wait_for(timeout=5_000)
    return session, alert, card


@pytest.mark.usefixtures("media", "budget", "frame_store", "queued")
def test_the_engagement_form_survives_the_refresh_and_records_self_described_values(page, make_user):
    from compliance.models import EqualityRecord
    from compliance.services import retention as retention_services

    live = build_live(make_user)
    retention_services.equality_field_create(
        actor=live.dpo, name="ethnicity", label="Ethnicity (self-described)", choices=["Black", "White", "Other"]
    )
    session, alert, card = _referred_alert_on_the_engagement_console(page, live)

    card.get_by_label("Located", exact=True).check()
    card.get_by_label("Confirmed").check()
    card.get_by_label("Outcome").select_option("no_action")
    card.get_by_label("Ethnicity (self-described)").select_option("White")
    page.wait_for_timeout(2_500)  # the console refreshes every second; what was chosen must stay chosen
    card.get_by_role("button", name="Record engagement").click()

    page.wait_for_url(f"**/sessions/{session.pk}/console/")
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ENGAGED and alert.identity_confirmed is True and alert.outcome == "no_action"
    assert EqualityRecord.objects.get(alert_id=alert.pk).values == {"ethnicity": "White"}


@pytest.mark.usefixtures("media", "budget", "frame_store", "queued")
def test_the_refresh_keeps_the_keyboard_focus_announces_changes_and_notices_a_signed_out_browser(
    page, make_user, settings
):
    """Only what changed is replaced: a card the officer is on stays the same element with the focus, a new alert
    and a stopped session are announced once, and a refresh redirected to the sign-in page reloads the page."""
    settings.LFR_ALERT_REPEAT_SECONDS = 0  # each frame of the watched person is a new alert
    live = build_live(make_user)
    session = session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)

    def alert_from_a_frame() -> Alert:
        accepted = frame_services.frame_submit(
            actor=live.principal, session_id=session.pk, data=face_jpeg(), captured_at=timezone.now()
        )
        frame_services.frame_process(session_id=session.pk, frame_id=accepted.frame_id, captured_at=timezone.now())
        return Alert.objects.latest("pk")

    first = alert_from_a_frame()
    sign_in(page, live.operator)
    page.goto(f"/sessions/{session.pk}/console/")
    page.get_by_test_id(f"alert-{first.pk}").get_by_role("button", name="False alert").focus()
    page.evaluate("id => { document.getElementById(`alert-${id}`).kept = true; }", first.pk)  # not in the markup

    second = alert_from_a_frame()
    page.get_by_test_id(f"alert-{second.pk}").wait_for(timeout=5_000)
    page.wait_for_function("() => document.getElementById('console-announcer').textContent.includes('New alert')")
    assert page.locator("#console-announcer").inner_text() == f"New alert #{second.pk}"
    page.wait_for_timeout(2_500)  # refreshes every second
    assert page.evaluate("id => document.getElementById(`alert-${id}`).kept === true", first.pk)
    assert page.evaluate("() => document.activeElement.id") == f"dismiss-{first.pk}"

    session_services.session_stop(actor=live.operator, session=session)
    page.wait_for_function("() => document.getElementById('console-announcer').textContent.startsWith('Session')")
    assert page.get_by_role("button", name="Stop session").count() == 0

    page.context.clear_cookies()  # the sign-in expired
    page.wait_for_url("**/accounts/login/**", timeout=10_000)


@pytest.mark.usefixtures("media", "budget", "frame_store", "queued")
def test_stop_session_still_asks_for_confirmation_after_the_console_has_refreshed(page, make_user):
    """The Stop form is re-rendered by the refresh every second; the confirmation must survive every refresh."""
    live = build_live(make_user)
    session = session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)
    sign_in(page, live.operator)
    page.goto(f"/sessions/{session.pk}/console/")
    asked: list[str] = []

    def dismiss(dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.wait_for_timeout(2_500)  # past at least one refresh of the console
    page.get_by_role("button", name="Stop session").click()
    page.wait_for_timeout(1_500)
    assert asked == ["Stop matching on this camera? Queued frames are discarded."]
    session.refresh_from_db()
    assert session.is_live

    # Whatever replaces the form (a changed session section), the replacement asks too.
    page.evaluate("() => { const f = document.querySelector('form[data-confirm]'); f.outerHTML = f.outerHTML; }")
    page.get_by_role("button", name="Stop session").click()
    page.wait_for_timeout(1_500)
    assert len(asked) == 2
    session.refresh_from_db()
    assert session.is_live and page.get_by_test_id("session-status").inner_text() == "Live"


@pytest.mark.usefixtures("media", "budget", "frame_store", "queued")
def test_the_refresh_keeps_unchanged_cards_although_each_response_carries_a_fresh_csrf_token(page, make_user):
    """Only a changed card is replaced: a fresh CSRF token alone must not rebuild it (a screen reader would lose its
    place every second); the kept card's forms still post with a valid token."""
    live = build_live(make_user)
    session = session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)
    accepted = frame_services.frame_submit(
        actor=live.principal, session_id=session.pk, data=face_jpeg(), captured_at=timezone.now()
    )
    frame_services.frame_process(session_id=session.pk, frame_id=accepted.frame_id, captured_at=timezone.now())
    alert = Alert.objects.get()
    sign_in(page, live.operator)
    page.goto(f"/sessions/{session.pk}/console/")
    page.evaluate(
        "id => { document.getElementById(`alert-${id}`).kept = true;"
        " document.getElementById('console-session').kept = true; }",
        alert.pk,
    )

    page.wait_for_timeout(2_500)  # refreshes every second, each with a fresh CSRF token

    assert page.evaluate("id => document.getElementById(`alert-${id}`).kept === true", alert.pk)
    assert page.evaluate("() => document.getElementById('console-session').kept === true")
    page.get_by_test_id(f"alert-{alert.pk}").get_by_role("button", name="False alert").click()
    page.wait_for_url(f"**/sessions/{session.pk}/console/")
    assert page.get_by_text(f"Alert {alert.pk} recorded.").is_visible()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.DISMISSED


@pytest.mark.usefixtures("media", "budget", "frame_store", "queued")
def test_a_refused_engagement_comes_back_as_chosen_with_the_error_beside_its_field_through_the_refresh(page, make_user):

    live = build_live(make_user)
    session, alert, card = _referred_alert_on_the_engagement_console(page, live)

    card.get_by_label("Located", exact=True).check()
    card.get_by_label("Confirmed").check()
    card.get_by_role("button", name="Record engagement").click()  # no outcome chosen: refused

    page.wait_for_url(f"**/sessions/{session.pk}/console/#alert-{alert.pk}")
    card = page.get_by_test_id(f"alert-{alert.pk}")
    outcome = card.get_by_label("Outcome")
    page.locator("body").click(position={"x": 1, "y": 1})  # the focus is nowhere near the card
    page.wait_for_timeout(2_500)  # the console refreshes every second: the form must stay as it came back
    assert card.get_by_label("Located", exact=True).is_checked() and card.get_by_label("Confirmed").is_checked()
    assert outcome.get_attribute("aria-invalid") == "true"
    described = page.locator(f"#{outcome.get_attribute('aria-describedby')}")
    assert described.is_visible() and "Choose the outcome" in described.inner_text()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.REFERRED

    outcome.select_option("arrest")
    page.wait_for_timeout(1_500)
    card.get_by_role("button", name="Record engagement").click()
    page.wait_for_url(f"**/sessions/{session.pk}/console/")
    assert page.get_by_text(f"Alert {alert.pk} recorded.").is_visible()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ENGAGED and alert.identity_confirmed is True and alert.outcome == "arrest"


@pytest.mark.usefixtures("media", "budget", "frame_store", "queued")
def test_an_assigned_operator_stops_a_session_from_the_console_after_confirming(page, make_user):
    live = build_live(make_user)
    session = session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)
    sign_in(page, live.operator2)
    page.goto(f"/sessions/{session.pk}/console/")
    asked: list[str] = []

    def accept(dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    page.get_by_role("button", name="Stop session").click()

    page.wait_for_url(f"**/sessions/{session.pk}/console/")
    page.get_by_text("Session stopped").wait_for()
    assert asked == ["Stop matching on this camera? Queued frames are discarded."]
    session.refresh_from_db()
    assert not session.is_live and session.stopped_by_id == live.operator2.pk


@pytest.mark.usefixtures("media", "budget", "frame_store", "queued")
def test_without_javascript_the_console_offers_a_refresh_and_never_reloads_by_itself(browser, live_server, make_user):
    live = build_live(make_user)
    session = session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, live.operator)
        page.goto(f"/sessions/{session.pk}/console/")
        loads: list[str] = []
        page.on("load", lambda: loads.append(page.url))

        page.wait_for_timeout(6_500)  # past the five seconds the page used to reload itself after

        assert loads == []
        accepted = frame_services.frame_submit(
            actor=live.principal, session_id=session.pk, data=face_jpeg(), captured_at=timezone.now()
        )
        frame_services.frame_process(session_id=session.pk, frame_id=accepted.frame_id, captured_at=timezone.now())
        page.get_by_role("link", name="Refresh").click()
        page.get_by_test_id(f"alert-{Alert.objects.get().pk}").wait_for()
    finally:
        context.close()
