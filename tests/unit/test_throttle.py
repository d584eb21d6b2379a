"""The per-bind throttle, driven by a fake clock: no real waiting."""

from __future__ import annotations

import heapq
from collections.abc import Callable

import pytest

from herald.simulator.behaviour import TokenBucket
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


def test_a_refusal_with_nothing_measured_halves_the_rate_and_pauses_briefly() -> None:
    t = Throttle(ThrottlePolicy(rate=100, burst=1), now=0.0)
    pause = t.on_throttled(0.0, processed=0)
    assert pause == 0.1 and t.rate == 50
    assert t.paused(0.05) and t.delay(0.05) == pytest.approx(0.05)
    # refused again right after the pause, nothing accepted between: the pause doubles
    assert t.on_throttled(0.1, processed=0) == 0.2 and t.rate == 25
    assert t.on_throttled(0.31, processed=0) == 0.4
    assert t.throttle_events == 3


def test_a_full_queue_pauses_a_little_longer_and_the_rate_has_a_floor() -> None:
    t = Throttle(ThrottlePolicy(rate=4, burst=1, min_rate=1), now=0.0)
    assert t.on_throttled(0.0, 0, queue_full=True) == 0.2  # not seconds per refusal
    now = 0.2
    for _ in range(20):
        now += t.on_throttled(now, 0)
    assert t.rate == 1 and t.delay(now) <= 60.0  # the pause is capped too


def test_the_rate_settles_just_under_what_the_carrier_took_over_the_last_second() -> None:
    t = Throttle(ThrottlePolicy(rate=1000, burst=1), now=0.0)
    t.on_throttled(0.0, processed=0)  # 500/s
    processed, now = 0, 0.1
    while now < 2.0:  # the carrier takes 400/s; the bind sends at 500
        processed += 4
        now += 0.01
        t.on_accepted(now, processed)
    rate = t.rate
    t.on_throttled(now, processed)
    assert t.rate == pytest.approx(0.95 * 400, rel=0.02)  # settle: 95% of what was taken
    assert rate * 0.5 <= t.rate <= rate * 0.9


def test_a_settled_rate_never_drops_below_half_nor_less_than_a_tenth() -> None:
    t = Throttle(ThrottlePolicy(rate=1000, burst=1), now=0.0)
    t.on_throttled(0.0, 0)  # 500/s, nothing measured
    t.on_accepted(0.2, 0)
    t.on_throttled(1.05, 10)  # 12/s taken over the last 0.85 s: still at most halved
    assert t.rate == 250
    t.on_accepted(1.3, 10)
    t.on_throttled(2.1, 10_000)  # far more than was sent: still a tenth off
    assert t.rate == pytest.approx(225)


def test_a_window_of_refusals_is_one_congestion_event() -> None:
    # 30 PDUs were in flight when the SMSC started refusing: their 30 refusals arrive during
    # the first pause and must not halve the rate 30 times or stretch the pause.
    t = Throttle(ThrottlePolicy(rate=5000, burst=100), now=0.0)
    assert t.on_throttled(0.0, 0) == 0.1
    for i in range(29):
        assert t.on_throttled(0.001 * (i + 1), 0) < 0.1
    assert t.rate == 2500 and t.throttle_events == 30
    assert not t.paused(0.1)
    # A queue-full refusal inside the pause still extends it to its own length.
    t.on_throttled(0.1, 0)
    assert t.on_throttled(0.15, 0, queue_full=True) == pytest.approx(0.2)


def test_accepted_clears_the_strike_count() -> None:
    t = Throttle(ThrottlePolicy(rate=10), now=0.0)
    t.on_throttled(0.0, 0)
    t.on_accepted(0.5, 1)
    assert t.on_throttled(1.0, 1) == 0.1


