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
    assert latest.after(seq, timeout=0.1) is None  # the source ended
    latest.close()


@pytest.mark.django_db
def test_a_live_frame_is_submitted_with_its_grab_time_not_the_send_time(live, monkeypatch):
    from matching.services import sessions as session_services

    session = session_services.session_start(actor=live.operator, deployment=live.deployment, camera_unit=live.camera)
    grabbed = timezone.now() - datetime.timedelta(seconds=30)
    monkeypatch.setattr(streaming, "read_frames", lambda source, every: iter([(b"\xff\xd8\xff", grabbed)]))
    sent: list[datetime.datetime] = []
    monkeypatch.setattr(streaming, "frame_submit", lambda **kwargs: sent.append(kwargs["captured_at"]))

    streaming.stream(session_id=session.pk, source="rtsp://camera/1", fps=5)

    assert sent == [grabbed]
