"""Live console follow-ups: a refused engagement keeps what the officer chose with each error next to its field,
whoever may stop a session is offered Stop, no page reloads itself without JavaScript, a crop someone has seen
is never swapped, each decision records the crop it judged, and every refused start is audited."""

from __future__ import annotations

import re
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from compliance.choices import DeploymentStatus
from compliance.models import AuditEvent, Deployment
from compliance.services import retention as retention_services
from compliance.services import watchlists as watchlist_services
from lfr_portal.errors import InvalidTransition, NotPermitted
from matching.models import Alert, MatchingSession
from matching.models.sessions import AlertStatus
from matching.services import alerts as alert_services
from matching.services import frames as frame_services
from matching.services import sessions as session_services
from tests.compliance import watchlist_helpers
from tests.matching.live_helpers import WATCHED, face_jpeg, jpeg
from tests.shared_data import face_path

pytestmark = pytest.mark.django_db


@pytest.fixture
def session(live):
    return session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)


def _sight(live, session, data: bytes | None = None) -> Alert:
    accepted = frame_services.frame_submit(
        actor=live.principal, session_id=session.pk, data=data or face_jpeg(), captured_at=timezone.now()
    )
    frame_services.frame_process(session_id=session.pk, frame_id=accepted.frame_id, captured_at=timezone.now())
    return Alert.objects.latest("pk")


@pytest.fixture
def alert(live, session) -> Alert:
    return _sight(live, session)


@pytest.fixture
def referred(live, alert) -> Alert:
    return alert_services.alert_refer(actor=live.operator, alert=alert)


def _card(html: str, alert: Alert) -> str:
    found = re.search(rf'<article class="panel alert-card" id="alert-{alert.pk}".*?</article>', html, re.S)
    assert found, f"alert {alert.pk} is not on the console"
    return found.group(0)


def _tag(html: str, element_id: str) -> str:
    """The opening tag of the element with this id."""
    found = re.search(rf'<(?:input|select|fieldset|p|div)\b[^>]*\bid="{element_id}"[^>]*>', html)
    assert found, f"no element #{element_id}"
    return found.group(0)


def _engage(client, alert: Alert, **data: str):
    return client.post(reverse("alert_adjudicate", args=[alert.pk]), {"action": "engagement", **data}, follow=True)


def _partial(client, session) -> str:
    return client.get(reverse("session_console_alerts", args=[session.pk])).content.decode()


# ----------------------------------------------------------------------------------------------------------------
# 1. A refused engagement keeps the officer's choices, with each error next to its field


def test_a_refused_engagement_keeps_the_choices_and_ties_each_error_to_its_field(live, session, referred, client_for):
    client = client_for(live.engagement)
    pk = referred.pk

    page = _engage(client, referred, located="yes")

    # Back to the console, at the officer's card.
    assert page.redirect_chain[-1][0] == reverse("session_console", args=[session.pk]) + f"#alert-{pk}"
    for html in (page.content.decode(), _partial(client, session)):  # the one-second refresh renders it too
        card = _card(html, referred)
        assert "checked" in _tag(card, f"located-yes-{pk}") and "checked" not in _tag(card, f"located-no-{pk}")
        assert 'aria-invalid="true"' not in _tag(card, f"located-yes-{pk}")
        assert "Record whether the identity was confirmed." in _tag(card, f"identity_confirmed-error-{pk}") + card
        for field_id in (f"confirmed-yes-{pk}", f"confirmed-no-{pk}"):
            tag = _tag(card, field_id)
            assert 'aria-invalid="true"' in tag and f"identity_confirmed-error-{pk}" in tag
        outcome = _tag(card, f"outcome-{pk}")
        assert 'aria-invalid="true"' in outcome and f"outcome-error-{pk}" in outcome
        assert re.search(rf'id="outcome-error-{pk}"[^>]*>.*Choose the outcome', card, re.S)

    # The markup is the same at every refresh (but for the fresh CSRF token): portal.js keeps an unchanged card,
    # and the officer's place in it, as is.
    def without_csrf(html: str) -> str:
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", _card(html, referred))

    assert without_csrf(_partial(client, session)) == without_csrf(_partial(client, session))
    referred.refresh_from_db()
    assert referred.status == AlertStatus.REFERRED

    done = _engage(client, referred, located="yes", identity_confirmed="yes", outcome="arrest")

    assert done.status_code == 200
    referred.refresh_from_db()
    assert referred.status == AlertStatus.ENGAGED
    assert 'aria-invalid="true"' not in _partial(client, session)


def test_a_refused_not_located_engagement_keeps_the_identity_and_outcome_chosen(live, session, referred, client_for):
    client = client_for(live.engagement)
    pk = referred.pk

    html = _engage(client, referred, located="no", identity_confirmed="yes", outcome="arrest").content.decode()

    card = _card(html, referred)
    assert "checked" in _tag(card, f"located-no-{pk}") and "checked" in _tag(card, f"confirmed-yes-{pk}")
    assert re.search(r'<option value="arrest" selected>', card)
    assert "Only a person who was located can have an outcome recorded." in card
    assert f"outcome-error-{pk}" in _tag(card, f"outcome-{pk}")
    assert f"identity_confirmed-error-{pk}" in _tag(card, f"confirmed-yes-{pk}")


