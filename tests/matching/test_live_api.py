"""The live-matching API: camera tokens (scope, issue/rotate/revoke), frame refusals, sessions, alerts, schema."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from compliance.models import AuditEvent
from matching.models import CameraToken, MatchingSession
from matching.services import cameras as camera_services
from matching.services import frames as frame_services
from matching.services import sessions as session_services
from tests.matching.live_helpers import blank_jpeg, face_jpeg

pytestmark = pytest.mark.django_db


def camera_client(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Camera {secret}")
    return client


def post_frame(client: APIClient, session_id: int, data: bytes, name: str = "frame.jpg", **extra):
    body = {
        "image": SimpleUploadedFile(name, data, content_type="image/jpeg"),
        "captured_at": timezone.now().isoformat(),
    }
    body.update(extra)
    return client.post(f"/api/v1/sessions/{session_id}/frames/", body, format="multipart")


@pytest.fixture
def token(live):
    return camera_services.camera_token_issue(actor=live.admin, camera_unit=live.camera)


@pytest.fixture
def session(live):
    return session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)


def test_token_is_stored_only_as_a_digest_and_issue_is_audited(live, token):
    row = CameraToken.objects.get()
    assert token.secret not in (row.key_sha256, row.prefix) and len(row.key_sha256) == 64
    assert row.key_sha256 == camera_services.token_digest(token.secret)
    assert AuditEvent.objects.filter(action="camera_token.issued", actor_username=live.admin.username).exists()


def test_camera_submits_a_frame_and_gets_202(live, token, session, queued):
    response = post_frame(camera_client(token.secret), session.pk, face_jpeg())
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["accepted"] is True and re.fullmatch(r"[0-9a-f]{32}", body["frame_id"])
    assert queued[0][:2] == (session.pk, body["frame_id"])


def test_an_oversized_frame_is_refused_without_ever_being_spooled_to_a_temporary_file(
    live, token, session, queued, monkeypatch
):
    # Django writes uploads over FILE_UPLOAD_MAX_MEMORY_SIZE to a temporary file; a frame must never reach a
    # disk, so uploads are kept in memory (lfr_portal.uploads) and the frame's bytes past LFR_MAX_FRAME_BYTES
    # are discarded. Any temporary file at all, whichever handler made it, fails the test.
    from django.conf import settings
    from django.core.files import uploadedfile

    def no_disk(*args, **kwargs):
        raise AssertionError("a frame was about to be written to a temporary file")

    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 100
    monkeypatch.setattr(uploadedfile.tempfile, "NamedTemporaryFile", no_disk)
    frame = face_jpeg() + b"\0" * (settings.LFR_MAX_FRAME_BYTES + 1_000_000)
    response = post_frame(camera_client(token.secret), session.pk, frame)
    assert response.status_code == 413, response.content[:300]
    assert response.json()["error"]["code"] == "frame_too_large"
    assert f"The frame is {len(frame)} bytes" in response.json()["error"]["message"]  # its true size
    assert not queued


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("not_an_image", 400, "not_an_image"),
        ("webp", 400, "unsupported_format"),
        ("too_large", 413, "frame_too_large"),
        ("stopped", 409, "session_not_live"),
        ("queue_full", 429, "queue_full"),
    ],
)
def test_frame_refusals_have_a_status_and_a_reason(live, token, session, settings, case, status, code):
    client = camera_client(token.secret)
    data = blank_jpeg()
    if case == "not_an_image":
        data = b"%PDF-1.4 not a picture"
    elif case == "webp":
        data = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\0" * 32
    elif case == "too_large":
        settings.LFR_MAX_FRAME_BYTES = 500
    elif case == "stopped":
        session_services.session_stop(actor=live.operator, session=session)
    elif case == "queue_full":
        settings.LFR_MAX_SESSION_QUEUE = 1
        assert post_frame(client, session.pk, data).status_code == 202
    response = post_frame(client, session.pk, data)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    if case == "webp":  # the camera is told which format it sent, not only that it is wrong
        assert "WEBP" in response.json()["error"]["message"]


def test_frame_refused_when_the_window_has_closed(live, token, session):
    from freezegun import freeze_time

    end = live.deployment.windows.get().end
    with freeze_time(end):
        response = post_frame(camera_client(token.secret), session.pk, blank_jpeg())
    assert response.status_code == 409 and response.json()["error"]["code"] == "window_closed"


def test_frame_accepted_from_the_first_instant_of_the_window(live, token, session, queued):
    # Windows are half-open: [start, end). The POST checks it in SQL; the worker's gate in Python.
    from freezegun import freeze_time

    start = live.deployment.windows.get().start
    # The session started then too: a frame captured before the session started is refused for that reason.
    MatchingSession.objects.filter(pk=session.pk).update(started_at=start)
    with freeze_time(start):
        response = post_frame(camera_client(token.secret), session.pk, blank_jpeg())
    assert response.status_code == 202, response.json()
    assert len(queued) == 1


def test_a_camera_unit_made_inactive_is_refused_at_once(live, token, session):
    from compliance.models import CameraUnit

    client = camera_client(token.secret)
    assert post_frame(client, session.pk, blank_jpeg()).status_code == 202
    CameraUnit.objects.filter(pk=live.camera.pk).update(active=False)
    assert post_frame(client, session.pk, blank_jpeg()).status_code == 401


def test_a_frame_post_costs_three_statements(live, token, session, queued):
    # Every camera frame: the token, the session with its deployment's status and open window, then the counter.
    # The benchmarks rest on this (docs/benchmarks.md); a new statement here must be a decision, not a drift.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = camera_client(token.secret)
    assert post_frame(client, session.pk, blank_jpeg()).status_code == 202  # records the token's last use
    with CaptureQueriesContext(connection) as queries:
        assert post_frame(client, session.pk, blank_jpeg()).status_code == 202
    assert len(queries.captured_queries) == 3, [q["sql"][:120] for q in queries.captured_queries]
    session.refresh_from_db()
    assert session.frames_accepted == 2 and session.last_frame_at is not None


def test_camera_cannot_submit_to_another_cameras_session(live, token):
    other = session_services.session_start(
        actor=live.operator, deployment=live.deployment, camera_unit=live.other_camera
    )
    response = post_frame(camera_client(token.secret), other.pk, blank_jpeg())
    assert response.status_code == 403


def test_revoked_and_rotated_tokens_stop_working(live, token, session):
    rotated = camera_services.camera_token_rotate(actor=live.admin, camera_unit=live.camera)
    assert post_frame(camera_client(token.secret), session.pk, blank_jpeg()).status_code == 401
    assert post_frame(camera_client(rotated.secret), session.pk, blank_jpeg()).status_code == 202
    camera_services.camera_token_revoke(actor=live.admin, camera_unit=live.camera)
    assert post_frame(camera_client(rotated.secret), session.pk, blank_jpeg()).status_code == 401
    actions = set(AuditEvent.objects.filter(action__startswith="camera_token.").values_list("action", flat=True))
    assert actions == {"camera_token.issued", "camera_token.rotated", "camera_token.revoked"}


def test_people_cannot_submit_frames(live, session, api_for):
    response = api_for(live.operator).post(
        f"/api/v1/sessions/{session.pk}/frames/",
        {"image": SimpleUploadedFile("f.jpg", blank_jpeg()), "captured_at": timezone.now().isoformat()},
        format="multipart",
    )
    assert response.status_code in (401, 403)


def _api_operations() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = []
    for path, methods in schema["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method in methods:
            if method in ("get", "post", "put", "patch", "delete"):
                operations.append((method, re.sub(r"\{[^}]+\}", "1", path)))
    return operations


def test_camera_token_reaches_no_endpoint_but_frame_submission(live, token, session):
    """Every /api/v1 operation: with the camera's token it does no better than with no credentials at all."""
    operations = _api_operations()
    assert len(operations) > 10
    camera, anonymous = camera_client(token.secret), APIClient()
    for method, path in operations:
        if path.endswith("/frames/"):
            continue
        as_camera = getattr(camera, method)(path, {}, format="json")
        as_nobody = getattr(anonymous, method)(path, {}, format="json")
        assert as_camera.status_code == as_nobody.status_code, (method, path, as_camera.status_code)
        assert not (200 <= as_camera.status_code < 300) or as_nobody.status_code < 300, (method, path)


