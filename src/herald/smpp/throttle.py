"""Per-bind submit throttle: a token bucket counted in PDUs, adapted to carrier throttling.

Pure and clock-free: every method takes `now` (monotonic seconds) from the caller, so tests
drive it with a fake clock and the session with `loop.time()`.

- Each submit_sm (one segment) takes one token; tokens refill at `rate` per second up to
  `burst`.
- ESME_RTHROTTLED or ESME_RMSGQFUL (a congestion event) pauses the whole bind briefly (0.1 s,
  0.2 s for a full queue; doubling while refusals continue with nothing accepted between) and
  settles the rate just under what the carrier processed over the last second: `settle`
  times that measured rate, but never more than halving the rate nor taking less than a tenth
  off in one event (with nothing to measure, the first event halves it). Refusals arriving
  while already paused (the rest of the window in flight) are the same event and change
  nothing. The caller resends the refused PDUs first, so order holds.
- Accepted submits raise the rate again, never above the configured rate: each second adds
  `increase_fraction` of the current rate (at least 1/s) times the seconds since the last
  pause, so the bind creeps up to the carrier's limit, probes above it ever faster, is
  refused, and settles under it again. About 95% of the carrier's limit, where halving and a
  1 s pause gave 54% (`bench/throttling.py`, docs/performance.md).
Only the submit path is throttled; responses and receipts are never delayed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

# The accepted rate is measured from counts noted at most every SAMPLE_EVERY seconds, over the
# last MEASURE_SPAN seconds before a refusal: the carrier's rate now, not the bind's average
# since it last slowed down (which would settle lower at every event).
SAMPLE_EVERY = 0.25
MEASURE_SPAN = 1.0


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    rate: float  # configured PDUs per second: the ceiling
    burst: int = 1
    min_rate: float = 1.0
    settle: float = 0.95  # after a congestion event: this share of the measured accepted rate
    max_decrease: float = 0.5  # ... but not below this share of the rate in one event
    min_decrease: float = 0.9  # ... nor above this one: every event slows the bind
    increase_fraction: float = 0.02  # of the current rate, added per second of calm
    throttled_pause: float = 0.1  # first pause after ESME_RTHROTTLED, seconds
    queue_full_pause: float = 0.2  # first pause after ESME_RMSGQFUL
    max_pause: float = 60.0
    # The accepted rate is measured over at least this long: a burst the carrier absorbed in
    # a few milliseconds says nothing about its rate.
    measure_floor: float = 0.2

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1 or self.min_rate <= 0:
            raise ValueError(
                f"throttle needs rate > 0, burst >= 1, min_rate > 0; "
                f"got rate={self.rate}, burst={self.burst}, min_rate={self.min_rate}"
            )


class Throttle:
    __slots__ = (
        "_calm_since",
        "_last_increase",
        "_last_refill",
        "_paused_until",
        "_samples",
        "_strikes",
        "_tokens",
        "policy",
        "rate",
        "throttle_events",
    )

    def __init__(self, policy: ThrottlePolicy, now: float) -> None:
        self.policy = policy
        self.rate = policy.rate
        self._tokens = float(policy.burst)
        self._last_refill = now
        self._last_increase = now
        self._paused_until = now
        self._strikes = 0  # consecutive congestion events without an accepted submit between
        self.throttle_events = 0
        self._calm_since = now  # the end of the last pause
        # (time, submits the carrier had processed): noted while accepted submits come in,
        # since the last pause ended
        self._samples: deque[tuple[float, int]] = deque(maxlen=8)

    def delay(self, now: float) -> float:
        """Seconds to wait before the next PDU may go out (0.0: send now)."""
        if now < self._paused_until:
            return self._paused_until - now
        self._refill(now)
        if self._tokens >= 1.0:
            return 0.0
        return (1.0 - self._tokens) / self.rate

    def take(self, now: float) -> None:
        """Spend one token for a PDU being sent now (call after `delay` returned 0)."""
        self._refill(now)
        self._tokens -= 1.0

    def paused(self, now: float) -> bool:
        return now < self._paused_until

    def on_accepted(self, now: float, processed: int) -> None:
        """A submit was answered without throttling: clear strikes, note the accepted count
        now and then (the rate is measured from these), raise the rate per second of calm."""
        self._strikes = 0
        samples = self._samples
        if not samples or now - samples[-1][0] >= SAMPLE_EVERY:
            samples.append((now, processed))
        if self.rate >= self.policy.rate:
            self._last_increase = now
            return
        elapsed = now - self._last_increase
        if elapsed >= 1.0:
            calm = max(1.0, now - self._calm_since)
            step = max(1.0, self.rate * self.policy.increase_fraction * calm) * int(elapsed)
            self.rate = min(self.policy.rate, self.rate + step)
            self._last_increase = now

    def on_throttled(self, now: float, processed: int, *, queue_full: bool = False) -> float:
        """The carrier refused a submit for congestion: pause the bind, settle the rate.
        `processed` counts the submits the carrier has processed on this bind so far (answered
        other than with a congestion refusal). Returns the pause in seconds."""
        p = self.policy
        self.throttle_events += 1
        if now < self._paused_until:
            # The rest of a window sent before the pause began, answered with the same
            # refusal: one congestion event, so no further decrease or escalation. A full
            # queue still earns its longer pause.
            if queue_full:
                self._paused_until = max(self._paused_until, now + p.queue_full_pause)
            return self._paused_until - now
        rate = self.rate
        measured = self._measured(now, processed)
        if measured is None:
            self.rate = max(p.min_rate, rate * p.max_decrease)
        else:
            self.rate = max(
                p.min_rate, rate * p.max_decrease, min(rate * p.min_decrease, measured * p.settle)
            )
        base = p.queue_full_pause if queue_full else p.throttled_pause
        pause = min(p.max_pause, base * 2.0 ** min(self._strikes, 16))
        self._strikes += 1
        self._paused_until = max(self._paused_until, now + pause)
        # No burst straight after a pause: tokens stop accruing until the pause ends.
        self._tokens = min(self._tokens, 1.0)
        self._last_refill = max(self._last_refill, self._paused_until)
        self._last_increase = now + pause
        self._calm_since = self._paused_until
        self._samples.clear()
        return pause

    def _measured(self, now: float, processed: int) -> float | None:
        """Submits the carrier processed per second over the last second or so, without our
        own pauses in it; None if there is too little to tell."""
        for when, count in self._samples:
            if now - when <= MEASURE_SPAN:
                if now - when < self.policy.measure_floor:
                    return None
                return (processed - count) / (now - when)
        return None

    def _refill(self, now: float) -> None:
        elapsed = now - self._last_refill
        if elapsed > 0:
            self._tokens = min(float(self.policy.burst), self._tokens + elapsed * self.rate)
            self._last_refill = now
