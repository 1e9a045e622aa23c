"""The stream command's reading of live sources: the newest frame, stamped when it was grabbed."""

from __future__ import annotations

import datetime
import threading

import numpy as np
import pytest
from django.utils import timezone

from matching import streaming


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
