"""Wake-ups between herald processes through PostgreSQL's LISTEN/NOTIFY.

A notification is a hint that work is due (a run started, a campaign resumed): every process
that listens looks at once instead of at its next poll. Polling still guarantees progress, so a
notification lost with a connection costs latency, never a message.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from herald.store.db import Database
from herald.store.queries import queries

DISPATCH_CHANNEL = "herald_dispatch"  # due messages: the dispatchers of every process listen


async def notify(db: Database, channel: str = DISPATCH_CHANNEL) -> None:
    """Wake every process listening on `channel`."""
    async with db.acquire() as conn:
        await conn.execute(queries.notify_channel, channel)


async def listen(
    db: Database, on_notify: Callable[[], None], channel: str = DISPATCH_CHANNEL
) -> Callable[[], Awaitable[None]]:
    """Call `on_notify` for each notification on `channel`, on a pooled connection of its own
    (held until stopped). Returns the function that stops listening and gives it back."""
    conn = await db.pool.acquire()

    def on_notification(*_: Any) -> None:
        on_notify()

    try:
        await conn.add_listener(channel, on_notification)
    except BaseException:
        await db.pool.release(conn)
        raise

    async def stop() -> None:
        # A connection lost meanwhile has no listener left to remove; it still goes back.
        with contextlib.suppress(Exception):
            await conn.remove_listener(channel, on_notification)
        await db.pool.release(conn)

    return stop
