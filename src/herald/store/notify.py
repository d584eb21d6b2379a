"""Wake-ups between herald processes through PostgreSQL's LISTEN/NOTIFY.

A notification is a hint that work is due (a run started, a campaign resumed): every process
that listens looks at once instead of at its next poll. Polling still guarantees progress, so a
notification lost with a connection costs latency, never a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from herald.store.db import Database
from herald.store.queries import queries

log = logging.getLogger(__name__)

DISPATCH_CHANNEL = "herald_dispatch"  # due messages: the dispatchers of every process listen


async def notify(db: Database, channel: str = DISPATCH_CHANNEL) -> None:
    """Wake every process listening on `channel`."""
    async with db.acquire() as conn:
        await conn.execute(queries.notify_channel, channel)


class Listener:
    """LISTEN on a pooled connection of its own (held until stopped). The connection dies with
    the database: once it is back, `restore()` listens again; polling covers the gap."""

    def __init__(self, db: Database, channel: str = DISPATCH_CHANNEL) -> None:
        self._db = db
        self._channel = channel
        self._conn: Any = None
        self._on_notify: Callable[[], None] = lambda: None
        self._pending: set[asyncio.Task[None]] = set()

    def _notified(self, *_: Any) -> None:
        self._on_notify()

    async def start(self, on_notify: Callable[[], None]) -> None:
        """Call `on_notify` for each notification on the channel."""
        self._on_notify = on_notify
        conn = await self._db.pool.acquire()
        try:
            await conn.add_listener(self._channel, self._notified)
        except BaseException:
            await self._db.pool.release(conn)
            raise
        self._conn = conn

    def restore(self) -> None:
        """Listen again on a new connection (the database came back after an outage)."""
        task = asyncio.ensure_future(self._restore())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _restore(self) -> None:
        await self._release()
        try:
            await self.start(self._on_notify)
        except Exception as exc:  # the next outage's end tries again
            log.warning("could not LISTEN again after the database came back: %s", exc)

    async def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        # A connection lost meanwhile has no listener left to remove; it still goes back.
        with contextlib.suppress(Exception):
            await conn.remove_listener(self._channel, self._notified)
        with contextlib.suppress(Exception):
            await self._db.pool.release(conn)

    async def stop(self) -> None:
        """Stop listening and give the connection back."""
        for task in list(self._pending):
            task.cancel()
        await self._release()
