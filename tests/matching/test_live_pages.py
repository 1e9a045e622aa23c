"""Portal pages of live matching, the stream command, the operations page, heartbeats and health checks."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from django.core.management import call_command
from django.utils import timezone
from PIL import Image

from compliance.models import AuditEvent
from matching import engine, heartbeat
from matching.config import engine_config
from matching.models import Alert, MatchingSession, WorkerHeartbeat
from matching.services import frames as frame_services
from matching.services import sessions as session_services
from matching.views.live import blurred_frame_jpeg
from tests.matching.live_helpers import face_jpeg
from tests.shared_data import face_path

pytestmark = pytest.mark.django_db


@pytest.fixture
def session(live):
    return session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)


@pytest.fixture
def alert(live, session):
    accepted = frame_services.frame_submit(
        actor=live.principal, session_id=session.pk, data=face_jpeg(), captured_at=timezone.now()
    )
    frame_services.frame_process(session_id=session.pk, frame_id=accepted.frame_id, captured_at=timezone.now())
    return Alert.objects.get()


def test_console_for_the_field_team_not_for_administrators(live, session, alert, client_for):
    page = client_for(live.engagement).get(f"/sessions/{session.pk}/console/")
    assert page.status_code == 200 and f'data-testid="alert-{alert.pk}"' in page.content.decode()
    assert client_for(live.admin).get(f"/sessions/{session.pk}/console/").status_code == 403
    assert client_for(live.admin).get(f"/alerts/{alert.pk}/probe.jpg").status_code == 404
    partial = client_for(live.operator).get(f"/sessions/{session.pk}/console/alerts/")
    assert partial.status_code == 200 and partial["Cache-Control"] == "no-store"


def test_probe_image_view_is_audited_once_per_viewer_while_the_console_refreshes(live, alert, client_for):
    from django.core.cache import cache

    cache.clear()
    client = client_for(live.operator)
    for _ in range(3):
        response = client.get(f"/alerts/{alert.pk}/probe.jpg")
        assert response.status_code == 200 and response.content[:3] == b"\xff\xd8\xff"
        assert "no-store" in response["Cache-Control"]
    assert AuditEvent.objects.filter(action="alert.image_viewed", actor_username=live.operator.username).count() == 1
    assert client_for(live.operator).get(f"/alerts/{alert.pk}/reference").status_code == 200


def test_adjudication_form_records_the_operators_review(live, session, alert, client_for):
    response = client_for(live.operator).post(f"/alerts/{alert.pk}/adjudicate/", {"action": "dismiss"})
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.status == "dismissed"


def test_start_page_refuses_with_the_gate_named(live, client_for):
    from compliance.services import deployments as deployment_services

    deployment_services.deployment_suspend(actor=live.ao, deployment=live.deployment, reason="Pause")
    client = client_for(live.operator)
    response = client.post(
        "/sessions/start/", {"deployment": live.deployment.pk, "camera_unit": live.camera.pk}, follow=True
    )
    assert "Deployment authorised" in response.content.decode()
    assert not MatchingSession.objects.exists()


def test_operations_page_shows_workers_and_counters_but_no_alerts(live, session, alert, client_for):
    heartbeat.beat(hostname="worker@test", queues=["matching"], started_at=timezone.now())
    page = client_for(live.admin).get("/operations/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "worker@test" in html and "alive" in html and f"#{session.pk}" in html
    assert "probe.jpg" not in html and "Alert #" not in html
    assert client_for(live.operator).get("/operations/").status_code == 403


def test_healthz_reports_workers_from_their_heartbeats(client, frame_store):
    response = client.get("/healthz")
    assert response.json()["checks"]["workers"].startswith("error")
    WorkerHeartbeat.objects.create(hostname="w1", started_at=timezone.now(), last_seen=timezone.now())
    checks = client.get("/healthz").json()["checks"]
    assert checks["workers"] == "ok" and checks["frame_store"] == "ok"
    WorkerHeartbeat.objects.filter(hostname="w1").update(last_seen=timezone.now() - timezone.timedelta(seconds=90))
    assert client.get("/healthz").json()["checks"]["workers"].startswith("error")


def test_healthz_web_answers_for_the_web_node_alone_while_healthz_reports_the_workers(client, frame_store):
    # No worker has written a heartbeat: the whole service is unhealthy, the web node is not.
    assert client.get("/healthz").status_code == 503
    response = client.get("/healthz/web")  # anonymous, as a load balancer asks
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok"}}


def test_health_checks_answer_a_signed_in_user_who_has_not_yet_given_the_second_factor(make_user):
    # A probe or a browser tab with a half-finished sign-in is answered, not sent to the authenticator page.
    from django.test import Client

    dpo = make_user("dpo")
    assert dpo.requires_second_factor
    client = Client()
    client.force_login(dpo)
    assert client.get("/deployments/").status_code == 302  # everything else waits for the code
    assert client.get("/healthz/web").status_code == 200
    assert client.get("/healthz").status_code in (200, 503)


def test_healthz_web_is_503_when_the_database_does_not_answer(client, monkeypatch):
    from django.db import OperationalError, connection

    def unreachable(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", unreachable)
    response = client.get("/healthz/web")
    assert response.status_code == 503
    assert response.json() == {"status": "unhealthy", "checks": {"database": "error: OperationalError"}}


def test_health_checks_answer_a_plain_http_probe_when_https_is_enforced(settings):
    from django.test import Client

    settings.SECURE_SSL_REDIRECT = True
    client = Client()  # built after the setting, as a web process would be
    assert client.get("/healthz/web").status_code == 200
    assert client.get("/healthz").status_code in (200, 503)  # answered, not redirected
    assert client.get("/transparency/").status_code == 301


@pytest.fixture
def camera_token(live):
    """The session's camera unit holds a usable token: the stream command refuses a unit without one."""
    from matching.services import cameras as camera_services

    return camera_services.camera_token_issue(actor=live.admin, camera_unit=live.camera)


