"""The backlog, read for the metrics: messages of sending batches queued and deferred, and how
long the oldest due one has waited (herald_backlog_messages, herald_oldest_due_seconds); and
the credit of the accounts that sent lately (herald_account_credit_segments).

One aggregate over messages_due_idx's rows every `metrics.backlog_interval` seconds, in every
process (the gauges are database-wide: dashboards and alerts take their max over instances).
A million messages waiting cost it about a third of a second of PostgreSQL per read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from herald.delivery.waits import wait_any
from herald.metrics import Backlog, Credit, Metrics
from herald.store import health
from herald.store.db import Database

log = logging.getLogger(__name__)


async def read_backlog(
    db: Database,
    metrics: Metrics,
    *,
    clock: Callable[[], datetime],
    interval: float,
    stop: asyncio.Event,
) -> None:
    failing = False
    while not stop.is_set():
        try:
            async with db.acquire() as conn:
                now = clock()
                counts = await health.backlog(conn, now)
                credit = await health.active_accounts_credit(conn, now)
        except Exception as exc:  # the database watch reports outages; keep the last value
            if not failing:
                log.warning("reading the backlog failed: %s: %s", type(exc).__name__, exc)
            failing = True
        else:
            failing = False
            metrics.backlog = Backlog(counts.queued, counts.deferred, counts.oldest_due_seconds)
            metrics.credit = tuple(Credit(c.account, c.credit, c.used_24h) for c in credit)
        await wait_any(stop, within=interval)
