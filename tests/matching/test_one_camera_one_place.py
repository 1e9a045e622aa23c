"""One camera unit, one place at a time: a unit is live in at most one session whatever the deployment (domain.md
2.1, one location per authorisation; gate 4, signage at this location), refused with a clear, audited message that
names the other deployment only to someone who may see it, enforced by the database when two starts race; and a
session is stopped by hand by the deployment's assigned operators (domain.md 1), the AO and the DPO suspending or
revoking instead (2.2)."""

from __future__ import annotations

import datetime
import re

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from compliance.models import AuditEvent, TrainingRecord
from compliance.services import deployments as deployment_services
from lfr_portal.errors import InvalidTransition, NotPermitted
from matching.models import MatchingSession
from matching.models.sessions import SessionStatus, StopReason
from matching.services import sessions as session_services
from tests.matching.live_helpers import Live, build_live

pytestmark = pytest.mark.django_db


@pytest.fixture
def other(live, make_user) -> Live:
    """A second authorised deployment, passing every gate now, listing the same two camera units (van-live-1 and
    van-live-2); `live.operator` is assigned to both, `other.operator` to this one only."""
    second = build_live(make_user, title="Stratford station operation")
    assert second.camera.pk == live.camera.pk and second.deployment.reference != live.deployment.reference
    deployment_services.deployment_set_assigned_officers(
        actor=second.applicant,
        deployment=second.deployment,
        officer_ids=[second.operator.pk, second.engagement.pk, live.operator.pk],
    )
    return second


@pytest.fixture
def running(live) -> MatchingSession:
    """van-live-1 live for the first deployment."""
    return session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)


def _start(actor, deployment, camera):
    return session_services.session_start(actor=actor, deployment=deployment, camera_unit=camera)


def _refusals(actor, deployment):
    return AuditEvent.objects.filter(action="session.refused", actor_id=actor.pk, deployment_id=deployment.pk)


# ----------------------------------------------------------------------------------------------------------------
# 1. Refused at the start, with the other deployment named only to someone who may see it


def test_a_camera_live_for_one_deployment_cannot_start_for_another(live, other, running):
    with pytest.raises(InvalidTransition) as refused:
        _start(live.operator, other.deployment, live.camera)

    assert refused.value.code == "session_already_live" and refused.value.status_code == 409
    assert live.deployment.reference in refused.value.message and f"#{running.pk}" in refused.value.message
    assert "van-live-1" in refused.value.message and "choose another camera unit" in refused.value.message
    assert list(MatchingSession.objects.filter(status=SessionStatus.LIVE).values_list("pk", flat=True)) == [running.pk]
    event = _refusals(live.operator, other.deployment).get()
    assert event.after["code"] == "session_already_live" and event.after["camera_unit"] == "van-live-1"
    assert (event.after["live_session"], event.after["live_deployment_id"]) == (running.pk, live.deployment.pk)
    # The reason is on this deployment's timeline, which its whole team reads: never the other deployment's name.
    assert live.deployment.reference not in event.after["reason"] and "another deployment" in event.after["reason"]


def test_an_operator_who_may_not_see_the_other_deployment_is_not_told_which_it_is(live, other, running):
    with pytest.raises(InvalidTransition) as refused:
        _start(other.operator, other.deployment, live.camera)

    message = refused.value.message
    assert "van-live-1" in message and "another deployment" in message and "choose another camera unit" in message
    for secret in (live.deployment.reference, live.deployment.title, f"#{running.pk}"):
        assert secret not in message
    assert _refusals(other.operator, other.deployment).get().after["code"] == "session_already_live"
    assert MatchingSession.objects.filter(status=SessionStatus.LIVE).count() == 1


def test_a_camera_stopped_elsewhere_can_start_for_another_deployment(live, other, running):
    session_services.session_stop(actor=live.operator, session=running)

    started = _start(other.operator, other.deployment, live.camera)

    assert started.is_live and started.deployment_id == other.deployment.pk


def test_the_api_refuses_the_second_deployment_with_409_and_the_message(live, other, running, api_for):
    response = api_for(other.operator).post(
        "/api/v1/sessions/", {"deployment": other.deployment.pk, "camera_unit": live.camera.pk}, format="json"
    )

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "session_already_live" and "another deployment" in error["message"]
    assert live.deployment.reference not in str(response.json())


# ----------------------------------------------------------------------------------------------------------------
# 2. The database enforces it when two starts race


def test_the_database_refuses_a_second_live_session_of_a_camera_unit(live, other, running):
    with pytest.raises(IntegrityError), transaction.atomic():
        MatchingSession.objects.create(
            deployment=other.deployment, camera_unit=live.camera, started_by=other.operator, started_at=timezone.now()
        )


def test_a_start_that_loses_the_race_at_the_constraint_is_refused_with_the_same_message(
    live, other, running, monkeypatch
):
    with pytest.raises(InvalidTransition) as checked:
        _start(live.operator, other.deployment, live.camera)
    # The other start commits between this start's check and its insert: the check saw the unit free.
    real = session_services._camera_live_in if hasattr(session_services, "_camera_live_in") else None
    calls = []

    def free_at_the_check(*args):
        calls.append(args)
        return None if len(calls) == 1 else real(*args)

    monkeypatch.setattr(session_services, "_camera_live_in", free_at_the_check, raising=False)

    with pytest.raises(InvalidTransition) as raced:
        _start(live.operator, other.deployment, live.camera)

    assert len(calls) == 2  # the check, then the look-up after the constraint refused the insert
    assert raced.value.code == "session_already_live" and raced.value.message == checked.value.message
    assert MatchingSession.objects.filter(status=SessionStatus.LIVE).count() == 1
    events = list(_refusals(live.operator, other.deployment).order_by("seq"))
    assert len(events) == 2 and events[1].after["live_session"] == running.pk
    # The start had passed every gate: the record of the lost race keeps their verdicts.
    assert all(g["passed"] for g in events[1].after["gates"])
    assert not AuditEvent.objects.filter(action="session.started", deployment_id=other.deployment.pk).exists()