def test_stream_command_submits_an_image_folder_through_the_frame_service(
    live, session, camera_token, queued, tmp_path, capsys
):
    for name in ("obama.jpg", "biden.jpg", "obama2.jpg"):
        shutil.copy(face_path(name), tmp_path / name)
    call_command("stream", session=session.pk, source=str(tmp_path), fps=50, every=1, max_frames=2)
    output = capsys.readouterr().out
    assert "sent 2" in output and "accepted 2" in output and "refused 0" in output
    assert len(queued) == 2
    session.refresh_from_db()
    assert session.frames_accepted == 2


def test_stream_command_reads_a_video_and_stops_when_the_session_stops(live, session, camera_token, queued, capsys):
    session_services.session_stop(actor=live.operator, session=session)
    call_command("stream", session=session.pk, source=str(face_path("short_hamilton_clip.mp4")), fps=100, every=5)
    output = capsys.readouterr().out
    assert "refused 1" in output and "session stopped" in output.lower()


def test_a_shown_frame_blurs_every_face_that_did_not_match():
    config = engine_config()
    data = face_path("two_people.jpg").read_bytes()
    image = engine.decode_image(data, max_pixels=40_000_000)
    reference = engine.enrolment_encoding(face_path("obama.jpg").read_bytes(), config=config, max_pixels=40_000_000)
    gallery = engine.Gallery.build(reference.encoding.reshape(1, -1), [1])
    result = engine.process_frame(image, gallery, engine.AlertPolicy("threshold", 0.6), config)
    assert len(result.alerts) == 1 and len(result.non_matched_boxes) == 1
    shown = np.asarray(Image.open(io.BytesIO(blurred_frame_jpeg(image, result))).convert("RGB")).astype(int)
    other, matched = result.non_matched_boxes[0], result.alerts[0].box

    def detail(box):  # high-frequency energy inside the face: pixelation removes it
        region = shown[box.top : box.bottom, box.left : box.right]
        return float(np.abs(np.diff(region, axis=1)).mean())

    def original_detail(box):
        region = image[box.top : box.bottom, box.left : box.right].astype(int)
        return float(np.abs(np.diff(region, axis=1)).mean())

    assert detail(other) < 0.5 * original_detail(other)
    assert detail(matched) > 0.7 * original_detail(matched)