def test_not_located_with_not_the_person_sought_is_refused_beside_the_identity_and_can_be_cleared(
    live, session, referred, client_for
):
    client = client_for(live.engagement)
    pk = referred.pk

    html = _engage(client, referred, located="no", identity_confirmed="no").content.decode()

    card = _card(html, referred)
    assert "Only a person who was located can have their identity checked; leave it not checked." in card
    assert "checked" in _tag(card, f"confirmed-no-{pk}")
    for field_id in (f"confirmed-yes-{pk}", f"confirmed-no-{pk}", f"confirmed-none-{pk}"):
        assert f"identity_confirmed-error-{pk}" in _tag(card, field_id)
    referred.refresh_from_db()
    assert referred.status == AlertStatus.REFERRED

    # A chosen radio cannot be unchosen: the officer takes "Not checked", which sends no answer.
    assert 'value=""' in _tag(card, f"confirmed-none-{pk}")
    _engage(client, referred, located="no", identity_confirmed="")
    referred.refresh_from_db()
    assert referred.status == AlertStatus.NOT_LOCATED and referred.identity_confirmed is None


def test_a_refused_engagement_without_a_located_answer_marks_the_located_choice(live, session, referred, client_for):
    pk = referred.pk
    card = _card(_engage(client_for(live.engagement), referred, outcome="no_action").content.decode(), referred)

    for field_id in (f"located-yes-{pk}", f"located-no-{pk}"):
        tag = _tag(card, field_id)
        assert 'aria-invalid="true"' in tag and f"located-error-{pk}" in tag
    assert "Record whether the person was located." in card
    assert re.search(r'<option value="no_action" selected>', card)


def test_a_self_described_value_refused_for_a_person_not_located_shows_its_error_and_is_not_kept(
    live, session, referred, client_for
):
    retention_services.equality_field_create(
        actor=live.dpo, name="ethnicity", label="Ethnicity (self-described)", choices=["Black", "White", "Other"]
    )
    pk = referred.pk

    client = client_for(live.engagement)
    html = _engage(client, referred, located="no", eq_ethnicity="White").content.decode()

    card = _card(html, referred)
    select = _tag(card, f"eq-{pk}-ethnicity")
    assert 'aria-invalid="true"' in select and f"eq-{pk}-ethnicity-error" in select
    assert "Only as self-described by the person." in card
    # Special category data is not kept in the session, even for a refused form: the officer chooses it again.
    assert not re.search(r'<option value="White" selected>', card)
    assert "White" not in str(dict(client.session))


def test_a_kept_engagement_goes_once_the_alert_no_longer_awaits_it(live, session, referred, client_for):
    client = client_for(live.engagement)
    _engage(client, referred, located="yes")
    assert 'aria-invalid="true"' in _partial(client, session)

    alert_services.alert_record_engagement(actor=live.engagement, alert=referred, located=False)

    assert 'aria-invalid="true"' not in _partial(client, session)
    assert "lfr_console_engagements" not in client.session or not client.session["lfr_console_engagements"]


# ----------------------------------------------------------------------------------------------------------------
# 2. Whoever the service lets stop a session is offered Stop, with the confirmation


@pytest.mark.parametrize("who", ["operator", "operator2"])
def test_everyone_the_service_lets_stop_a_session_is_offered_stop_with_the_confirmation(live, session, client_for, who):
    officer = getattr(live, who)
    html = client_for(officer).get(reverse("session_console", args=[session.pk])).content.decode()

    assert 'id="stop-session"' in html
    stop_url = reverse("session_stop", args=[session.pk])
    assert re.search(rf'<form[^>]*action="{stop_url}"[^>]*data-confirm="[^"]+"', html)

    client_for(officer).post(reverse("session_stop", args=[session.pk]), {"detail": "done"})
    session.refresh_from_db()
    assert not session.is_live and session.stopped_by_id == officer.pk


def test_an_engagement_officer_is_not_offered_stop(live, session, client_for):
    with pytest.raises(NotPermitted):
        session_services.session_stop(actor=live.engagement, session=session)
    assert (
        'id="stop-session"' not in client_for(live.engagement).get(f"/sessions/{session.pk}/console/").content.decode()
    )


# ----------------------------------------------------------------------------------------------------------------
# 3. Without JavaScript a page offers a refresh instead of reloading itself (WCAG F41)


def _noscript_refresh(html: str, url: str) -> None:
    assert 'http-equiv="refresh"' not in html
    found = re.search(r"<noscript>(.*?)</noscript>", html, re.S)
    assert found and f'href="{url}"' in found.group(1), "no refresh link for browsers without JavaScript"


def test_the_console_offers_a_refresh_link_instead_of_reloading_itself(live, session, client_for):
    url = reverse("session_console", args=[session.pk])
    _noscript_refresh(client_for(live.operator).get(url).content.decode(), url)