def test_camera_principal_is_refused_by_every_view_even_when_authenticated(live, session):
    """Belt and braces: force the principal onto each request; the default permission still refuses it."""
    from tests.matching.live_helpers import principal_for

    client = APIClient()
    client.force_authenticate(user=principal_for(live.camera))
    anonymous = APIClient()
    for method, path in _api_operations():
        if path.endswith("/frames/"):
            continue
        response = getattr(client, method)(path, {}, format="json")
        public = getattr(anonymous, method)(path, {}, format="json").status_code not in (401, 403)
        assert public or response.status_code in (401, 403), (method, path, response.status_code)


def test_session_start_api_names_the_failed_gate(live, api_for):
    from compliance.services import deployments as deployment_services

    deployment_services.deployment_suspend(actor=live.ao, deployment=live.deployment, reason="Pause")
    response = api_for(live.operator).post(
        "/api/v1/sessions/", {"deployment": live.deployment.pk, "camera_unit": live.camera.pk}, format="json"
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "gate_failed" and "Deployment authorised" in error["message"]
    assert [g["name"] for g in error["details"]["gates"] if not g["passed"]][0] == "authorisation"


def test_sessions_api_start_detail_stop(live, api_for):
    client = api_for(live.operator)
    started = client.post(
        "/api/v1/sessions/", {"deployment": live.deployment.pk, "camera_unit": live.camera.pk}, format="json"
    )
    assert started.status_code == 201, started.json()
    pk = started.json()["id"]
    detail = client.get(f"/api/v1/sessions/{pk}/").json()
    assert detail["status"] == "live" and detail["frames_processed"] == 0 and "dropped_stale" in detail
    assert client.post(f"/api/v1/sessions/{pk}/stop/", {}, format="json").json()["status"] == "stopped"
    assert MatchingSession.objects.get(pk=pk).stop_reason == "operator"


def test_alert_api_for_field_team_but_never_for_administrators(live, session, api_for, django_assert_max_num_queries):
    accepted = frame_services.frame_submit(
        actor=live.principal, session_id=session.pk, data=face_jpeg(), captured_at=timezone.now()
    )
    frame_services.frame_process(session_id=session.pk, frame_id=accepted.frame_id, captured_at=timezone.now())
    listed = api_for(live.operator).get("/api/v1/alerts/")
    assert listed.status_code == 200 and listed.json()["count"] == 1
    assert api_for(live.admin).get("/api/v1/alerts/").status_code == 403
    assert api_for(live.compiler).get("/api/v1/alerts/").status_code == 403
    pk = listed.json()["results"][0]["id"]
    assert api_for(live.admin).get(f"/api/v1/alerts/{pk}/").status_code == 403
    dpo = api_for(live.dpo)
    with django_assert_max_num_queries(12):
        assert dpo.get("/api/v1/alerts/").json()["count"] == 1
    referred = api_for(live.operator).post(f"/api/v1/alerts/{pk}/refer/", {"note": "Looks like him"}, format="json")
    assert referred.status_code == 200 and referred.json()["status"] == "referred"
    engaged = api_for(live.engagement).post(
        f"/api/v1/alerts/{pk}/engagement/",
        {"located": True, "identity_confirmed": True, "outcome": "arrest"},
        format="json",
    )
    assert engaged.status_code == 200 and engaged.json()["outcome"] == "arrest"


def _token_client(user) -> APIClient:
    from compliance.services.accounts import api_token_issue

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_issue(actor=None, user=user).token}")
    return client