def test_demo_seeder_builds_a_live_deployment_with_an_approved_watchlist(make_user, media, budget, settings):  # noqa: F811
    from io import StringIO
    from types import SimpleNamespace

    from compliance.gates import deployment_gates
    from compliance.models import CameraUnit
    from matching import demo, streaming
    from matching.models import CameraToken
    from tests.shared_data import faces_dir

    settings.LFR_DEMO_FACES = str(faces_dir())
    users = {
        "applicant": make_user("applicant"),
        "ao": make_user("authorising_officer"),
        "compiler": make_user("watchlist_compiler"),
        "operator": make_user("lfr_operator"),
        "engagement": make_user("engagement_officer"),
        "admin": make_user("administrator"),
    }
    command = SimpleNamespace(stdout=StringIO())
    demo.seed(command, users)
    deployment = demo.demo_deployment()
    assert deployment is not None
    report = deployment_gates(deployment, at=timezone.now(), operator=users["operator"])
    assert report.passed, report.as_dict()
    # The stream button streams as the demo van, which must hold a usable token like any camera unit.
    camera = CameraUnit.objects.get(identifier=demo.DEMO_CAMERA)
    assert CameraToken.objects.filter(camera_unit=camera, revoked_at__isnull=True, issued_by=users["admin"]).exists()
    demo_session = session_services.session_start(actor=users["operator"], deployment=deployment, camera_unit=camera)
    assert streaming.camera_principal(demo_session).identifier == demo.DEMO_CAMERA
    demo.seed(command, users)  # idempotent: the second run finds it ready
    assert "is ready" in command.stdout.getvalue()
    assert CameraToken.objects.filter(camera_unit=camera).count() == 1
    # A database seeded before the van had a token gets one on the next run.
    CameraToken.objects.filter(camera_unit=camera).update(revoked_at=timezone.now())
    demo.seed(command, users)
    assert CameraToken.objects.filter(camera_unit=camera, revoked_at__isnull=True).count() == 1


def test_an_image_viewing_whose_audit_event_failed_is_audited_on_the_next_view(live, alert, client_for, monkeypatch):
    """The first view marks the viewer as audited; when writing its audit event fails the mark is taken back, so
    the next request is audited instead of served as a console refresh."""
    from django.core.cache import cache

    from matching.services import alerts as alert_services

    cache.clear()
    real = alert_services.alert_probe_image

    def audit_write_fails(**kwargs):
        raise RuntimeError("lock timeout while writing the audit event")

    monkeypatch.setattr(alert_services, "alert_probe_image", audit_write_fails)
    client = client_for(live.operator)
    client.raise_request_exception = False
    assert client.get(f"/alerts/{alert.pk}/probe.jpg").status_code == 500
    monkeypatch.setattr(alert_services, "alert_probe_image", real)

    assert client.get(f"/alerts/{alert.pk}/probe.jpg").status_code == 200
    assert AuditEvent.objects.filter(action="alert.image_viewed", actor_username=live.operator.username).count() == 1


def test_an_incomplete_engagement_says_what_is_missing_in_an_alert(live, session, alert, client_for):
    from matching.services import alerts as alert_services

    alert_services.alert_refer(actor=live.operator, alert=alert)
    page = client_for(live.engagement).post(
        f"/alerts/{alert.pk}/adjudicate/", {"action": "engagement", "located": "yes"}, follow=True
    )

    html = page.content.decode()
    assert "The engagement record is incomplete." in html
    assert "Record whether the identity was confirmed." in html and "Choose the outcome" in html
    assert 'class="message error" role="alert"' in html


def test_a_field_error_is_in_the_announced_summary_linked_to_its_field(live, client_for):
    page = client_for(live.admin).post("/cameras/", {"identifier": "", "description": ""})

    html = page.content.decode()
    assert page.status_code == 200 and 'class="error-summary" role="alert"' in html
    assert 'href="#id_identifier"' in html
