"""SQL for starting a run: the campaign, its audience as a stream, and bulk loading."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Literal, NamedTuple

import asyncpg

from herald.store.queries import queries
from herald.store.rows import fetch_one

# A batch is a run of its campaign, or the send of a reminder to the test numbers before one.
BatchKind = Literal["run", "reminder"]


async def campaign_for_run(
    conn: asyncpg.Connection, campaign_id: int, account_id: int
) -> asyncpg.Record | None:
    return await conn.fetchrow(queries.campaign_for_run, campaign_id, account_id)


async def create_batch(
    conn: asyncpg.Connection,
    campaign_id: int,
    description: str | None,
    template: str | None,
    kind: BatchKind = "run",
) -> asyncpg.Record:
    """A batch in 'expanding': a run, or (`kind` 'reminder') a reminder's send."""
    return await fetch_one(conn, queries.create_batch, campaign_id, description, template, kind)


async def blacklist(conn: asyncpg.Connection, account_id: int) -> set[str]:
    return {r["phone"] for r in await conn.fetch(queries.blacklisted_phones, account_id)}


async def blacklisted_recipients(
    conn: asyncpg.Connection, campaign_id: int, account_id: int
) -> set[str]:
    """Which of the campaign's recipient rows (stored as E.164) the account blacklisted."""
    rows = await conn.fetch(queries.blacklisted_recipients, campaign_id, account_id)
    return {r["phone"] for r in rows}


async def audience(
    conn: asyncpg.Connection, campaign_id: int, chunk: int
) -> AsyncIterator[list[asyncpg.Record]]:
    """The campaign's recipients in chunks, through a server-side cursor (constant memory).
    Must run inside a transaction."""
    cursor = await conn.cursor(queries.campaign_audience, campaign_id)
    while rows := await cursor.fetch(chunk):
        yield rows


async def reserve_message_ids(conn: asyncpg.Connection, count: int) -> list[int]:
    return [r["id"] for r in await conn.fetch(queries.reserve_message_ids, count)]


async def copy_rows(
    conn: asyncpg.Connection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[tuple[object, ...]],
) -> None:
    """Bulk-load rows with COPY (several times faster than INSERT for expansion)."""
    if rows:
        await conn.copy_records_to_table(table, records=rows, columns=list(columns))


async def add_counts(
    conn: asyncpg.Connection, batch_id: int, counts: Mapping[tuple[str, str], int]
) -> None:
    """Progress counters for rows just stored: {(kind, status): how many}, kind 'messages'
    or 'segments' (schema.sql, batch_counts)."""
    if counts:
        keys = list(counts)
        await conn.execute(
            queries.add_batch_counts,
            batch_id,
            [kind for kind, _ in keys],
            [status for _, status in keys],
            [counts[k] for k in keys],
        )


async def reserve_credit(conn: asyncpg.Connection, account_id: int, segments: int) -> int | None:
    """Take `segments` from the account; the new balance, or None when it cannot cover them."""
    credit = await conn.fetchval(queries.reserve_credit, account_id, segments)
    return None if credit is None else int(credit)


async def account_credit(conn: asyncpg.Connection, account_id: int) -> int:
    return int(await conn.fetchval(queries.account_credit, account_id) or 0)


async def finish_expansion(
    conn: asyncpg.Connection,
    batch_id: int,
    messages: int,
    segments: int,
    credit: int,
    id_range: tuple[int, int] | None,
    rest_pending: bool = False,
) -> bool:
    """Batch expanded; `id_range` bounds the ids its messages took (None: it has none).
    `rest_pending`: some of those messages are stored after this transaction commits."""
    first, last = id_range or (None, None)
    return (
        await conn.fetchval(
            queries.finish_expansion,
            batch_id,
            messages,
            segments,
            credit,
            first,
            last,
            rest_pending,
        )
        is not None
    )


class RestLock(NamedTuple):
    """A batch locked with its campaign (lock_rest), and what its run planned."""

    rest_pending: bool
    campaign_id: int
    account_id: int
    template: str | None
    messages_expected: int
    segments_expected: int
    first_message_id: int | None
    last_message_id: int | None


async def lock_rest(conn: asyncpg.Connection, batch_id: int) -> RestLock | None:
    """Lock batch `batch_id` and its campaign; None when the batch does not exist."""
    row = await conn.fetchrow(queries.lock_rest, batch_id)
    return None if row is None else RestLock(**dict(row))


async def end_rest(
    conn: asyncpg.Connection,
    batch_id: int,
    messages: int,
    segments: int,
    id_range: tuple[int, int] | None,
) -> bool:
    """The batch's rest is stored: it may complete now."""
    first, last = id_range or (None, None)
    return (
        await conn.fetchval(queries.end_rest, batch_id, messages, segments, first, last) is not None
    )


async def pending_rests(
    conn: asyncpg.Connection,
    started_before: datetime | None,
    limit: int,
    campaign_id: int | None = None,
) -> list[int]:
    """Batches whose rest is still to be stored: started before `started_before`, or any of
    campaign `campaign_id`'s."""
    rows = await conn.fetch(queries.pending_rests, started_before, limit, campaign_id)
    return [r["id"] for r in rows]


class StoredMessage(NamedTuple):
    phone: str
    segments: int


async def stored_batch_messages(conn: asyncpg.Connection, batch_id: int) -> list[StoredMessage]:
    rows = await conn.fetch(queries.stored_batch_messages, batch_id)
    return [StoredMessage(**dict(r)) for r in rows]


async def start_campaign(conn: asyncpg.Connection, campaign_id: int, expected: str) -> bool:
    """`expected` -> running: its schedule used up, its last stop forgotten."""
    return await conn.fetchval(queries.start_campaign, campaign_id, expected) is not None


# The statistics target of the ANALYZE after a bulk load (PostgreSQL's default is 100).
# What the send path's plans need from it is the tables' size and their key columns' spread,
# and 10 gives them (tests/integration/test_store_schema.py holds the claim and the flush to
# index probes with it). At 100 it sampled 30,000 rows and sorted every text column: 140-190
# ms of PostgreSQL's CPU after each 20,000-message run, against 25-35 ms at 10. Autovacuum's
# own ANALYZE, at the server's target, replaces these statistics later.
LOAD_STATISTICS_TARGET = 10


async def analyze_after_load(conn: asyncpg.Connection) -> None:
    """Refresh planner statistics after a bulk load: a freshly COPYed batch is invisible to
    the planner until autovacuum samples it, and the claim and receipt queries would fall
    back to sequential scans meanwhile. The caller's transaction, if any, keeps its setting:
    the lower target is set for these two statements only."""
    async with conn.transaction():
        await conn.execute(
            f"SET LOCAL default_statistics_target = {LOAD_STATISTICS_TARGET};"
            " ANALYZE messages; ANALYZE parts;"
            " SET LOCAL default_statistics_target TO DEFAULT"
        )


async def mark_reminder_sent(conn: asyncpg.Connection, campaign_id: int, at: datetime) -> bool:
    return await conn.fetchval(queries.mark_reminder_sent, campaign_id, at) is not None


async def due_reminders(
    conn: asyncpg.Connection, now: datetime, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(queries.due_reminders, now, limit)
