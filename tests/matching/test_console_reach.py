"""What the live console and the field home panel offer: every alert awaiting someone is reachable, nothing the
service would refuse is offered, an engagement records what the officer chose, and a deployment without a camera
says so instead of offering a Start that cannot work."""

from __future__ import annotations

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from compliance.models import CameraUnit
from matching.live_panels import live_matching_panel
from matching.models import Adjudication, Alert, MatchingSession
from matching.models.sessions import AlertStatus
from matching.selectors import sessions as selectors
from matching.services import alerts as alert_services
from matching.services import frames as frame_services
from matching.services import sessions as session_services
from tests.matching.live_helpers import face_jpeg, principal_for

pytestmark = pytest.mark.django_db

TRAINING_NOTICE = "Your LFR training is not current"


@pytest.fixture
def session(live):
    return session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)


@pytest.fixture
def alert(live, session) -> Alert:
    accepted = frame_services.frame_submit(
        actor=live.principal, session_id=session.pk, data=face_jpeg(), captured_at=timezone.now()
    )
    frame_services.frame_process(session_id=session.pk, frame_id=accepted.frame_id, captured_at=timezone.now())
    return Alert.objects.get()


def _newer_decided_alerts(alert: Alert, count: int) -> None:
    """`count` dismissed alerts of the same session, each newer than `alert` (plain rows: only their number and
    age matter here)."""
    rows = []
    for n in range(count):
        seen = alert.captured_at + datetime.timedelta(seconds=n + 1)
        copy = Alert(
            **{
                f.attname: getattr(alert, f.attname)
                for f in Alert._meta.concrete_fields
                if f.attname not in ("id", "created_at", "updated_at")
            }
        )
        copy.captured_at = copy.last_seen_at = seen
        copy.source_frame_id = f"older-{n}"
        copy.status = AlertStatus.DISMISSED
        rows.append(copy)
    Alert.objects.bulk_create(rows)


def _console(client, session) -> str:
    return client.get(f"/sessions/{session.pk}/console/alerts/").content.decode()


# ----------------------------------------------------------------------------------------------------------------
# Every alert awaiting a decision is on the console


@pytest.mark.parametrize("awaiting", [AlertStatus.NEW, AlertStatus.REFERRED])
def test_an_old_alert_awaiting_a_decision_is_on_the_console_beyond_fifty_newer_decided_ones(
    live, session, alert, client_for, awaiting
):
    if awaiting == AlertStatus.REFERRED:
        alert = alert_services.alert_refer(actor=live.operator, alert=alert)
    _newer_decided_alerts(alert, 55)
    officer = live.operator if awaiting == AlertStatus.NEW else live.engagement

    page = client_for(officer).get(f"/sessions/{session.pk}/console/").content.decode()
    partial = _console(client_for(officer), session)

    for html in (page, partial):
        assert f'data-testid="alert-{alert.pk}"' in html
        assert html.count('class="panel alert-card"') == 51  # the one awaiting, and the 50 newest decided
        assert "5 older decided alerts are not shown" in html
    button = f'id="dismiss-{alert.pk}"' if awaiting == AlertStatus.NEW else f'id="engage-{alert.pk}"'
    assert button in partial
    # Awaiting a decision comes first: the queue is at the top of the console.
    assert re.findall(r'class="panel alert-card" id="alert-(\d+)"', partial)[0] == str(alert.pk)


def test_the_alerts_awaiting_a_decision_are_bounded_per_refresh_and_the_rest_counted(
    live, session, alert, client_for, monkeypatch
):
    """A mis-set threshold can raise thousands of alerts: the one-second refresh rendered every card awaiting a
    decision. The newest are shown, the rest counted, and decided ones never displace them."""
    _newer_decided_alerts(alert, 4)
    Alert.objects.filter(session=session).update(status=AlertStatus.NEW)  # five awaiting, the oldest first made
    monkeypatch.setattr(selectors, "CONSOLE_AWAITING_SHOWN", 3)

    partial = _console(client_for(live.operator), session)

    assert partial.count('class="panel alert-card"') == 3
    assert f'data-testid="alert-{alert.pk}"' not in partial  # the oldest waits its turn
    assert "2 older alerts awaiting a decision are not shown here" in partial


def test_no_note_when_every_decided_alert_is_shown(live, session, alert, client_for):
    _newer_decided_alerts(alert, 3)
    assert "are not shown" not in _console(client_for(live.operator), session)


# ----------------------------------------------------------------------------------------------------------------
# Nothing offered that the service refuses: lapsed training


def test_an_operator_without_current_training_is_told_why_instead_of_offered_the_review(
    live, session, alert, client_for
):
    assert f'id="dismiss-{alert.pk}"' in _console(client_for(live.operator), session)
    live.operator.training_records.update(expires_on=timezone.localdate() - datetime.timedelta(days=1))

    html = _console(client_for(live.operator), session)

    assert f'id="dismiss-{alert.pk}"' not in html and f'id="refer-{alert.pk}"' not in html
    assert TRAINING_NOTICE in html
    assert TRAINING_NOTICE not in _console(client_for(live.operator2), session)


