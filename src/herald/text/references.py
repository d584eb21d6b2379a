"""Concatenation reference numbers, one rotating counter per destination.

A handset reassembles parts by (sender, reference), so two multipart messages in flight to one
destination must not share a reference (docs/protocol.md §2.1). A per-destination counter
with a random start keeps consecutive messages apart and makes collisions across restarts
unlikely; a bounded LRU keeps memory flat over campaigns with millions of numbers.
"""

from __future__ import annotations

import random
from collections import OrderedDict

from herald.errors import TextOptionError


class ReferenceAllocator:
    """`next(destination)` gives the reference for that destination's next multipart message.

    bits: 8 (udh8, values 0..255) or 16 (udh16 and sar, 0..65535).
    max_destinations: destinations remembered (least recently used are forgotten; a forgotten
        one restarts at a random value). 300k entries cost roughly 40 MB.
    rng: a random.Random to draw start values from (tests pass a seeded one).
    """

    __slots__ = ("_counters", "_max", "_modulus", "_rng", "bits")

    def __init__(
        self,
        bits: int = 8,
        *,
        max_destinations: int = 300_000,
        rng: random.Random | None = None,
    ) -> None:
        if bits not in (8, 16):
            raise TextOptionError(f"reference bits must be 8 or 16, not {bits!r}")
        if max_destinations < 1:
            raise TextOptionError(f"max_destinations must be at least 1, not {max_destinations}")
        self.bits = bits
        self._modulus = 1 << bits
        self._max = max_destinations
        self._rng = rng if rng is not None else random.Random()
        self._counters: OrderedDict[str, int] = OrderedDict()

    def next(self, destination: str) -> int:
        counters = self._counters
        previous = counters.get(destination)
        if previous is None:
            value = self._rng.randrange(self._modulus)
            if len(counters) >= self._max:
                counters.popitem(last=False)
        else:
            value = (previous + 1) % self._modulus
            counters.move_to_end(destination)
        counters[destination] = value
        return value

    def __len__(self) -> int:
        return len(self._counters)
