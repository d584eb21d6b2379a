"""Completion: a batch whose messages are all final completes, then a campaign whose batches
all are, right after the write that made their last message final.

The writer tells `Completion.note` which campaigns a flush moved messages of to a final status;
the loop then checks only those campaigns' open batches (index probes, see
`finish_campaign_batches` in store/sql/dispatch.sql), at most once per `interval`, so a campaign
completes within about that of its last final status however many flushes there are.
Maintenance runs the same check over every open batch at each tick: the safety net for what
no flush of this process reports (the receipt sweep, recovered leases, another process).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from herald.delivery.waits import wait_any
from herald.store import dispatch as store
from herald.store.db import Database

log = logging.getLogger(__name__)

OnCampaignsCompleted = Callable[[Any, Sequence[Any]], Awaitable[None]]


async def complete_finished(
    conn: Any,
    campaign_ids: Sequence[int] | None,
    on_completed: OnCampaignsCompleted | None = None,
) -> tuple[list[Any], list[Any]]:
    """In one transaction: complete the finished batches (of `campaign_ids`, or all), then
    their campaigns; call `on_completed` (campaign callbacks) and tell every LISTENing process
    at commit. Returns (batches, campaigns) completed."""
    async with conn.transaction():
        batches = await store.finish_batches(conn, campaign_ids)
        completed = await store.finish_campaigns(conn, campaign_ids)
        if completed and on_completed is not None:
            await on_completed(conn, completed)
        if batches:
            await store.notify_events(
                conn,
                json.dumps(
                    {
                        "batches_completed": [b["id"] for b in batches],
                        "campaigns_completed": [c["id"] for c in completed],
                    }
                ),
            )
    return list(batches), list(completed)


class Completion:
    def __init__(
        self,
        db: Database,
        *,
        on_completed: OnCampaignsCompleted | None = None,
        interval: float = 0.2,
    ) -> None:
        self._db = db
        self._on_completed = on_completed
        self._interval = interval
        self._pending: set[int] = set()  # campaigns with messages made final since the check
        self._due = asyncio.Event()

    def note(self, campaign_ids: Iterable[int | None]) -> None:
        """Campaigns that just had messages reach a final status (the writer's hook)."""
        self._pending.update(c for c in campaign_ids if c is not None)
        if self._pending:
            self._due.set()

    async def run(self, stop: asyncio.Event) -> None:
        while True:
            await wait_any(self._due, stop)
            if stop.is_set():
                return  # what is left, maintenance completes (here or at the next start)
            self._due.clear()
            await self.check()
            await wait_any(stop, within=self._interval)  # one check per interval at most

    async def check(self) -> None:
        """Complete what the noted campaigns have finished; on a database error they are
        kept for the next check."""
        campaign_ids, self._pending = sorted(self._pending), set()
        if not campaign_ids:
            return
        try:
            async with self._db.acquire() as conn:
                await complete_finished(conn, campaign_ids, self._on_completed)
        except Exception:
            log.exception("completion check of campaigns %s failed; retrying", campaign_ids)
            self.note(campaign_ids)
