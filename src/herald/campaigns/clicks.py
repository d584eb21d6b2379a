"""Clicks on tracked links, recorded off the redirect's path.

The redirect answers as soon as it has found its link; the click (message, campaign, time,
user agent) goes into a buffer that `run` writes every `flush_interval` (or sooner when
`flush_size` wait), in one transaction with its `message.clicked` callbacks. A failed write
keeps its clicks and is tried again; at shutdown `run` writes what is left (the daemon stops
the API first, so no click comes after).

Bounded: one link counts at most `per_link` clicks per buffer (a script hammering one code
is redirected every time but fills neither the buffer nor the table), and beyond
`max_buffered` clicks (the database away for long) `add` waits for a write to make room,
which slows only the redirects that would otherwise grow memory without bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from herald.delivery.callbacks import enqueue_click_callbacks
from herald.delivery.waits import wait_any
from herald.metrics import Metrics
from herald.store import links as store
from herald.store.db import Database

log = logging.getLogger(__name__)

USER_AGENT_MAX = 512  # characters of a user agent kept


@dataclass(frozen=True, slots=True)
class Click:
    message_id: int
    campaign_id: int
    at: datetime
    user_agent: str | None


class ClickRecorder:
    def __init__(
        self,
        db: Database,
        *,
        metrics: Metrics,
        flush_interval: float = 0.5,
        flush_size: int = 1000,
        max_buffered: int = 50_000,
        per_link: int = 20,
        retry_max: float = 30.0,
    ) -> None:
        self._db = db
        self._metrics = metrics
        self._interval = flush_interval
        self._size = flush_size
        self._max = max_buffered
        self._per_link = per_link
        self._retry_max = retry_max
        self._buffer: list[Click] = []
        self._per_message: Counter[int] = Counter()
        self._due = asyncio.Event()  # flush now: the buffer is big, or someone waits
        self._room = asyncio.Event()  # a flush made room
        self.dropped = 0  # clicks beyond per_link, not recorded

    @property
    def pending(self) -> int:
        return len(self._buffer)

    async def add(self, click: Click) -> None:
        """Buffer a click; returns at once unless the buffer is full."""
        if self._per_message[click.message_id] >= self._per_link:
            self.dropped += 1
            return
        while len(self._buffer) >= self._max:
            self._room.clear()
            self._due.set()
            await self._room.wait()
        if click.user_agent is not None and len(click.user_agent) > USER_AGENT_MAX:
            click = Click(
                click.message_id, click.campaign_id, click.at, click.user_agent[:USER_AGENT_MAX]
            )
        self._buffer.append(click)
        self._per_message[click.message_id] += 1
        if len(self._buffer) >= self._size:
            self._due.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Write clicks until `stop`, then write what is left and return."""
        delay = 0.0
        while not stop.is_set():
            await wait_any(stop, self._due, within=delay or self._interval)
            self._due.clear()
            try:
                await self.flush()
                delay = 0.0
            except Exception:  # the database is away: keep the clicks, try again
                delay = min(self._retry_max, max(self._interval, delay * 2))
                log.exception("writing %d click(s) failed; retrying in %.1fs", self.pending, delay)
        for _ in range(3):
            try:
                await self.flush()
                return
            except Exception:
                log.exception("writing %d click(s) at shutdown failed", self.pending)
        if self._buffer:
            log.error("%d click(s) could not be written before shutdown", len(self._buffer))

    async def flush(self) -> int:
        """Write the buffered clicks and their callbacks in one transaction; how many."""
        clicks, self._buffer = self._buffer, []
        self._per_message.clear()
        if not clicks:
            return 0
        try:
            async with self._db.acquire() as conn, conn.transaction():
                ids = await store.insert_clicks(
                    conn,
                    [c.message_id for c in clicks],
                    [c.campaign_id for c in clicks],
                    [c.at for c in clicks],
                    [c.user_agent for c in clicks],
                )
                await enqueue_click_callbacks(conn, ids)
        except BaseException:
            self._buffer[:0] = clicks  # first in, first written, next time
            raise
        self._metrics.link_clicks += len(clicks)
        self._room.set()
        return len(clicks)