def test_the_enrolment_progress_page_offers_a_refresh_link_instead_of_reloading_itself(live, client_for):
    with mock.patch.object(watchlist_services, "_dispatch", lambda batch_id: None):
        batch = watchlist_helpers.upload(live.compiler, live.deployment, [("PNC-7.jpg", face_jpeg())])
    url = reverse("watchlist_batch", args=[batch.pk])

    html = client_for(live.compiler).get(url).content.decode()

    assert "data-poll-url" in html  # JavaScript still polls
    _noscript_refresh(html, url)


# ----------------------------------------------------------------------------------------------------------------
# 4. A crop someone has seen is never swapped; each decision records the crop it judged


def _closer_sighting(live, session, alert: Alert) -> Alert:
    """A later frame of the same person, re-encoded (a different crop) and closer than the alert's best so far."""
    Alert.objects.filter(pk=alert.pk).update(distance=alert.threshold)
    _sight(live, session, jpeg(Image.open(face_path(WATCHED)), quality=70))
    alert.refresh_from_db()
    return alert


def test_a_closer_sighting_replaces_a_crop_nobody_has_seen(live, session, alert):
    before = alert.probe_sha256

    after = _closer_sighting(live, session, alert)

    assert after.sighting_count == 2 and after.probe_sha256 != before
    assert AuditEvent.objects.filter(action="alert.probe_replaced", target_id=str(alert.pk)).exists()


def test_a_closer_sighting_does_not_replace_a_crop_someone_has_viewed(live, session, alert, client_for):
    before = alert.probe_sha256
    assert client_for(live.operator).get(reverse("alert_probe", args=[alert.pk])).status_code == 200
    assert AuditEvent.objects.filter(action="alert.image_viewed", target_id=str(alert.pk)).exists()

    after = _closer_sighting(live, session, alert)

    assert after.probe_sha256 == before
    assert after.sighting_count == 2 and after.status == AlertStatus.NEW  # still a sighting of the same alert
    assert not AuditEvent.objects.filter(action="alert.probe_replaced", target_id=str(alert.pk)).exists()
    assert AuditEvent.objects.filter(action="alert.sighted", target_id=str(alert.pk)).exists()


def test_each_decision_records_the_crop_it_judged(live, session, alert):
    judged = alert.probe_sha256
    referred = alert_services.alert_refer(actor=live.operator, alert=alert)
    alert_services.alert_record_engagement(
        actor=live.engagement, alert=referred, located=True, identity_confirmed=True, outcome="arrest"
    )
    for action in ("alert.referred", "alert.engaged"):
        event = AuditEvent.objects.get(action=action, target_id=str(alert.pk))
        assert event.after["probe_sha256"] == judged


def test_a_dismissal_records_the_crop_it_judged(live, session, alert):
    alert_services.alert_dismiss(actor=live.operator, alert=alert)
    event = AuditEvent.objects.get(action="alert.dismissed", target_id=str(alert.pk))
    assert event.after["probe_sha256"] == alert.probe_sha256 != ""


# ----------------------------------------------------------------------------------------------------------------
# 5. Every refused start is audited, naming the reason


def test_a_start_by_someone_who_is_not_an_operator_is_refused_and_audited(live):
    with pytest.raises(NotPermitted):
        session_services.session_start(actor=live.engagement, deployment=live.deployment, camera_unit=live.camera)

    event = AuditEvent.objects.get(action="session.refused", actor_id=live.engagement.pk)
    assert event.after["code"] == "wrong_role" and event.after["reason"]
    assert event.deployment_id == live.deployment.pk and event.after["camera_unit"] == live.camera.identifier


def test_a_start_posted_by_someone_who_is_not_an_operator_is_refused_and_audited(live, client_for):
    response = client_for(live.engagement).post(
        reverse("session_start"), {"deployment": live.deployment.pk, "camera_unit": live.camera.pk}
    )

    assert response.status_code == 403
    event = AuditEvent.objects.get(action="session.refused", actor_id=live.engagement.pk)
    assert event.after["code"] == "wrong_role"
    assert not MatchingSession.objects.exists()


def test_a_start_refused_because_the_deployment_stopped_meanwhile_is_audited(live):
    real_gates = session_services.deployment_gates

    def gates_then_suspended(deployment, **kwargs):
        report = real_gates(deployment, **kwargs)
        # Suspended by the AO between the gate check and the start's lock on the deployment.
        Deployment.objects.filter(pk=live.deployment.pk).update(status=DeploymentStatus.SUSPENDED)
        return report

    with (
        mock.patch.object(session_services, "deployment_gates", gates_then_suspended),
        pytest.raises(InvalidTransition) as refused,
    ):
        session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)

    assert refused.value.code == "deployment_not_authorised"
    event = AuditEvent.objects.get(action="session.refused", actor_id=live.operator.pk)
    assert event.after["code"] == "deployment_not_authorised" and "authorised" in event.after["reason"]
    assert event.after["failed_gate"] == "authorisation"
    assert not MatchingSession.objects.exists()
