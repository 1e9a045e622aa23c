"""Taking a camera unit out of use and back (Administrator): a lost, broken or re-purposed unit stops its live
sessions and loses its token at once, no session starts on it and no frame from it is accepted until it is
reactivated; a unit linked to CCTV, body-worn video or ANPR is never reactivated. Pages, API and audit."""

from __future__ import annotations

import pytest
from django.utils import timezone

from compliance.choices import Role
from compliance.models import AuditEvent, CameraUnit
from lfr_portal.errors import InvalidTransition, NotPermitted, RuleViolation
from matching import framestore
from matching.models import CameraToken, MatchingSession
from matching.models.sessions import SessionStatus, StopReason
from matching.services import cameras as camera_services
from matching.services import frames as frame_services
from matching.services import sessions as session_services
from tests.a11y import missing_described_by_targets
from tests.matching.live_helpers import blank_jpeg
from tests.matching.test_live_api import camera_client, post_frame

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(live):
    return camera_services.camera_token_issue(actor=live.admin, camera_unit=live.camera)


@pytest.fixture
def session(live):
    return session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)


def _deactivate(live, **kwargs):
    kwargs.setdefault("reason", "Lost at the Stratford deployment")
    return camera_services.camera_unit_deactivate(actor=live.admin, camera_unit=live.camera, **kwargs)


# ---- the service -------------------------------------------------------------------------------------------------


def test_deactivating_stops_the_cameras_live_session_at_once_and_leaves_other_cameras_running(live, token, session):
    other = session_services.session_start(
        actor=live.operator, deployment=live.deployment, camera_unit=live.other_camera
    )

    done = _deactivate(live)

    stopped = MatchingSession.objects.get(pk=session.pk)
    assert stopped.status == SessionStatus.STOPPED and stopped.stop_reason == StopReason.GATE_FAILED
    assert "van-live-1 was taken out of use" in stopped.stop_detail
    assert done.stopped_sessions == (session.pk,)
    assert MatchingSession.objects.get(pk=other.pk).status == SessionStatus.LIVE
    assert not CameraUnit.objects.get(pk=live.camera.pk).active
    event = AuditEvent.objects.get(action="camera_unit.deactivated")
    assert event.actor_username == live.admin.username and event.target_id == str(live.camera.pk)
    assert event.before["active"] is True and event.after["active"] is False
    assert event.after["reason"] == "Lost at the Stratford deployment"
    assert event.after["live_sessions"] == [session.pk]
    assert AuditEvent.objects.get(action="session.stopped", target_id=str(session.pk)).after["reason"] == "gate_failed"


def test_deactivating_drops_the_sessions_in_flight_frames(live, session, django_capture_on_commit_callbacks):
    frame_services.frame_submit(
        actor=live.principal, session_id=session.pk, data=blank_jpeg(), captured_at=timezone.now()
    )
    assert framestore.get_store().depth(session.pk) == 1

    with django_capture_on_commit_callbacks(execute=True):
        _deactivate(live)

    assert framestore.get_store().depth(session.pk) == 0
    assert MatchingSession.objects.get(pk=session.pk).dropped_purged == 1


def test_a_deactivated_camera_can_submit_no_frame_and_start_no_session(live, token, session):
    client = camera_client(token.secret)
    assert post_frame(client, session.pk, blank_jpeg()).status_code == 202

    _deactivate(live)

    assert post_frame(client, session.pk, blank_jpeg()).status_code == 401
    # The stream command submits as the session's camera without a token: the stopped session refuses it.
    with pytest.raises(InvalidTransition) as refused:
        frame_services.frame_submit(
            actor=live.principal, session_id=session.pk, data=blank_jpeg(), captured_at=timezone.now()
        )
    assert refused.value.code == "session_not_live"
    camera = CameraUnit.objects.get(pk=live.camera.pk)
    with pytest.raises(RuleViolation) as start:
        session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=camera)
    assert start.value.code == "camera_inactive"


def test_a_start_that_checked_the_unit_before_it_was_taken_out_of_use_is_refused(live):
    """The start's checks read the unit before its transaction: a deactivation committed in between (which stops the
    unit's live sessions, but this one was not there yet) must not leave a live session on an inactive unit."""
    checked = CameraUnit.objects.get(pk=live.camera.pk)  # what the start read: still active
    _deactivate(live)
    with pytest.raises(InvalidTransition) as refused:
        session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=checked)
    assert refused.value.code == "camera_inactive"
    assert not MatchingSession.objects.filter(camera_unit=live.camera, status=SessionStatus.LIVE).exists()
    event = AuditEvent.objects.filter(action="session.refused").latest("seq")
    assert event.after["code"] == "camera_inactive" and event.after["failed_gate"] is None


def test_deactivating_revokes_the_token_so_it_never_works_again(live, token):
    done = _deactivate(live)

    row = CameraToken.objects.get()
    assert done.revoked_token == row and row.revoked_at is not None and row.revoked_by == live.admin
    revoked = AuditEvent.objects.get(action="camera_token.revoked")
    assert revoked.before["token_id"] == row.pk and revoked.after == {"reason": "camera_unit_deactivated"}

    camera_services.camera_unit_reactivate(actor=live.admin, camera_unit=live.camera, reason="Found and checked")

    assert camera_services.camera_authenticate(token.secret) is None
    fresh = camera_services.camera_token_issue(actor=live.admin, camera_unit=live.camera)
    assert camera_services.camera_authenticate(fresh.secret) is not None