def test_an_api_token_can_neither_dismiss_nor_refer_an_alert_but_can_record_the_engagement(live, session, api_for):
    """domain.md 5: an alert is a prompt, not a decision, and nobody acts on a score alone. A script holding two
    operators' tokens could refer (or dismiss) every alert under a distance, verification included, without anyone
    seeing an image; the review is made signed in, where the console shows both. An engagement's outcome is a
    record of what happened on the street, and a token may still send it."""
    accepted = frame_services.frame_submit(
        actor=live.principal, session_id=session.pk, data=face_jpeg(), captured_at=timezone.now()
    )
    frame_services.frame_process(session_id=session.pk, frame_id=accepted.frame_id, captured_at=timezone.now())
    operator = _token_client(live.operator)
    pk = operator.get("/api/v1/alerts/").json()["results"][0]["id"]
    for decision in ("refer", "dismiss"):
        refused = operator.post(f"/api/v1/alerts/{pk}/{decision}/", {"note": "Under 0.4"}, format="json")
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "review_in_person"
    assert operator.get(f"/api/v1/alerts/{pk}/").json()["status"] == "new"

    referred = api_for(live.operator).post(f"/api/v1/alerts/{pk}/refer/", {"note": "Seen: him"}, format="json")
    assert referred.status_code == 200
    engaged = _token_client(live.engagement).post(
        f"/api/v1/alerts/{pk}/engagement/",
        {"located": True, "identity_confirmed": True, "outcome": "arrest"},
        format="json",
    )
    assert engaged.status_code == 200 and engaged.json()["outcome"] == "arrest"


