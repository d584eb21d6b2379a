"""Retention: finished batches' messages and parts go in chunks, their totals stay; callbacks
go after their own time; nothing moving is touched; a stopped sweep resumes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from herald.campaigns.progress import campaign_progress
from herald.campaigns.reports import ReportService
from herald.delivery.retention import Retention
from herald.metrics import Metrics
from herald.store import retention as store
from herald.store.db import Database
from herald.store.queries import queries
from tests.integration.test_store_schema import (
    add_messages,
    add_parts,
    make_batch,
    numbers,
    plan_nodes,
    scanned,
)
from tests.support.factories import make_account
from tests.support.progress import counter_drift
from tests.support.retention import finished_campaign

T0 = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
WINDOW = 50 * 3600.0  # the tracker's receipt window, validity plus margin


async def sent_campaign(
    database: Database, count: int, *, finished: datetime, **options: Any
) -> tuple[int, int]:
    return await finished_campaign(database, count, finished=finished, now=T0, **options)


async def no_wait(seconds: float) -> None:
    await asyncio.sleep(0)


def retention(database: Database, metrics: Metrics | None = None, chunk: int = 3) -> Retention:
    return Retention(
        database,
        metrics=metrics or Metrics(),
        clock=lambda: T0,
        receipt_window=WINDOW,
        chunk=chunk,
        sleep=no_wait,
    )


async def counts(database: Database, batch: int) -> tuple[int, int]:
    async with database.acquire() as conn:
        messages = await conn.fetchval("SELECT count(*) FROM messages WHERE batch_id = $1", batch)
        parts = await conn.fetchval(
            "SELECT count(*) FROM parts p JOIN messages m ON m.id = p.message_id "
            "WHERE m.batch_id = $1",
            batch,
        )
    return messages, parts


async def progress(database: Database, campaign: int) -> dict[str, dict[str, int]]:
    async with database.acquire() as conn:
        return await campaign_progress(conn, campaign)


async def test_a_finished_batch_loses_its_messages_and_keeps_its_totals(
    database: Database,
) -> None:
    long_text = "Long " * 60  # two segments each
    old, old_batch = await sent_campaign(database, 10, finished=T0 - 100 * DAY, text=long_text)
    new, new_batch = await sent_campaign(database, 4, finished=T0 - 10 * DAY)
    before_old, before_new = await progress(database, old), await progress(database, new)
    assert before_old["messages"]["delivered"] == 5 and before_old["segments"]["delivered"] == 10
    metrics = Metrics()

    report = await retention(database, metrics).sweep(messages=90 * DAY, callbacks=None)

    assert (report.batches, report.messages, report.parts) == (1, 10, 20)
    assert (metrics.pruned_batches, metrics.pruned_messages) == (1, 10)
    assert await counts(database, old_batch) == (0, 0)
    assert await counts(database, new_batch) == (4, 4)  # ten days old: kept
    assert await progress(database, old) == before_old
    assert await progress(database, new) == before_new
    async with database.acquire() as conn:
        assert await counter_drift(conn) == []  # the pruned batch keeps its counters
    async with database.acquire() as conn:
        batch = await conn.fetchrow("SELECT * FROM batches WHERE id = $1", old_batch)
        totals = await conn.fetch(
            "SELECT status, reason, country, route, messages, segments FROM batch_totals "
            "WHERE batch_id = $1 ORDER BY status",
            old_batch,
        )
        parts = await conn.fetch(
            "SELECT bind, state, message_status, receipted, parts, accepted "
            "FROM batch_part_totals WHERE batch_id = $1 ORDER BY state",
            old_batch,
        )
    assert batch["pruned_at"] is not None and batch["prune_from"] is None
    assert (batch["messages_expected"], batch["segments_expected"]) == (10, 20)
    assert [tuple(t) for t in totals] == [
        ("delivered", None, "GR", "all", 5, 10),
        ("failed", "UNDELIV", "GR", "all", 5, 10),
    ]
    assert [tuple(p) for p in parts] == [
        ("x@127.0.0.1:2775", "delivered", "delivered", True, 10, 0),
        ("x@127.0.0.1:2775", "undeliverable", "failed", True, 10, 0),
    ]
    # A second sweep finds nothing more to do.
    again = await retention(database).sweep(messages=90 * DAY, callbacks=None)
    assert (again.batches, again.messages) == (0, 0)


async def test_the_campaign_report_reads_the_same_before_and_after_pruning(
    database: Database,
) -> None:
    # Every dimension of the report (statuses, reasons, countries, routes, carrier accounts,
    # messages sent and done over time, receipt latencies, credit) survives the messages and
    # parts it was read from: a pruned run is read from its totals (issue 19's report).
    campaign, batch = await sent_campaign(database, 40, finished=T0 - 100 * DAY)
    async with database.acquire() as conn:
        await conn.execute(
            """
            UPDATE messages SET done_at = done_at + (id % 7) * interval '50 seconds',
                   country = CASE WHEN id % 3 = 0 THEN 'CY' ELSE country END
            WHERE batch_id = $1
            """,
            batch,
        )
        await conn.execute(
            """
            UPDATE parts p SET smsc_id = 'id-' || p.message_id,
                   submitted_at = p.submitted_at + (p.message_id % 4) * interval '70 seconds',
                   receipt_at = p.submitted_at + (p.message_id % 4) * interval '70 seconds'
                                + (p.message_id % 9) * interval '1.37 seconds'
            FROM messages m WHERE m.id = p.message_id AND m.batch_id = $1
            """,
            batch,
        )
        account = await conn.fetchval("SELECT account_id FROM campaigns WHERE id = $1", campaign)
    reports = ReportService(database, clock=lambda: T0)
    before = {n: await reports.report(account, campaign, interval=n) for n in (60, 180)}
    assert before[60]["messages"]["accepted"] == 40 and before[60]["latency"]["samples"] == 40

    await retention(database).sweep(messages=90 * DAY, callbacks=None)

    assert await counts(database, batch) == (0, 0)
    for interval, report in before.items():
        assert await reports.report(account, campaign, interval=interval) == report


async def test_nothing_that_may_still_move_is_pruned(database: Database) -> None:
    # A message still waiting for its receipt keeps its whole batch; a batch that finished
    # inside the receipt window is kept whatever --older-than says.
    _waiting, waiting_batch = await sent_campaign(
        database, 3, finished=T0 - 100 * DAY, statuses=("delivered", "sent")
    )
    _recent, recent_batch = await sent_campaign(database, 3, finished=T0 - timedelta(hours=20))
    report = await retention(database).sweep(messages=timedelta(hours=1), callbacks=None)
    assert (report.batches, report.waiting) == (0, 1)
    assert await counts(database, waiting_batch) == (3, 3)
    assert await counts(database, recent_batch) == (3, 3)
    preview = await retention(database).preview(messages=timedelta(hours=1), callbacks=None)
    assert (preview.batches, preview.messages) == (1, 3)  # the waiting one, by its batch


async def test_a_sweep_stopped_half_way_is_resumed(database: Database) -> None:
    campaign, batch = await sent_campaign(database, 7, finished=T0 - 100 * DAY)
    before = await progress(database, campaign)
    async with database.acquire() as conn:
        pruning = await store.begin_pruning(conn, batch, T0 - 90 * DAY)
        assert pruning is not None and pruning.messages == 7 and pruning.prune_from is not None
        chunk = await store.prune_messages_chunk(conn, batch, pruning.prune_from, 3)
        assert chunk is not None and chunk.messages == 3 and chunk.prune_from is not None
        # An old position (another process moved on) deletes nothing.
        assert await store.prune_messages_chunk(conn, batch, pruning.prune_from, 3) is None
    # Half pruned, the progress already reads the totals alone.
    assert await counts(database, batch) == (4, 4)
    assert await progress(database, campaign) == before
    report = await retention(database).sweep(messages=90 * DAY, callbacks=None)
    assert (report.batches, report.messages) == (0, 4)
    assert await counts(database, batch) == (0, 0)
    assert await progress(database, campaign) == before


async def test_a_chunk_is_deleted_by_key_without_reading_the_tables(database: Database) -> None:
    # A chunk of 5,000 of a 20,000-message run: joined with the chunk, the planner hashed it
    # and read every row of parts and of messages for each chunk.
    async with database.acquire() as conn:
        ids = await make_batch(conn, "completed")
        messages = await add_messages(conn, ids, numbers(20_000))
        await add_parts(conn, messages)
        await conn.execute("ANALYZE messages; ANALYZE parts")
        await conn.execute("UPDATE batches SET prune_from = $2 WHERE id = $1", ids["batch"], 0)
        plan = await conn.fetchval(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + queries.prune_messages_chunk, ids["batch"], 0, 5000
        )
        left = await conn.fetchval("SELECT count(*) FROM parts")
    scans = scanned(plan_nodes(plan))
    assert not [scan for scan in scans if scan[0] == "Seq Scan"], scans
    assert left == 15_000


async def test_two_processes_pruning_at_once_delete_each_message_once(
    database: Database,
) -> None:
    batches = [(await sent_campaign(database, 9, finished=T0 - 100 * DAY))[1] for _ in range(4)]
    reports = await asyncio.gather(
        retention(database, chunk=2).sweep(messages=90 * DAY, callbacks=None),
        retention(database, chunk=2).sweep(messages=90 * DAY, callbacks=None),
    )
    assert sum(r.messages for r in reports) == 36, reports
    assert sum(r.batches for r in reports) == 4
    for batch in batches:
        assert await counts(database, batch) == (0, 0)
    async with database.acquire() as conn:
        kept = await conn.fetchval("SELECT sum(messages) FROM batch_totals")
    assert kept == 36


async def test_old_delivered_and_dead_callbacks_go_pending_ones_stay(database: Database) -> None:
    async with database.acquire() as conn:
        account = await make_account(conn)
        await conn.execute(
            """
            INSERT INTO callback_outbox (account_id, url, body, kind, status, created_at)
            SELECT $1, 'https://example.com/h', '{}', 'message', s, $2
            FROM unnest(ARRAY['delivered', 'dead', 'pending', 'delivered']::text[]) AS s
            """,
            account.id,
            T0 - 40 * DAY,
        )
        await conn.execute(
            "INSERT INTO callback_outbox (account_id, url, body, kind, status, created_at) "
            "VALUES ($1, 'https://example.com/h', '{}', 'message', 'delivered', $2)",
            account.id,
            T0 - 5 * DAY,
        )
    preview = await retention(database).preview(messages=None, callbacks=30 * DAY)
    assert preview.callbacks == 3
    report = await retention(database, chunk=2).sweep(messages=None, callbacks=30 * DAY)
    assert report.callbacks == 3
    async with database.acquire() as conn:
        left = await conn.fetch("SELECT status, created_at FROM callback_outbox ORDER BY id")
    assert [(r["status"], r["created_at"]) for r in left] == [
        ("pending", T0 - 40 * DAY),
        ("delivered", T0 - 5 * DAY),
    ]


async def test_deleting_a_pruned_campaign_takes_its_totals(database: Database) -> None:
    campaign, _batch = await sent_campaign(database, 3, finished=T0 - 100 * DAY)
    await retention(database).sweep(messages=90 * DAY, callbacks=None)
    async with database.acquire() as conn:
        account = await conn.fetchval("SELECT account_id FROM campaigns WHERE id = $1", campaign)
        await conn.execute("UPDATE campaigns SET status = 'completed' WHERE id = $1", campaign)
        assert await conn.fetchval(queries.delete_idle_campaign, campaign, account) == campaign
        assert await conn.fetchval("SELECT count(*) FROM batch_totals") == 0
        for table in ("batch_part_totals", "batch_minutes", "batch_latencies"):
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
