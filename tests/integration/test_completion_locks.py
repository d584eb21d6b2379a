"""Completing batches and campaigns never waits for a row another transaction holds. The
maintenance tick (every open batch) and the writer's check (the campaigns of its flush) run at
once; while each waited for the rows the other had updated, in its own order, they deadlocked
and PostgreSQL failed the tick (store/sql/dispatch.sql, finish_batches). A wait shows here as
the lock timeout set for the statement; it is a bound, not a sleep."""

from __future__ import annotations

import asyncpg
import pytest

from herald.store import dispatch as store
from herald.store.db import Database
from tests.integration.test_store_schema import add_messages, make_batch, numbers

pytestmark = pytest.mark.raw_rows  # messages are made final by hand, not their counters


async def finished_run(conn: asyncpg.Connection, account: str) -> dict[str, int]:
    """A running campaign whose one batch has only final messages: complete, not yet marked."""
    ids = await make_batch(conn, account_name=account)
    await add_messages(conn, ids, numbers(3, f"+34{len(account)}"))
    await conn.execute("UPDATE messages SET status = 'delivered' WHERE batch_id = $1", ids["batch"])
    return ids


async def no_wait(conn: asyncpg.Connection) -> None:
    await conn.execute("SET LOCAL lock_timeout = '5s'")


def ids_of(rows: list[asyncpg.Record]) -> list[int]:
    return sorted(r["id"] for r in rows)


async def test_the_tick_completes_around_what_the_writer_is_completing(
    database: Database,
) -> None:
    async with database.acquire() as writer, database.acquire() as tick:
        first, second = await finished_run(writer, "acme"), await finished_run(writer, "beta")
        async with writer.transaction():
            # The writer's check for the second campaign holds its batch, not yet committed.
            held = await store.finish_batches(writer, [second["campaign"]])
            assert ids_of(held) == [second["batch"]]
            async with tick.transaction():
                await no_wait(tick)
                batches = await store.finish_batches(tick)
                campaigns = await store.finish_campaigns(tick)
            assert ids_of(batches) == [first["batch"]]
            assert ids_of(campaigns) == [first["campaign"]]
            assert ids_of(await store.finish_campaigns(writer, [second["campaign"]])) == [
                second["campaign"]
            ]
        statuses = await writer.fetch(
            "SELECT status FROM campaigns UNION ALL SELECT status FROM batches"
        )
    assert {r["status"] for r in statuses} == {"completed"}


async def test_a_batch_skipped_while_held_is_completed_at_the_next_tick(
    database: Database,
) -> None:
    async with database.acquire() as writer, database.acquire() as tick:
        run = await finished_run(writer, "acme")
        held = writer.transaction()
        await held.start()
        assert ids_of(await store.finish_batches(writer, [run["campaign"]])) == [run["batch"]]
        async with tick.transaction():
            await no_wait(tick)
            assert await store.finish_batches(tick) == []
        await held.rollback()  # the writer's check failed after all
        async with tick.transaction():
            assert ids_of(await store.finish_batches(tick)) == [run["batch"]]


async def test_a_campaign_held_elsewhere_is_left_to_the_next_tick(database: Database) -> None:
    async with database.acquire() as other, database.acquire() as tick:
        run = await finished_run(other, "acme")
        async with tick.transaction():
            assert ids_of(await store.finish_batches(tick)) == [run["batch"]]
        held = other.transaction()
        await held.start()
        # Another transaction holds the campaign row (as a run starting on it does).
        await other.execute("SELECT 1 FROM campaigns WHERE id = $1 FOR UPDATE", run["campaign"])
        async with tick.transaction():
            await no_wait(tick)
            assert await store.finish_campaigns(tick) == []
        await held.rollback()
        async with tick.transaction():
            assert ids_of(await store.finish_campaigns(tick)) == [run["campaign"]]