def test_camera_units_api_issues_a_token_once(live, api_for):
    client = api_for(live.admin)
    issued = client.post(f"/api/v1/camera-units/{live.camera.pk}/issue-token/")
    assert issued.status_code == 201 and issued.json()["token"].startswith("lfrcam_")
    listed = client.get("/api/v1/camera-units/").json()["results"]
    assert all("token" not in unit for unit in listed)
    assert client.post(f"/api/v1/camera-units/{live.camera.pk}/issue-token/").status_code == 409
    assert api_for(live.operator).post(f"/api/v1/camera-units/{live.camera.pk}/rotate-token/").status_code == 403


def test_schema_documents_the_live_matching_endpoints():
    paths = {path for _method, path in _api_operations()}
    for expected in ("/api/v1/sessions/", "/api/v1/sessions/1/frames/", "/api/v1/alerts/1/refer/", "/api/v1/alerts/"):
        assert expected in paths


def test_a_frame_store_that_would_write_to_disk_refuses_frames_with_503(live, token, session, queued, monkeypatch):
    from matching import framestore

    def unsafe(self, *args, **kwargs):
        raise framestore.FrameStoreUnsafe("The Redis server of the frame store writes its data to disk")

    monkeypatch.setattr(framestore.ShmFrameStore, "put", unsafe)
    monkeypatch.setattr(framestore.RedisFrameStore, "put", unsafe)

    response = post_frame(camera_client(token.secret), session.pk, face_jpeg())

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "frame_store_unsafe"
    assert not queued
    session.refresh_from_db()
    assert session.frames_refused == 1 and session.frames_accepted == 0


def test_the_timeline_shows_alerts_as_the_page_does_never_their_payload(live, session, api_for):
    """The applicant and the compiler see the deployment's timeline but may not read alerts: the alert's event
    appears by action and time only, without the entry, distance or probe hash it records."""
    from matching.models import Alert

    accepted = frame_services.frame_submit(
        actor=live.principal, session_id=session.pk, data=face_jpeg(), captured_at=timezone.now()
    )
    frame_services.frame_process(session_id=session.pk, frame_id=accepted.frame_id, captured_at=timezone.now())
    assert Alert.objects.exists()

    for reader in (live.applicant, live.compiler):
        events = api_for(reader).get(f"/api/v1/deployments/{live.deployment.pk}/timeline/").json()
        raised = [e for e in events if e["action"] == "alert.raised"]
        assert raised, [e["action"] for e in events]
        assert set(raised[0]) == {"seq", "at", "action", "actor_username", "actor_role", "reason", "snapshot_hash"}
        assert "distance" not in str(events) and "probe_sha256" not in str(events)
