"""How the simulator answers a submit_sm: the decision, apart from the socket.

Order of the checks, each a knob of SimulatorSettings:

1. `submit_answer="none"` (a black hole): no answer at all.
2. the token bucket (`throttle_rate`, per system_id): over the rate, `throttle_status`.
3. injected errors (`errors`): one draw of the seeded RNG picks a status by share.
4. otherwise accepted.

With `submit_answer="generic_nack"` the answer is a generic_nack carrying the status from
2-3, or `nack_status` for a submit that would have been accepted; with `nack_share`, that share
of the submits that would have been accepted get such a nack (by their own sequence_number).
Latency, malformed answers, nacks and dropped links are separate draws, made only when their
knob is set, so a test that turns one knob on sees the same random sequence run after run.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from herald.simulator.settings import SimulatorSettings

# answer kinds
ACCEPT, REFUSE, NACK, SILENCE = 0, 1, 2, 3


class TokenBucket:
    """`rate` tokens per second up to `burst`; a submit takes one or is refused."""

    __slots__ = ("_last", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._last = now

    def take(self, now: float) -> bool:
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
            self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class Behaviour:
    """The settings compiled for the hot path, with the RNG and the token buckets."""

    __slots__ = (
        "_buckets",
        "_clock",
        "_error_table",
        "_fixed_latency",
        "latency_varies",
        "rng",
        "settings",
        "trivial",
    )

    def __init__(
        self, settings: SimulatorSettings, rng: random.Random, clock: Callable[[], float]
    ) -> None:
        self.rng = rng
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self.configure(settings)

    def configure(self, settings: SimulatorSettings) -> None:
        old = getattr(self, "settings", None)
        self.settings = settings
        if old is None or (old.throttle_rate, old.throttle_burst) != (
            settings.throttle_rate,
            settings.throttle_burst,
        ):
            self._buckets.clear()  # a new rate starts with a full bucket
        table, total = [], 0.0
        for status, share in settings.errors:
            total += share
            table.append((total, status))
        self._error_table = tuple(table)
        latency = settings.latency
        self.latency_varies = latency.kind != "fixed"
        self._fixed_latency = latency.low
        # accepted at once, nothing else to do: the protocol's fastest path
        self.trivial = (
            settings.submit_answer == "ok"
            and settings.throttle_rate is None
            and not settings.errors
            and latency.is_zero
            and settings.malformed_share == 0
            and settings.nack_share == 0
        )

    def decide(self, system_id: str) -> tuple[int, int]:
        """(answer kind, command_status) for one submit_sm from `system_id`."""
        s = self.settings
        if s.submit_answer == "none":
            return SILENCE, 0
        status = 0
        if s.throttle_rate is not None:
            bucket = self._buckets.get(system_id)
            now = self._clock()
            if bucket is None:
                bucket = self._buckets[system_id] = TokenBucket(
                    s.throttle_rate, s.throttle_burst, now
                )
            if not bucket.take(now):
                status = s.throttle_status
        if not status and self._error_table:
            draw = self.rng.random()
            for bound, code in self._error_table:
                if draw < bound:
                    status = code
                    break
        if s.submit_answer == "generic_nack":
            return NACK, status or s.nack_status
        if status:
            return REFUSE, status
        if s.nack_share and self.rng.random() < s.nack_share:
            return NACK, s.nack_status
        return ACCEPT, 0

    def latency(self) -> float:
        if self.latency_varies:
            return self.settings.latency.sample(self.rng)
        return self._fixed_latency

    def malformed(self) -> bool:
        share = self.settings.malformed_share
        return share > 0 and self.rng.random() < share

    def drop(self) -> bool:
        probability = self.settings.drop_probability
        return probability > 0 and self.rng.random() < probability