def test_a_lost_race_on_the_page_is_a_message_not_a_server_error(live, other, running, client_for, monkeypatch):
    monkeypatch.setattr(session_services, "_camera_live_in", lambda *a: None, raising=False)

    response = client_for(other.operator).post(
        reverse("session_start"), {"deployment": other.deployment.pk, "camera_unit": live.camera.pk}, follow=True
    )

    assert response.status_code == 200 and response.redirect_chain[-1][0] == reverse("session_list")
    html = response.content.decode()
    # The winner stopped meanwhile (the stub hides it): the generic message, never the other deployment.
    assert "van-live-1" in html and "at the same moment" in html and live.deployment.reference not in html
    assert MatchingSession.objects.filter(status=SessionStatus.LIVE).count() == 1


# ----------------------------------------------------------------------------------------------------------------
# 3. The start form does not offer a unit that is live, and says why


def _form(html: str, deployment) -> str:
    found = re.search(rf'<select id="camera-{deployment.pk}".*?</select>', html, re.S)
    return found.group(0) if found else ""


def test_the_start_form_does_not_offer_a_camera_live_elsewhere_and_says_why(live, other, running, client_for):
    html = client_for(live.operator).get(reverse("session_list")).content.decode()

    for deployment in (live.deployment, other.deployment):
        offered = _form(html, deployment)
        assert f'value="{live.other_camera.pk}"' in offered and f'value="{live.camera.pk}"' not in offered
    why = re.search(rf'data-testid="camera-live-{other.deployment.pk}">(.*?)</ul>', html, re.S).group(1)
    assert "van-live-1" in why and live.deployment.reference in why and f"#{running.pk}" in why
    assert "this deployment" in re.search(rf'data-testid="camera-live-{live.deployment.pk}">(.*?)</ul>', html, re.S)[1]


def test_the_start_form_names_no_deployment_the_operator_may_not_see(live, other, running, client_for):
    html = client_for(other.operator).get(reverse("session_list")).content.decode()

    assert f'value="{live.camera.pk}"' not in _form(html, other.deployment)
    why = re.search(rf'data-testid="camera-live-{other.deployment.pk}">(.*?)</ul>', html, re.S).group(1)
    assert "van-live-1" in why and "another deployment" in why
    assert live.deployment.reference not in html and live.deployment.title not in html


def test_a_deployment_whose_every_camera_is_live_offers_no_start_and_says_why(live, other, running, client_for):
    _start(live.operator, live.deployment, live.other_camera)

    html = client_for(other.operator).get(reverse("session_list")).content.decode()

    assert not _form(html, other.deployment)
    assert f'data-testid="no-free-camera-{other.deployment.pk}"' in html
    assert f'data-testid="no-camera-{other.deployment.pk}"' not in html


# ----------------------------------------------------------------------------------------------------------------
# 4. A session is stopped by hand by the deployment's assigned operators; the AO and the DPO suspend or revoke


@pytest.mark.parametrize("who", ["ao", "dpo"])
def test_the_ao_and_the_dpo_stop_matching_by_suspending_not_by_a_bare_stop(live, running, who):
    officer = getattr(live, who)

    assert not session_services.may_stop(officer, running)
    with pytest.raises(NotPermitted) as refused:
        session_services.session_stop(actor=officer, session=running)

    assert "suspend" in refused.value.message and "assigned LFR Operators" in refused.value.message
    running.refresh_from_db()
    assert running.is_live


@pytest.mark.parametrize("who", ["ao", "dpo"])
def test_the_console_tells_the_ao_and_the_dpo_how_to_stop_matching(live, running, client_for, who):
    client = client_for(getattr(live, who))

    html = client.get(reverse("session_console", args=[running.pk])).content.decode()
    posted = client.post(reverse("session_stop", args=[running.pk]), {"detail": ""})

    assert 'id="stop-session"' not in html and 'data-testid="stop-by-suspending"' in html
    assert reverse("deployment_detail", args=[live.deployment.pk]) in html
    assert posted.status_code == 403
    running.refresh_from_db()
    assert running.is_live


def test_suspension_by_the_dpo_still_stops_every_session_at_once(live, running, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        deployment_services.deployment_suspend(actor=live.dpo, deployment=live.deployment, reason="Compliance check")

    running.refresh_from_db()
    assert not running.is_live and running.stop_reason == StopReason.DEPLOYMENT_STOPPED


def test_an_assigned_operator_whose_training_lapsed_can_still_stop(live, running):
    lapsed = timezone.localdate() - datetime.timedelta(days=1)
    TrainingRecord.objects.filter(user=live.operator2).update(
        completed_on=lapsed - datetime.timedelta(days=365), expires_on=lapsed
    )
    assert not live.operator2.has_current_training()

    stopped = session_services.session_stop(actor=live.operator2, session=running)

    assert not stopped.is_live and stopped.stopped_by_id == live.operator2.pk