def test_deactivating_needs_a_reason_and_changes_nothing_without_one(live, token, session):
    with pytest.raises(RuleViolation) as refused:
        _deactivate(live, reason="   ")
    assert refused.value.code == "reason_required" and "reason" in refused.value.details
    assert CameraUnit.objects.get(pk=live.camera.pk).active
    assert MatchingSession.objects.get(pk=session.pk).status == SessionStatus.LIVE
    assert CameraToken.objects.get().revoked_at is None
    assert not AuditEvent.objects.filter(action="camera_unit.deactivated").exists()


def test_deactivating_twice_is_refused(live):
    _deactivate(live)
    with pytest.raises(InvalidTransition) as refused:
        _deactivate(live)
    assert refused.value.code == "camera_inactive"
    assert AuditEvent.objects.filter(action="camera_unit.deactivated").count() == 1


def test_reactivating_returns_the_unit_to_use_and_is_audited(live):
    _deactivate(live)

    camera = camera_services.camera_unit_reactivate(actor=live.admin, camera_unit=live.camera, reason="Repaired")

    assert camera.active and CameraUnit.objects.get(pk=live.camera.pk).active
    event = AuditEvent.objects.get(action="camera_unit.reactivated")
    assert event.before["active"] is False and event.after == {
        "identifier": "van-live-1",
        "active": True,
        "standalone": True,
        "reason": "Repaired",
    }
    started = session_services.session_start(
        actor=live.operator, deployment=live.deployment, camera_unit=CameraUnit.objects.get(pk=live.camera.pk)
    )
    assert started.status == SessionStatus.LIVE


def test_reactivating_needs_a_reason_and_an_inactive_unit(live):
    with pytest.raises(InvalidTransition) as active:
        camera_services.camera_unit_reactivate(actor=live.admin, camera_unit=live.camera, reason="Repaired")
    assert active.value.code == "camera_active"
    _deactivate(live)
    with pytest.raises(RuleViolation):
        camera_services.camera_unit_reactivate(actor=live.admin, camera_unit=live.camera, reason="")
    assert not CameraUnit.objects.get(pk=live.camera.pk).active


def test_a_unit_linked_to_other_systems_is_no_longer_standalone_and_cannot_be_reactivated(live):
    _deactivate(live, reason="Re-purposed as a town-centre CCTV camera", linked=True)

    camera = CameraUnit.objects.get(pk=live.camera.pk)
    assert not camera.active and not camera.standalone
    assert AuditEvent.objects.get(action="camera_unit.deactivated").after["standalone"] is False
    with pytest.raises(RuleViolation) as refused:
        camera_services.camera_unit_reactivate(actor=live.admin, camera_unit=camera, reason="Back on the van")
    assert refused.value.code == "camera_not_standalone"
    assert not CameraUnit.objects.get(pk=live.camera.pk).active


@pytest.mark.parametrize("role", [Role.LFR_OPERATOR, Role.AUTHORISING_OFFICER, Role.DPO])
def test_only_the_administrator_takes_units_out_of_use_or_back(live, make_user, role):
    someone = make_user(role)
    with pytest.raises(NotPermitted):
        camera_services.camera_unit_deactivate(actor=someone, camera_unit=live.camera, reason="Lost")
    _deactivate(live)
    with pytest.raises(NotPermitted):
        camera_services.camera_unit_reactivate(actor=someone, camera_unit=live.camera, reason="Found")
    assert not CameraUnit.objects.get(pk=live.camera.pk).active


# ---- the Administrator's pages -----------------------------------------------------------------------------------


def test_the_administrator_takes_a_unit_out_of_use_from_the_camera_page(live, token, session, client_for):
    client = client_for(live.admin)
    listed = client.get("/cameras/").content.decode()
    assert f'href="/cameras/{live.camera.pk}/deactivate/"' in listed

    page = client.get(f"/cameras/{live.camera.pk}/deactivate/")

    html = page.content.decode()
    assert page.status_code == 200 and "csrfmiddlewaretoken" in html and "data-confirm=" in html
    assert '<label for="id_reason">Why is it taken out of use?' in html and 'id="id_reason"' in html
    assert 'for="id_linked"' in html and "Take van-live-1 out of use" in html

    blank = client.post(f"/cameras/{live.camera.pk}/deactivate/", {"reason": ""})
    assert blank.status_code == 200 and "A reason is required." in blank.content.decode()
    assert 'aria-describedby="id_reason_helptext id_reason_error"' in blank.content.decode()
    assert missing_described_by_targets(blank.content.decode()) == []
    assert CameraUnit.objects.get(pk=live.camera.pk).active

    done = client.post(f"/cameras/{live.camera.pk}/deactivate/", {"reason": "Broken mast"}, follow=True)

    text = done.content.decode()
    assert "van-live-1 is out of use" in text and "1 live session was stopped." in text
    assert "Its token is revoked." in text
    assert f'href="/cameras/{live.camera.pk}/reactivate/"' in text
    assert not CameraUnit.objects.get(pk=live.camera.pk).active
    assert MatchingSession.objects.get(pk=session.pk).status == SessionStatus.STOPPED


