"""A frame the worker could never match is refused when it is submitted, not accepted (202) and then dropped:
one captured longer ago than the live budget (`stale_frame`) or before the session started
(`captured_before_session`). Both are 400s, counted as refused, with the reason tied to `captured_at`."""

from __future__ import annotations

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from lfr_portal.errors import RuleViolation
from matching.models import MatchingSession
from matching.models.sessions import SessionStatus
from matching.services import cameras as camera_services
from matching.services import frames as frame_services
from matching.services import sessions as session_services
from tests.matching.live_helpers import face_jpeg

pytestmark = pytest.mark.django_db


@pytest.fixture
def session(live) -> MatchingSession:
    session = session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)
    # Started a minute ago, so that a frame a few seconds old is refused for its age, not for predating the session.
    MatchingSession.objects.filter(pk=session.pk).update(started_at=timezone.now() - datetime.timedelta(minutes=1))
    return MatchingSession.objects.get(pk=session.pk)


def _submit(live, session, captured_at):
    return frame_services.frame_submit(
        actor=live.principal, session_id=session.pk, data=face_jpeg(), captured_at=captured_at
    )


def _refused_and_nothing_kept(session, queued, frame_store, refused: int = 1) -> None:
    session.refresh_from_db()
    assert session.frames_refused == refused and session.frames_accepted == 0
    assert session.status == SessionStatus.LIVE  # the camera's frame was wrong, not the session
    assert not queued and frame_store.depth(session.pk) == 0


def test_a_frame_older_than_the_live_budget_is_refused_as_stale(live, session, queued, frame_store):
    captured = timezone.now() - datetime.timedelta(seconds=10)  # the budget is 5 s

    with pytest.raises(RuleViolation) as refused:
        _submit(live, session, captured)

    assert refused.value.status_code == 400 and refused.value.code == "stale_frame"
    assert "live budget of 5 seconds" in refused.value.message
    assert refused.value.details == {"captured_at": [refused.value.message]}
    _refused_and_nothing_kept(session, queued, frame_store)


def test_a_frame_captured_before_the_session_started_is_refused(live, session, queued, frame_store, settings):
    settings.LFR_LIVE_BUDGET_SECONDS = 300  # recent enough for the budget: only the session's start refuses it
    captured = session.started_at - datetime.timedelta(milliseconds=1)

    with pytest.raises(RuleViolation) as refused:
        _submit(live, session, captured)

    assert refused.value.status_code == 400 and refused.value.code == "captured_before_session"
    assert "before the session started" in refused.value.message
    assert set(refused.value.details) == {"captured_at"}
    _refused_and_nothing_kept(session, queued, frame_store)


def test_a_frame_within_the_budget_and_since_the_start_is_accepted(live, session, queued, settings):
    assert _submit(live, session, timezone.now() - datetime.timedelta(seconds=4)).frame_id
    settings.LFR_LIVE_BUDGET_SECONDS = 300
    assert _submit(live, session, session.started_at).frame_id  # the session's first instant counts
    session.refresh_from_db()
    assert session.frames_accepted == 2 and session.frames_refused == 0 and len(queued) == 2


def test_a_longer_live_budget_accepts_older_frames(live, session, queued, settings):
    # The benchmark queues a whole clip with LFR_LIVE_BUDGET_SECONDS=300: its frames must not be refused.
    settings.LFR_LIVE_BUDGET_SECONDS = 300
    assert _submit(live, session, timezone.now() - datetime.timedelta(seconds=50)).frame_id
    assert len(queued) == 1


def test_the_session_state_a_frame_post_reads_is_still_one_statement_and_holds_the_start(session):
    with CaptureQueriesContext(connection) as queries:
        state = frame_services._submit_state(session.pk, timezone.now())
        started_at = state.started_at  # read by that statement, not loaded afterwards as a deferred field
    assert len(queries.captured_queries) == 1
    assert started_at == session.started_at and state.window_open and state.is_live


def test_the_api_answers_400_with_the_reason_beside_captured_at(live, session, queued):
    issued = camera_services.camera_token_issue(actor=live.admin, camera_unit=live.camera)
    camera = APIClient()
    camera.credentials(HTTP_AUTHORIZATION=f"Camera {issued.secret}")
    body = {
        "image": SimpleUploadedFile("frame.jpg", face_jpeg(), content_type="image/jpeg"),
        "captured_at": (timezone.now() - datetime.timedelta(seconds=30)).isoformat(),
    }

    response = camera.post(f"/api/v1/sessions/{session.pk}/frames/", body, format="multipart")

    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "stale_frame" and list(error["details"]) == ["captured_at"]
    assert not queued