def test_an_engagement_officer_without_current_training_is_not_offered_the_engagement_form(
    live, session, alert, client_for
):
    alert_services.alert_refer(actor=live.operator, alert=alert)
    assert f'id="engage-{alert.pk}"' in _console(client_for(live.engagement), session)
    live.engagement.training_records.update(expires_on=timezone.localdate() - datetime.timedelta(days=1))

    html = _console(client_for(live.engagement), session)

    assert f'id="engage-{alert.pk}"' not in html and 'name="located"' not in html
    assert TRAINING_NOTICE in html


def test_the_authorising_officer_reads_the_console_without_a_training_notice(live, session, alert, client_for):
    html = _console(client_for(live.ao), session)
    assert f'data-testid="alert-{alert.pk}"' in html and TRAINING_NOTICE not in html


# ----------------------------------------------------------------------------------------------------------------
# An engagement records what the officer chose, or nothing


@pytest.mark.parametrize("located", [None, "", "maybe", "on"])
def test_an_engagement_without_a_clear_located_answer_records_nothing(live, session, alert, client_for, located):
    alert_services.alert_refer(actor=live.operator, alert=alert)
    data = {"action": "engagement", "identity_confirmed": "yes", "outcome": "arrest"}
    if located is not None:
        data["located"] = located

    page = client_for(live.engagement).post(f"/alerts/{alert.pk}/adjudicate/", data, follow=True)

    assert page.status_code == 200
    assert "Record whether the person was located." in page.content.decode()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.REFERRED and alert.located is None
    assert not Adjudication.objects.filter(alert=alert, decided_by=live.engagement).exists()


def test_an_engagement_not_located_is_still_recorded(live, session, alert, client_for):
    alert_services.alert_refer(actor=live.operator, alert=alert)
    client_for(live.engagement).post(f"/alerts/{alert.pk}/adjudicate/", {"action": "engagement", "located": "no"})
    alert.refresh_from_db()
    assert alert.status == AlertStatus.NOT_LOCATED and alert.located is False


# ----------------------------------------------------------------------------------------------------------------
# The home panel leads to the alerts it counts


def test_the_home_panel_links_a_stopped_session_holding_alerts_awaiting_the_officer(live, session, alert, client_for):
    session_services.session_stop(actor=live.operator, session=session)

    home = client_for(live.operator).get(reverse("home")).content.decode()

    assert "1 alert awaits you." in home
    assert f'href="/sessions/{session.pk}/console/"' in home
    assert f"Session #{session.pk} on van-live-1 ({live.deployment.reference}, Stopped): 1 alert</a>" in home
    panel = live_matching_panel(live.operator)
    assert panel["matching_alerts_waiting"] == 1
    assert [(row["session"].pk, row["waiting"]) for row in panel["matching_waiting_sessions"]] == [(session.pk, 1)]
    # The engagement officer has nothing to do on a new alert: no link offered to them.
    assert live_matching_panel(live.engagement)["matching_waiting_sessions"] == []


def test_the_home_panel_links_every_session_holding_alerts_awaiting_the_officer(live, session, alert, client_for):
    session_services.session_stop(actor=live.operator, session=session)
    second = session_services.session_start(
        actor=live.operator, deployment=live.deployment, camera_unit=live.other_camera
    )
    accepted = frame_services.frame_submit(
        actor=principal_for(live.other_camera), session_id=second.pk, data=face_jpeg(), captured_at=timezone.now()
    )
    frame_services.frame_process(session_id=second.pk, frame_id=accepted.frame_id, captured_at=timezone.now())

    home = client_for(live.operator).get(reverse("home")).content.decode()

    assert "2 alerts await you." in home
    assert f'href="/sessions/{session.pk}/console/"' in home and f'href="/sessions/{second.pk}/console/"' in home


# ----------------------------------------------------------------------------------------------------------------
# Start only where a camera can be chosen


def test_a_deployment_without_an_active_camera_unit_is_not_offered_a_start(live, client_for):
    CameraUnit.objects.filter(pk__in=[live.camera.pk, live.other_camera.pk]).update(active=False)

    html = client_for(live.operator).get(reverse("session_list")).content.decode()

    assert "No active camera unit is assigned" in html
    assert f'id="camera-{live.deployment.pk}"' not in html and "Start session</button>" not in html


def test_a_deployment_with_an_active_camera_unit_is_offered_a_start(live, client_for):
    html = client_for(live.operator).get(reverse("session_list")).content.decode()
    assert f'id="camera-{live.deployment.pk}"' in html and "No active camera unit is assigned" not in html


@pytest.mark.parametrize("camera", [None, "", "x", "999999"])
def test_a_start_without_a_valid_camera_is_a_form_error_not_a_404(live, client_for, camera):
    data = {"deployment": live.deployment.pk}
    if camera is not None:
        data["camera_unit"] = camera

    response = client_for(live.operator).post(reverse("session_start"), data, follow=True)

    assert response.status_code == 200
    assert "Choose one of the deployment’s active camera units." in response.content.decode()
    assert not MatchingSession.objects.exists()