def test_the_administrator_returns_a_unit_to_use_from_the_camera_page(live, client_for):
    _deactivate(live)
    client = client_for(live.admin)
    page = client.get(f"/cameras/{live.camera.pk}/reactivate/").content.decode()
    assert '<label for="id_reason">Why can it be used again?' in page and "csrfmiddlewaretoken" in page

    done = client.post(f"/cameras/{live.camera.pk}/reactivate/", {"reason": "Repaired"}, follow=True)

    assert "van-live-1 is back in use" in done.content.decode()
    assert CameraUnit.objects.get(pk=live.camera.pk).active
    again = client.post(f"/cameras/{live.camera.pk}/reactivate/", {"reason": "Repaired"}, follow=True)
    assert "already in use" in again.content.decode()


def test_a_linked_unit_offers_no_return_and_its_refusal_is_shown_on_the_form(live, client_for):
    client = client_for(live.admin)
    client.post(f"/cameras/{live.camera.pk}/deactivate/", {"reason": "Now on ANPR", "linked": "on"})
    listed = client.get("/cameras/").content.decode()
    assert "Linked to CCTV, body-worn video or ANPR" in listed
    assert f"/cameras/{live.camera.pk}/reactivate/" not in listed

    refused = client.post(f"/cameras/{live.camera.pk}/reactivate/", {"reason": "Back on the van"})

    assert refused.status_code == 200 and "cannot be used for live facial recognition" in refused.content.decode()
    assert not CameraUnit.objects.get(pk=live.camera.pk).active


@pytest.mark.parametrize("role", [r for r in Role.values if r != Role.ADMINISTRATOR])
def test_other_roles_are_refused_the_deactivation_pages(live, make_user, client_for, role):
    client = client_for(make_user(role))
    for action in ("deactivate", "reactivate"):
        assert client.get(f"/cameras/{live.camera.pk}/{action}/").status_code == 403
        assert client.post(f"/cameras/{live.camera.pk}/{action}/", {"reason": "x"}).status_code == 403
    assert CameraUnit.objects.get(pk=live.camera.pk).active
    assert (
        not AuditEvent.objects.filter(action__startswith="camera_unit.")
        .exclude(action="camera_unit.registered")
        .exists()
    )


# ---- the API -----------------------------------------------------------------------------------------------------


def test_camera_units_api_deactivates_and_reactivates(live, token, session, api_for):
    client = api_for(live.admin)
    url = f"/api/v1/camera-units/{live.camera.pk}"

    assert client.post(f"{url}/deactivate/", {}, format="json").status_code == 400
    out = client.post(f"{url}/deactivate/", {"reason": "Stolen from the van"}, format="json")

    assert out.status_code == 200, out.json()
    body = out.json()
    assert body["active"] is False and body["standalone"] is True and body["token_prefix"] is None
    assert MatchingSession.objects.get(pk=session.pk).status == SessionStatus.STOPPED
    again = client.post(f"{url}/deactivate/", {"reason": "Stolen"}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "camera_inactive"

    back = client.post(f"{url}/reactivate/", {"reason": "Recovered and checked"}, format="json")

    assert back.status_code == 200 and back.json()["active"] is True
    assert api_for(live.operator).post(f"{url}/deactivate/", {"reason": "x"}, format="json").status_code == 403
    assert CameraUnit.objects.get(pk=live.camera.pk).active


def test_camera_units_api_refuses_to_reactivate_a_linked_unit(live, api_for):
    client = api_for(live.admin)
    url = f"/api/v1/camera-units/{live.camera.pk}"
    client.post(f"{url}/deactivate/", {"reason": "Now on CCTV", "linked": True}, format="json")

    refused = client.post(f"{url}/reactivate/", {"reason": "Back"}, format="json")

    assert refused.status_code == 400 and refused.json()["error"]["code"] == "camera_not_standalone"


# ---- starting a session through the API with an unknown camera ---------------------------------------------------


def test_session_start_api_with_an_unknown_camera_is_refused_and_audited(live, api_for):
    response = api_for(live.operator).post(
        "/api/v1/sessions/", {"deployment": live.deployment.pk, "camera_unit": 999_999}, format="json"
    )

    assert response.status_code == 400 and response.json()["error"]["code"] == "camera_required"
    event = AuditEvent.objects.get(action="session.refused")
    assert event.deployment_id == live.deployment.pk and event.after["code"] == "camera_required"
    assert not MatchingSession.objects.exists()


def test_session_start_api_with_an_unknown_deployment_is_still_not_found(live, api_for):
    response = api_for(live.operator).post(
        "/api/v1/sessions/", {"deployment": 999_999, "camera_unit": live.camera.pk}, format="json"
    )

    assert response.status_code == 404
    assert not AuditEvent.objects.filter(action="session.refused").exists()
