"""Per-bind submit throttle: a token bucket counted in PDUs, adapted to carrier throttling.

Pure and clock-free: every method takes `now` (monotonic seconds) from the caller, so tests
drive it with a fake clock and the session with `loop.time()`.

- Each submit_sm (one segment) takes one token; tokens refill at `rate` per second up to
  `burst`.
- ESME_RTHROTTLED pauses the whole bind and halves the rate (multiplicative decrease);
  consecutive throttles double the pause. Refusals arriving while already paused (the rest
  of the window in flight) are the same event and change nothing. ESME_RMSGQFUL pauses
  longer. The caller resends the
  throttled PDU first when the pause ends, so order holds.
- Accepted submits raise the rate again by a fixed step per second of calm (additive
  increase), never above the ceiling.
- The ceiling is the configured rate unless `set_ceiling` lowers it: a bind's share of its
  carrier account's rate across herald processes (herald.delivery.nodes). A ceiling of 0 holds
  every submit until it is raised.
Only the submit path is throttled; responses and receipts are never delayed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    rate: float  # configured PDUs per second: the ceiling
    burst: int = 1
    min_rate: float = 1.0
    decrease: float = 0.5  # rate multiplier on each throttle response
    increase_fraction: float = 0.05  # of the configured rate, added per second of calm
    throttled_pause: float = 1.0  # first pause after ESME_RTHROTTLED, seconds
    queue_full_pause: float = 5.0  # first pause after ESME_RMSGQFUL
    max_pause: float = 60.0

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1 or self.min_rate <= 0:
            raise ValueError(
                f"throttle needs rate > 0, burst >= 1, min_rate > 0; "
                f"got rate={self.rate}, burst={self.burst}, min_rate={self.min_rate}"
            )


HELD = 0.25  # seconds a held throttle (ceiling 0) tells the sender to wait before asking again


class Throttle:
    __slots__ = (
        "_last_increase",
        "_last_refill",
        "_paused_until",
        "_strikes",
        "_tokens",
        "burst",
        "ceiling",
        "policy",
        "rate",
        "throttle_events",
    )

    def __init__(self, policy: ThrottlePolicy, now: float) -> None:
        self.policy = policy
        self.rate = policy.rate
        self.ceiling = policy.rate  # the rate never goes above it (set_ceiling)
        self.burst = policy.burst
        self._tokens = float(policy.burst)
        self._last_refill = now
        self._last_increase = now
        self._paused_until = now
        self._strikes = 0  # consecutive throttle responses without an accepted submit between
        self.throttle_events = 0

    def delay(self, now: float) -> float:
        """Seconds to wait before the next PDU may go out (0.0: send now)."""
        if now < self._paused_until:
            return self._paused_until - now
        if self.ceiling <= 0.0:
            return HELD
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

    def on_accepted(self, now: float) -> None:
        """A submit was answered without throttling: additive increase, clear strikes."""
        self._strikes = 0
        if self.rate >= self.ceiling:
            self._last_increase = now
            return
        elapsed = now - self._last_increase
        if elapsed >= 1.0:
            step = max(1.0, self.ceiling * self.policy.increase_fraction) * int(elapsed)
            self.rate = min(self.ceiling, self.rate + step)
            self._last_increase = now

    def set_ceiling(self, rate: float, burst: int, now: float) -> None:
        """Limit the rate to `rate` (at most the configured rate; 0 holds every submit) and
        the bucket to `burst` tokens. A rate the carrier had not pushed down follows the
        ceiling up at once; one lowered by throttling climbs back as usual."""
        self._refill(now)
        rate = min(max(rate, 0.0), self.policy.rate)
        at_ceiling = self.rate >= self.ceiling
        if self.ceiling <= 0.0 < rate:
            self._tokens = 1.0  # released from a hold: one part now, then the rate
        self.ceiling = rate
        self.burst = max(1, min(burst, self.policy.burst))
        if rate <= 0.0:
            self._tokens = min(self._tokens, 0.0)
            return
        self.rate = rate if at_ceiling else min(self.rate, rate)
        self._tokens = min(self._tokens, float(self.burst))

    def on_throttled(self, now: float, *, queue_full: bool = False) -> float:
        """The carrier throttled a submit: pause the bind, lower the rate. Returns the pause."""
        p = self.policy
        self.throttle_events += 1
        if now < self._paused_until:
            # The rest of a window sent before the pause began, answered with the same
            # refusal: one congestion event, so no further decrease or escalation. A full
            # queue still earns its longer pause.
            if queue_full:
                self._paused_until = max(self._paused_until, now + p.queue_full_pause)
            return self._paused_until - now
        base = p.queue_full_pause if queue_full else p.throttled_pause
        pause = min(p.max_pause, base * 2.0 ** min(self._strikes, 16))
        self._strikes += 1
        self.rate = min(self.ceiling, max(p.min_rate, self.rate * p.decrease))
        self._paused_until = max(self._paused_until, now + pause)
        # No burst straight after a pause: tokens stop accruing until the pause ends.
        self._tokens = min(self._tokens, 1.0)
        self._last_refill = max(self._last_refill, self._paused_until)
        self._last_increase = now + pause
        return pause

    def _refill(self, now: float) -> None:
        elapsed = now - self._last_refill
        if elapsed > 0:
            if self.ceiling > 0.0:
                self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
            self._last_refill = now
