"""The bench's drain poller: it must see the end of a throughput trial within about one poll interval."""

import pytest

from bench.pipeline import POLL_NEAR_END_S, POLL_S, poll_sleep


@pytest.mark.parametrize("left_s", [0.0, 0.05, 0.18, POLL_NEAR_END_S])
def test_polls_every_interval_near_the_end(left_s):
    # One frame of 180 ms to go used to sleep 90 ms, and the trial's end was seen late.
    assert poll_sleep(left_s) == POLL_S


def test_sleeps_half_of_what_is_left_before_the_end():
    assert poll_sleep(POLL_NEAR_END_S + 1.0) == pytest.approx(0.5)


def test_one_slow_frame_to_go_polls_every_interval():
    # The count moves only when a frame is done: the last 0.7 s frame may finish at any moment.
    assert poll_sleep(0.7, frame_s=0.7) == POLL_S
    assert poll_sleep(1.4, frame_s=0.7) == pytest.approx(0.2)


def test_never_sleeps_more_than_a_second():
    assert poll_sleep(60.0) == 1.0