def test_calm_raises_the_rate_ever_faster_up_to_the_configured_one() -> None:
    t = Throttle(ThrottlePolicy(rate=1000, burst=1), now=0.0)
    t.on_throttled(0.0, 0)  # 500/s, calm from 0.1 s
    t.on_accepted(1.1, 1)
    assert t.rate == 510  # 2% of the rate after a second of calm
    t.on_accepted(5.2, 2)  # 5.1 s of calm: 10.2% a second, for 4 whole seconds
    assert t.rate == pytest.approx(510 + 510 * 0.02 * 5.1 * 4)
    t.on_accepted(60.0, 3)
    assert t.rate == 1000


def test_no_burst_right_after_a_pause() -> None:
    t = Throttle(ThrottlePolicy(rate=100, burst=50), now=0.0)
    t.on_throttled(0.0, 0)
    assert drain(t, 0.1, 0.0) == 1  # one PDU (the throttled one, resent first), not 50


def test_bad_policy_is_named() -> None:
    with pytest.raises(ValueError, match="rate=0"):
        ThrottlePolicy(rate=0)


# --- convergence against a carrier's limit ------------------------------------------------------


class FixedWindow:
    """A carrier counting submits per calendar second, refusing beyond `limit`."""

    def __init__(self, limit: float, burst: int, now: float) -> None:
        self.limit, self.second, self.taken = limit, -1, 0

    def take(self, now: float) -> bool:
        if int(now) != self.second:
            self.second, self.taken = int(now), 0
        self.taken += 1
        return self.taken <= self.limit


Carrier = Callable[[float, int, float], TokenBucket | FixedWindow]


def accepted_share(
    carrier: Carrier,
    *,
    limit: float,
    rate: float = 5000.0,
    window: int = 10,
    rtt: float = 0.002,
    queue_full: bool = False,
    seconds: float = 60.0,
) -> float:
    """A bind with a backlog against a carrier refusing above `limit` per second, on simulated
    time: the accepted rate over the second half, as a share of the limit."""
    now = 0.0
    throttle = Throttle(ThrottlePolicy(rate=rate, burst=20), now)
    smsc = carrier(limit, 10, now)
    answers: list[tuple[float, bool]] = []  # (when it arrives, accepted), a heap
    processed = late = 0
    while now < seconds:
        while answers and answers[0][0] <= now:
            _, ok = heapq.heappop(answers)
            if ok:
                processed += 1
                late += now >= seconds / 2
                throttle.on_accepted(now, processed)
            else:
                throttle.on_throttled(now, processed, queue_full=queue_full)
        if len(answers) < window and throttle.delay(now) <= 0:
            throttle.take(now)
            heapq.heappush(answers, (now + rtt, smsc.take(now)))
            continue
        wake = [now + 0.0005]
        if throttle.delay(now) > 0:
            wake.append(now + throttle.delay(now))
        if answers:
            wake.append(answers[0][0])
        now = max(min(wake), now + 1e-6)
    return late / (seconds / 2) / limit


@pytest.mark.parametrize("queue_full", [False, True], ids=["throttled", "queue_full"])
@pytest.mark.parametrize(
    ("carrier", "limit", "window", "rtt"),
    [
        (TokenBucket, 100.0, 10, 0.002),
        (TokenBucket, 100.0, 10, 0.05),
        (TokenBucket, 1000.0, 50, 0.002),
        (TokenBucket, 10.0, 10, 0.002),
        (FixedWindow, 100.0, 10, 0.002),
    ],
    ids=["bucket-100", "bucket-100-far", "bucket-1000", "bucket-10", "per-second-100"],
)
def test_the_rate_converges_near_the_carriers_limit(
    carrier: Carrier, limit: float, window: int, rtt: float, queue_full: bool
) -> None:
    # from a configured rate 5 to 500 times the carrier's: >= 90% of its limit once settled
    # (halving and a 1 s pause, 5 s for a full queue, gave 54% and 18% at 100/s)
    share = accepted_share(carrier, limit=limit, window=window, rtt=rtt, queue_full=queue_full)
    assert 0.9 <= share <= 1.02, share
