"""Periodic work that keeps the store honest, safe to run in every herald process at once.

Each tick:
- leases of dispatchers that died are recovered: their messages may have gone out, so they
  become `unknown` with their parts still pending (policy mark_unknown) or are queued again
  (policy resend);
- messages sent longer ago than the validity period plus a margin with no final receipt are
  given up on (`unknown`, their waiting parts `expired`);
- orphan receipts whose part has landed are matched (the writer does it in its next flush;
  another herald process may have parked them); those whose part had already taken its final
  receipt are counted as duplicates once every part submitted before them has its result
  stored (a lease later); those older than their time to live are counted as unmatched and
  logged one by one;
- batches whose messages are all final complete, then campaigns whose batches all are (the
  writer's flushes trigger the same check at once for the campaigns they touch: this is the
  safety net, see herald.delivery.completion);
- the batches' progress counters are folded: the deltas claims and flushes add become one
  row per status (a poll of a campaign sums them);
- scheduled campaigns that are due start their run;
- idempotency keys older than `api.idempotency_hours` go;
- concatenated replies whose other parts never came are stored with what came.
Every statement is a compare-and-set or uses SKIP LOCKED, so processes never step on each other.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from herald.config import Config
from herald.delivery.completion import OnCampaignsCompleted, complete_finished
from herald.delivery.waits import wait_any
from herald.errors import HeraldError
from herald.metrics import Metrics
from herald.store import dispatch as store
from herald.store import idempotency as key_store
from herald.store import runs as run_store
from herald.store.db import Database

log = logging.getLogger(__name__)

SWEEP_LIMIT = 5000
# A batch's progress counters are folded into one row per status once it has this many
# deltas (a poll sums them: a claim or a flush adds a few rows per batch it touches).
FOLD_DELTAS = 64


class ScheduledRuns(Protocol):
    """Starts the runs maintenance finds due (herald.campaigns.runs.CampaignRunner); what a
    run produced matters here only as whether a reminder went out."""

    async def start_run(self, *, campaign_id: int, account_id: int) -> object: ...

    async def start_reminder(self, *, campaign_id: int, account_id: int) -> object | None: ...

    async def finish_rests(self) -> int: ...


OnScheduledRunFailed = Callable[[int, int, HeraldError], Awaitable[None]]


@dataclass
class TickReport:
    requeued: int = 0
    lost: int = 0
    expired: int = 0
    duplicate_receipts: int = 0
    orphans_dropped: int = 0  # unmatched receipts given up on
    batches_completed: int = 0
    campaigns_completed: int = 0
    runs_started: int = 0
    rests_stored: int = 0  # send-now runs whose rest was expanded again (campaigns/runs.py)
    reminders_sent: int = 0
    keys_expired: int = 0  # idempotency keys past api.idempotency_hours
    inbound_incomplete: int = 0  # concatenated replies stored with parts missing


class Maintenance:
    def __init__(
        self,
        db: Database,
        runs: ScheduledRuns,
        *,
        config: Config,
        clock: Callable[[], datetime],
        metrics: Metrics,
        wake_dispatcher: Callable[[], None] = lambda: None,
        sweep_orphans: Callable[[], None] = lambda: None,
        on_campaigns_completed: OnCampaignsCompleted | None = None,
        on_scheduled_run_failed: OnScheduledRunFailed | None = None,
        expire_inbound: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        self._db = db
        self._runs = runs
        self._config = config
        self._clock = clock
        self._metrics = metrics
        self._wake_dispatcher = wake_dispatcher
        self._sweep_orphans = sweep_orphans  # the writer matches orphans whose part landed
        self._on_completed = on_campaigns_completed
        self._on_run_failed = on_scheduled_run_failed
        # stores concatenated replies whose other parts never came (delivery/inbound.py)
        self._expire_inbound = expire_inbound
        self._failed_runs: set[int] = set()  # logged once, not every tick

    async def run(self, stop: asyncio.Event) -> None:
        failing = False
        while not stop.is_set():
            try:
                await self.tick()
            except Exception as exc:  # a database hiccup must not end maintenance for good
                if failing:  # the traceback once per outage, then a line per tick
                    log.warning("maintenance tick failed again: %s: %s", type(exc).__name__, exc)
                else:
                    log.exception("maintenance tick failed; retrying at the next one")
                failing = True
            else:
                failing = False
            await wait_any(stop, within=self._config.tracker.sweep_interval)

    async def recover(self, owner: str) -> TickReport:
        """At start: take back every lease this process's name held when it last stopped
        (killed or crashed), without waiting for the leases to expire."""
        report = TickReport()
        async with self._db.acquire() as conn:
            self._count_reclaimed(
                report,
                await store.reclaim_expired_leases(
                    conn, self._clock(), 1_000_000, self._resend, owner
                ),
            )
        if report.requeued:
            self._wake_dispatcher()
        if report.requeued or report.lost:
            log.warning(
                "recovered the leases of an earlier run of %s: %d queued again, "
                "%d unknown (they may have gone out)",
                owner,
                report.requeued,
                report.lost,
            )
        self._metrics.messages["unknown"] += report.lost
        return report

    @property
    def _resend(self) -> bool:
        return self._config.dispatcher.unknown_policy == "resend"

    @staticmethod
    def _count_reclaimed(report: TickReport, rows: Sequence[Any]) -> None:
        for row in rows:
            if row["status"] == "queued":
                report.requeued += 1
            else:
                report.lost += 1

    async def tick(self) -> TickReport:
        report = TickReport()
        now = self._clock()
        tracker = self._config.tracker
        async with self._db.acquire() as conn:
            self._count_reclaimed(
                report, await store.reclaim_expired_leases(conn, now, SWEEP_LIMIT, self._resend)
            )
            if report.requeued:
                self._wake_dispatcher()
            gave_up_before = now - timedelta(
                hours=tracker.validity_hours + tracker.receipt_margin_hours
            )
            report.expired = len(
                await store.sweep_unreceipted(conn, gave_up_before, now, SWEEP_LIMIT)
            )
            await self._settle_orphans(conn, report, now)
            batches, completed = await complete_finished(conn, None, self._on_completed)
            await store.fold_batch_counts(conn, FOLD_DELTAS, SWEEP_LIMIT)
            report.batches_completed, report.campaigns_completed = len(batches), len(completed)
            due = await store.due_campaigns(conn, now, 20)
            reminders = await run_store.due_reminders(conn, now, 20)
            report.keys_expired = await key_store.expire(
                conn, now - timedelta(hours=self._config.api.idempotency_hours), SWEEP_LIMIT
            )
        if self._expire_inbound is not None:
            report.inbound_incomplete = await self._expire_inbound()
        self._sweep_orphans()
        self._metrics.messages["unknown"] += report.lost + report.expired
        self._metrics.duplicate_receipts += report.duplicate_receipts
        self._metrics.unmatched_receipts += report.orphans_dropped
        self._metrics.idempotency_keys_expired += report.keys_expired
        for campaign in reminders:
            report.reminders_sent += await self._remind(campaign["id"], campaign["account_id"])
        for campaign in due:
            report.runs_started += await self._start(campaign["id"], campaign["account_id"])
        report.rests_stored = await self._runs.finish_rests()
        if any(
            (
                report.lost,
                report.expired,
                report.requeued,
                report.orphans_dropped,
                report.rests_stored,
            )
        ):
            log.info("maintenance: %s", report)
        return report

    async def _settle_orphans(self, conn: Any, report: TickReport, now: datetime) -> None:
        """Orphan receipts no part will take: duplicates, once every part submitted before
        them has had its lease's time to store its result (until then one of them may still
        be the owner), and, after the orphan time to live, the unmatched ones."""
        tracker = self._config.tracker
        window = tracker.receipt_window
        settled = now - timedelta(seconds=self._config.dispatcher.lease_seconds)
        report.duplicate_receipts = await store.drop_duplicate_orphans(
            conn, settled, window, SWEEP_LIMIT
        )
        dropped = await store.drop_old_orphans(
            conn, now - timedelta(hours=tracker.orphan_ttl_hours), SWEEP_LIMIT
        )
        for row in dropped:
            log.warning(
                "unmatched receipt given up after %g h: receipt group %s, id %s, state %s, "
                "received %s; no part with that id was submitted before it: %s",
                tracker.orphan_ttl_hours,
                row["bind"],
                row["canonical_id"],
                row["state"],
                row["received_at"].isoformat(),
                json.dumps(row["payload"], default=str),
            )
        report.orphans_dropped = len(dropped)

    async def _remind(self, campaign_id: int, account_id: int) -> int:
        try:
            sent = await self._runs.start_reminder(campaign_id=campaign_id, account_id=account_id)
        except HeraldError as exc:  # e.g. no credit: retried each tick until the run starts
            if -campaign_id not in self._failed_runs:
                self._failed_runs.add(-campaign_id)
                log.warning("campaign %s: reminder not sent: %s", campaign_id, exc)
            return 0
        return int(sent is not None)

    async def _start(self, campaign_id: int, account_id: int) -> int:
        try:
            await self._runs.start_run(campaign_id=campaign_id, account_id=account_id)
        except HeraldError as exc:
            # Another process started it first (StateError), or it cannot run: no recipients,
            # insufficient balance. The callback records it so it is not retried every tick.
            if campaign_id not in self._failed_runs:
                self._failed_runs.add(campaign_id)
                log.warning("scheduled campaign %s did not start: %s", campaign_id, exc)
            if self._on_run_failed is not None:
                await self._on_run_failed(campaign_id, account_id, exc)
            return 0
        self._failed_runs.discard(campaign_id)
        return 1
