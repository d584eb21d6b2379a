"""The per-bind throttle, driven by a fake clock: no real waiting."""

from __future__ import annotations

import pytest

from herald.smpp.throttle import Throttle, ThrottlePolicy


def drain(t: Throttle, start: float, seconds: float) -> int:
    """Send as fast as the throttle allows for `seconds` of fake time; count the PDUs."""
    now, sent = start, 0
    while True:
        wait = t.delay(now)
        if now + wait > start + seconds:
            return sent
        now += wait
        t.take(now)
        sent += 1


def test_rate_and_burst_are_respected() -> None:
    t = Throttle(ThrottlePolicy(rate=100, burst=20), now=0.0)
    # The burst goes out at once, then exactly `rate` per second.
    assert drain(t, 0.0, 0.0) == 20
    assert drain(t, 0.0, 10.0) == 1000


def test_throttled_pauses_and_halves_rate_then_recovers() -> None:
    t = Throttle(ThrottlePolicy(rate=100, burst=1), now=0.0)
    pause = t.on_throttled(0.0)
    assert pause == 1.0 and t.rate == 50
    assert t.paused(0.5) and t.delay(0.5) == pytest.approx(0.5)
    # A second throttle in a row (after the pause) doubles the pause and halves again.
    assert t.on_throttled(1.0) == 2.0 and t.rate == 25
    assert t.throttle_events == 2
    # Calm: +5/s (5% of 100) per second of accepted submits, capped at the configured rate.
    t.on_accepted(3.0)
    t.on_accepted(4.0)
    assert t.rate == 30
    t.on_accepted(100.0)
    assert t.rate == 100


def test_queue_full_backs_off_longer_and_rate_has_a_floor() -> None:
    t = Throttle(ThrottlePolicy(rate=4, burst=1, min_rate=1), now=0.0)
    assert t.on_throttled(0.0, queue_full=True) == 5.0
    now = 5.0
    for _ in range(20):
        now += t.on_throttled(now)
    assert t.rate == 1 and t.delay(now) <= 60.0


def test_a_window_of_refusals_is_one_congestion_event() -> None:
    # 30 PDUs were in flight when the SMSC started refusing: their 30 refusals arrive during
    # the first pause and must not halve the rate 30 times or stretch the pause to a minute.
    t = Throttle(ThrottlePolicy(rate=5000, burst=100), now=0.0)
    assert t.on_throttled(0.0) == 1.0
    for i in range(29):
        assert t.on_throttled(0.001 * (i + 1)) < 1.0
    assert t.rate == 2500 and t.throttle_events == 30
    assert not t.paused(1.0)
    # A queue-full refusal inside the pause still extends it to its own length.
    t.on_throttled(1.0)
    assert t.on_throttled(1.5, queue_full=True) == pytest.approx(5.0)


def test_accepted_clears_the_strike_count() -> None:
    t = Throttle(ThrottlePolicy(rate=10), now=0.0)
    t.on_throttled(0.0)
    t.on_accepted(1.5)
    assert t.on_throttled(2.0) == 1.0


def test_no_burst_right_after_a_pause() -> None:
    t = Throttle(ThrottlePolicy(rate=100, burst=50), now=0.0)
    t.on_throttled(0.0)
    assert drain(t, 1.0, 0.0) == 1  # one PDU (the throttled one, resent first), not 50


def test_bad_policy_is_named() -> None:
    with pytest.raises(ValueError, match="rate=0"):
        ThrottlePolicy(rate=0)


def test_a_ceiling_below_the_configured_rate_holds_and_follows() -> None:
    # A carrier account's share (herald.delivery.nodes) lowers the bind's ceiling: the rate
    # and the bucket follow it down at once, and back up when the share grows.
    t = Throttle(ThrottlePolicy(rate=100, burst=20), now=0.0)
    t.set_ceiling(40, 8, now=0.0)
    assert t.rate == 40 and t.burst == 8
    assert drain(t, 0.0, 0.0) == 8  # the bucket was cut to the new burst
    assert drain(t, 0.0, 10.0) == 400
    t.set_ceiling(250, 50, now=10.0)  # never above the configured rate and burst
    assert t.rate == 100 and t.burst == 20


def test_a_ceiling_of_zero_holds_every_submit_without_saving_tokens() -> None:
    t = Throttle(ThrottlePolicy(rate=100, burst=20), now=0.0)
    t.set_ceiling(0, 1, now=0.0)
    assert t.delay(0.0) > 0 and t.delay(50.0) > 0
    t.set_ceiling(100, 20, now=60.0)
    # Nothing accrued while held: one part at once, then one per 10 ms (no burst).
    assert t.delay(60.0) == 0.0
    assert drain(t, 60.0, 1.0) == 101


def test_throttling_under_a_lowered_ceiling_recovers_only_to_the_ceiling() -> None:
    t = Throttle(ThrottlePolicy(rate=100, burst=1), now=0.0)
    t.set_ceiling(40, 1, now=0.0)
    t.on_throttled(0.0)
    assert t.rate == 20
    t.set_ceiling(80, 1, now=0.5)  # a throttled rate is not lifted by a bigger share...
    assert t.rate == 20
    t.on_accepted(100.0)  # ...it climbs back, to the ceiling and no further
    assert t.rate == 80
