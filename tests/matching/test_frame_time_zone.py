"""A frame's capture time must carry its time zone: a naive time would be read in the server's zone, so a camera
sending naive UTC in summer time would have every frame dropped as an hour stale. It is refused at the door."""

from __future__ import annotations

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from matching.models import MatchingSession
from matching.services import cameras as camera_services
from matching.services import sessions as session_services
from tests.matching.live_helpers import face_jpeg

pytestmark = pytest.mark.django_db


@pytest.fixture
def camera(live) -> APIClient:
    issued = camera_services.camera_token_issue(actor=live.admin, camera_unit=live.camera)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Camera {issued.secret}")
    return client


@pytest.fixture
def session(live) -> MatchingSession:
    session = session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)
    # The offsets below are sent to the second: started a moment ago, the frame would predate the session (refused).
    started = timezone.now() - datetime.timedelta(seconds=2)
    MatchingSession.objects.filter(pk=session.pk).update(started_at=started)
    return session


def _post(camera: APIClient, session: MatchingSession, captured_at: str):
    body = {
        "image": SimpleUploadedFile("frame.jpg", face_jpeg(), content_type="image/jpeg"),
        "captured_at": captured_at,
    }
    return camera.post(f"/api/v1/sessions/{session.pk}/frames/", body, format="multipart")


@pytest.mark.parametrize("naive", ["utc_now", "local_now"])
def test_a_capture_time_without_a_time_zone_is_refused_and_nothing_is_queued(camera, session, queued, naive):
    now = timezone.now()
    value = (now if naive == "utc_now" else timezone.localtime(now)).replace(tzinfo=None).isoformat()

    response = _post(camera, session, value)

    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "invalid_captured_at"
    assert "time zone" in error["message"]
    assert not queued
    assert MatchingSession.objects.get(pk=session.pk).frames_accepted == 0


@pytest.mark.parametrize("offset", [datetime.timedelta(0), datetime.timedelta(hours=1), datetime.timedelta(hours=-5)])
def test_a_capture_time_with_an_offset_is_accepted_as_the_same_instant(camera, session, queued, offset):
    now = timezone.now().replace(microsecond=0)
    value = now.astimezone(datetime.timezone(offset)).isoformat()
    if offset == datetime.timedelta(0):
        value = value.replace("+00:00", "Z")

    response = _post(camera, session, value)

    assert response.status_code == 202, response.json()
    assert [captured_at for _session, _frame, captured_at in queued] == [now]
    assert MatchingSession.objects.get(pk=session.pk).frames_accepted == 1
