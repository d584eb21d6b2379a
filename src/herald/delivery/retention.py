"""Retention: what herald keeps, and for how long (docs/operations.md, retention).

A batch (one run of a campaign) that finished `retention.messages_days` ago has its messages
and parts deleted; the batch stays, with its counters (messages and segments expected,
credit) and the totals of its messages by status, reason and route and of its parts by
carrier account and state (batch_totals, batch_part_totals), which campaign progress and
reports read from then on. Delivered and dead callbacks go after `retention.callbacks_days`;
pending ones never do.

How, so that a campaign sending meanwhile barely notices:
- whole batches only, and only once every message of the batch is final and the batch
  finished longer ago than a receipt can still come (`tracker` validity plus margin): totals
  taken then never change;
- the totals and the mark are one statement on one batch row (`begin_pruning`); the
  deletion follows in chunks of `retention.chunk` messages with their parts, one short
  transaction each (`prune_messages_chunk`), a compare-and-set on the batch's position, so a
  sweep stopped half way (a crash, a stop) resumes where it was, and two processes never
  delete the same chunk;
- after each chunk the sweep waits as long as the chunk took: deletion uses at most half of
  one database connection's time.
Every herald process runs the sweep every `retention.interval`; `herald prune` runs it once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from herald.delivery.waits import wait_any
from herald.metrics import Metrics
from herald.store import retention as store
from herald.store.db import Database

log = logging.getLogger(__name__)

BATCHES_PER_READ = 100


@dataclass
class PruneReport:
    batches: int = 0  # batches whose messages were (or would be) deleted
    messages: int = 0
    parts: int = 0
    callbacks: int = 0
    waiting: int = 0  # batches past their time with a message not final yet: a later sweep


def cutoff(now: datetime, older_than: timedelta, receipt_window: float) -> datetime:
    """Batches that finished before this are pruned: `older_than` ago, and never within the
    receipt window (a receipt may still come for a part of a batch finished since)."""
    return min(now - older_than, now - timedelta(seconds=receipt_window))


class Retention:
    def __init__(
        self,
        db: Database,
        *,
        metrics: Metrics,
        clock: Callable[[], datetime],
        receipt_window: float,
        chunk: int = 5000,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._db = db
        self._metrics = metrics
        self._clock = clock
        self._receipt_window = receipt_window
        self._chunk = chunk
        self._sleep = sleep
        self._timer = timer

    async def run(
        self, stop: asyncio.Event, *, messages_days: int, callbacks_days: int, interval: float
    ) -> None:
        """Sweep every `interval` seconds until `stop`; a failed sweep is retried at the
        next one."""
        while not stop.is_set():
            try:
                report = await self.sweep(
                    messages=timedelta(days=messages_days) if messages_days else None,
                    callbacks=timedelta(days=callbacks_days) if callbacks_days else None,
                    stop=stop,
                )
            except Exception as exc:
                log.warning("retention sweep failed: %s: %s", type(exc).__name__, exc)
            else:
                if report.batches or report.callbacks:
                    log.info(
                        "retention: deleted %d messages with %d parts of %d batches, %d callbacks",
                        report.messages,
                        report.parts,
                        report.batches,
                        report.callbacks,
                        extra={"fields": {"retention": report.__dict__}},
                    )
            await wait_any(stop, within=interval)

    async def sweep(
        self,
        *,
        messages: timedelta | None,
        callbacks: timedelta | None,
        stop: asyncio.Event | None = None,
    ) -> PruneReport:
        """Prune batches finished more than `messages` ago and callbacks older than
        `callbacks` (None: not that kind), until none is left or `stop` is set."""
        report = PruneReport()
        now = self._clock()
        if messages is not None:
            await self._resume(report, stop)
            before = cutoff(now, messages, self._receipt_window)
            await self._prune_batches(report, before, stop)
        if callbacks is not None:
            await self._prune_callbacks(report, now - callbacks, stop)
        return report

    async def preview(
        self, *, messages: timedelta | None, callbacks: timedelta | None
    ) -> PruneReport:
        """What `sweep` would delete now (messages as the batches expected them), deleting
        nothing: `herald prune --dry-run`."""
        report = PruneReport()
        now = self._clock()
        async with self._db.acquire() as conn:
            if messages is not None:
                before = cutoff(now, messages, self._receipt_window)
                after: store.PrunableBatch | None = None
                while batches := await store.prunable_batches(conn, before, 1000, after):
                    after = batches[-1]
                    report.batches += len(batches)
                    report.messages += sum(b.messages_expected for b in batches)
            if callbacks is not None:
                report.callbacks = await store.count_prunable_callbacks(conn, now - callbacks)
        return report

    async def _resume(self, report: PruneReport, stop: asyncio.Event | None) -> None:
        async with self._db.acquire() as conn:
            pruning = await store.pruning_batches(conn)
        for batch in pruning:
            await self._delete(report, batch, stop)

    async def _prune_batches(
        self, report: PruneReport, before: datetime, stop: asyncio.Event | None
    ) -> None:
        after: store.PrunableBatch | None = None
        while not _stopped(stop):
            async with self._db.acquire() as conn:
                batches = await store.prunable_batches(conn, before, BATCHES_PER_READ, after)
            if not batches:
                return
            after = batches[-1]
            for candidate in batches:
                if _stopped(stop):
                    return
                async with self._db.acquire() as conn:
                    batch = await store.begin_pruning(conn, candidate.id, before)
                if batch is None:  # a message not final yet, or another process took it
                    report.waiting += 1
                    continue
                report.batches += 1
                self._metrics.pruned_batches += 1
                await self._delete(report, batch, stop)

    async def _delete(
        self, report: PruneReport, batch: store.Pruning, stop: asyncio.Event | None
    ) -> None:
        prune_from = batch.prune_from
        while prune_from is not None and not _stopped(stop):
            started = self._timer()
            async with self._db.acquire() as conn:
                chunk = await store.prune_messages_chunk(
                    conn, batch.batch_id, prune_from, self._chunk
                )
            if chunk is None:  # another process deleted a chunk first: it goes on
                return
            report.messages += chunk.messages
            report.parts += chunk.parts
            self._metrics.pruned_messages += chunk.messages
            prune_from = chunk.prune_from
            await self._sleep(self._timer() - started)  # at most half a connection's time

    async def _prune_callbacks(
        self, report: PruneReport, before: datetime, stop: asyncio.Event | None
    ) -> None:
        while not _stopped(stop):
            started = self._timer()
            async with self._db.acquire() as conn:
                deleted = await store.prune_callbacks(conn, before, self._chunk)
            report.callbacks += deleted
            self._metrics.pruned_callbacks += deleted
            if deleted < self._chunk:
                return
            await self._sleep(self._timer() - started)


def _stopped(stop: asyncio.Event | None) -> bool:
    return stop is not None and stop.is_set()
