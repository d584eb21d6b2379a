"""Campaign summaries for the pages that refresh themselves, read at most so often.

Counting a campaign's messages by status reads every message (0.9 s at a million); a page
polled every second by several people would keep PostgreSQL busy with nothing else. So a
summary read here is reused, by every viewer in this process, for `COST_FACTOR` times as
long as the read took (at least `min_age`): a small campaign refreshes at once, a million
messages about every five seconds, and the console never spends more than about a fifth of a
database core per campaign watched. Reads of one campaign at the same time share one query.
A change made through the console (suspend, stop...) drops the campaign's entry.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

COST_FACTOR = 5.0
MAX_ENTRIES = 2000

Read = Callable[[int, int], Awaitable[dict[str, Any]]]


@dataclass
class _Entry:
    value: dict[str, Any]
    fresh_until: float


class Summaries:
    def __init__(
        self,
        read: Read,
        *,
        min_age: float = 0.0,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._min_age = min_age
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[int, int], _Entry] = OrderedDict()
        self._reading: dict[tuple[int, int], asyncio.Task[dict[str, Any]]] = {}

    async def get(self, account_id: int, campaign_id: int) -> dict[str, Any]:
        """The summary (campaigns.service.CampaignService.summary); errors pass through."""
        key = (account_id, campaign_id)  # the account is part of the key: never shared
        entry = self._entries.get(key)
        if entry is not None and entry.fresh_until > self._clock():
            self._entries.move_to_end(key)
            return entry.value
        task = self._reading.get(key)
        if task is None:
            task = asyncio.ensure_future(self._fetch(key))
            self._reading[key] = task
            task.add_done_callback(lambda _: self._reading.pop(key, None))
        return await asyncio.shield(task)

    async def _fetch(self, key: tuple[int, int]) -> dict[str, Any]:
        started = self._clock()
        value = await self._read(*key)
        took = self._clock() - started
        self._entries[key] = _Entry(value, self._clock() + max(self._min_age, took * COST_FACTOR))
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return value

    def forget(self, account_id: int, campaign_id: int) -> None:
        self._entries.pop((account_id, campaign_id), None)
