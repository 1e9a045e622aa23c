"""The stream command's reading of live sources: the newest frame, stamped when it was grabbed."""

from __future__ import annotations

import datetime
import threading

import numpy as np
import pytest
from django.utils import timezone

from compliance.models import AuditEvent
from matching import streaming
from matching.services import cameras as camera_services


class FakeCamera:
    """A capture that delivers `count` frames as fast as it is asked (a camera faster than the stream's fps)."""

    def __init__(self, count: int) -> None:
        self.count, self.grabbed = count, 0
        self.released = False
        self.gate = threading.Event()

    def grab(self) -> bool:
        if self.grabbed >= self.count:
            return False
        self.grabbed += 1
        if self.grabbed == 2:
            self.gate.wait(5)  # let the consumer take frame 1 first
        return True

    def retrieve(self):
        return True, np.full((4, 4, 3), self.grabbed, dtype=np.uint8)

    def release(self) -> None:
        self.released = True


def test_a_slow_reader_of_a_live_source_gets_the_newest_frame_with_the_time_it_was_grabbed():
    start = timezone.now()
    ticks = iter(range(1000))
    camera = FakeCamera(50)
    latest = streaming.LatestFrame(camera, clock=lambda: start + datetime.timedelta(seconds=next(ticks)))

    frame, grabbed_at, seq = latest.after(0)
    assert seq == 1 and frame[0, 0, 0] == 1 and grabbed_at == start
    camera.gate.set()
    latest.thread.join(5)  # the camera delivered the other 49 while the reader was busy

    frame, grabbed_at, seq = latest.after(seq)
    assert seq == 50 and frame[0, 0, 0] == 50 and grabbed_at == start + datetime.timedelta(seconds=49)
    assert latest.after(seq) is None  # the source ended
    assert camera.released  # by the reader itself
    latest.close()


@pytest.mark.django_db
def test_a_live_frame_is_submitted_with_its_grab_time_not_the_send_time(live, monkeypatch):
    from matching.services import sessions as session_services

    camera_services.camera_token_issue(actor=live.admin, camera_unit=live.camera)
    session = session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)
    grabbed = timezone.now() - datetime.timedelta(seconds=30)
    monkeypatch.setattr(streaming, "read_frames", lambda source, every: (f for f in [(b"\xff\xd8\xff", grabbed)]))
    sent: list[datetime.datetime] = []
    monkeypatch.setattr(streaming, "frame_submit", lambda **kwargs: sent.append(kwargs["captured_at"]))

    streaming.stream(session_id=session.pk, source="rtsp://camera/1", fps=5)

    assert sent == [grabbed]


def test_only_cameras_and_rtsp_are_read_as_live():
    assert streaming.is_live("0") and streaming.is_live("rtsp://van-3/stream") and streaming.is_live("RTSPS://x")
    assert not streaming.is_live("http://host/clip.mp4") and not streaming.is_live("clip.mp4")


@pytest.mark.django_db
def test_the_stream_waits_for_the_tick_before_it_takes_a_live_frame(live, monkeypatch):
    """Taking the newest frame and then sleeping sent every frame a tick old (at 0.2 fps, past the live budget)."""
    from matching.services import sessions as session_services

    camera_services.camera_token_issue(actor=live.admin, camera_unit=live.camera)
    session = session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)
    events: list[str] = []

    def frames(source, every):
        for _ in range(2):
            events.append("take")
            yield b"\xff\xd8\xff", timezone.now()

    monkeypatch.setattr(streaming, "read_frames", frames)
    monkeypatch.setattr(streaming, "frame_submit", lambda **kwargs: None)
    monkeypatch.setattr(streaming.time, "sleep", lambda seconds: events.append("sleep"))

    streaming.stream(session_id=session.pk, source="rtsp://camera/1", fps=1)

    assert events == ["take", "sleep", "take", "sleep"]  # the last sleep waits for a third frame: there is none


# ----------------------------------------------------------------------------------------------------------------
# The command streams as the session's camera unit only while the frame API would let that unit in.


@pytest.fixture
def live_session(live):
    from matching.services import sessions as session_services

    return session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)


def _two_frames(monkeypatch) -> None:
    monkeypatch.setattr(streaming, "read_frames", lambda source, every: (f for f in [(b"\xff\xd8\xff", None)] * 2))


def _refused_command(session, reason: str) -> str:
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError) as refused:
        call_command("stream", session=session.pk, source="clip.mp4", fps=100)
    event = AuditEvent.objects.get(action="camera.refused")
    assert event.after == {"reason": reason, "camera_unit": "van-live-1", "via": "stream"}
    assert event.target_id == str(session.pk) and event.deployment_id == session.deployment_id
    return str(refused.value)


@pytest.mark.django_db
def test_streaming_as_a_camera_whose_token_was_revoked_is_refused_and_audited(live, live_session, queued):
    camera_services.camera_token_issue(actor=live.admin, camera_unit=live.camera)
    camera_services.camera_token_revoke(actor=live.admin, camera_unit=live.camera)

    message = _refused_command(live_session, "camera_token_revoked")

    assert "van-live-1 has no usable token" in message and "issue or rotate" in message
    assert not queued
    live_session.refresh_from_db()
    assert live_session.frames_accepted == 0


@pytest.mark.django_db
def test_streaming_as_a_camera_that_never_had_a_token_is_refused(live, live_session, queued):
    assert "no usable token" in _refused_command(live_session, "camera_token_revoked")
    assert not queued


@pytest.mark.django_db
def test_streaming_as_an_inactive_camera_is_refused_even_with_a_token(live, live_session, queued):
    from compliance.models import CameraUnit

    camera_services.camera_token_issue(actor=live.admin, camera_unit=live.camera)
    CameraUnit.objects.filter(pk=live.camera.pk).update(active=False)

    assert "van-live-1 is not active" in _refused_command(live_session, "camera_inactive")
    assert not queued


@pytest.mark.django_db
def test_a_token_revoked_while_streaming_stops_the_stream(live, live_session, monkeypatch):
    issued = camera_services.camera_token_issue(actor=live.admin, camera_unit=live.camera)
    _two_frames(monkeypatch)
    actors = []

    def submit_then_revoke(**kwargs):
        actors.append(kwargs["actor"])
        camera_services.camera_token_revoke(actor=live.admin, camera_unit=live.camera)

    monkeypatch.setattr(streaming, "frame_submit", submit_then_revoke)

    stats = streaming.stream(session_id=live_session.pk, source="clip.mp4", fps=100)

    assert [a.token_id for a in actors] == [issued.token.pk]  # attributed to the token that let it in
    assert (stats.sent, stats.accepted, stats.refused) == (2, 1, 1)
    assert stats.stopped and stats.last_refusal == "camera_token_revoked"
