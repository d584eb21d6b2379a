"""SQL for the send path: claiming messages, recording submit results and receipts, sweeps.

Every function takes a connection (the caller owns the transaction) and runs one named query
with arrays, never one statement per message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg

from herald.store.queries import queries


@dataclass(frozen=True, slots=True)
class QueueHead:
    """A batch's messages on one route that are queued or deferred (due_queues). `next_due`
    is the earliest not_before among them, in the future when every one of them waits
    (quiet hours, retry backoff)."""

    batch_id: int
    route: str  # '' for messages stored without a route
    next_due: datetime
    campaign_id: int
    account_id: int


@dataclass(frozen=True, slots=True)
class QueueOwner:
    """A campaign's traffic class and its account's share (queue_owners)."""

    campaign_id: int
    traffic_class: str  # 'transactional' or 'bulk'
    weight: int
    priority: int


class Pick(NamedTuple):
    """Up to `count` due messages to claim from one queue."""

    batch_id: int
    route: str
    messages: int  # `count` would shadow tuple.count


async def due_queues(conn: asyncpg.Connection, after_batch: int = 0) -> list[QueueHead]:
    """Every queue with messages queued or deferred of every sending batch whose id is above
    `after_batch`."""
    return [QueueHead(**row) for row in await conn.fetch(queries.due_queues, after_batch)]


async def newest_sending_batch(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval(queries.newest_sending_batch))


async def queue_owners(conn: asyncpg.Connection, campaign_ids: Sequence[int]) -> list[QueueOwner]:
    return [QueueOwner(**row) for row in await conn.fetch(queries.queue_owners, campaign_ids)]


async def claim_due_messages(
    conn: asyncpg.Connection,
    owner: str,
    picks: Sequence[Pick],
    now: datetime,
    lease_until: datetime,
) -> list[asyncpg.Record]:
    """Lease up to `pick.messages` due messages of each picked queue, oldest first: one row per
    part still to send (message columns with the queue's batch_id and route, then seq,
    short_message, tlvs; a message with no part left comes once with seq NULL)."""
    if not picks:
        return []
    return await conn.fetch(
        queries.claim_due_messages,
        owner,
        [p.batch_id for p in picks],
        [p.route for p in picks],
        [p.messages for p in picks],
        now,
        lease_until,
    )


async def dispatch_context(
    conn: asyncpg.Connection, campaign_ids: Sequence[int]
) -> list[asyncpg.Record]:
    """What the dispatcher needs to know about campaigns it sends for (sender, quiet hours)."""
    return await conn.fetch(queries.dispatch_context, list(campaign_ids))


async def write_results(
    conn: asyncpg.Connection,
    results: Sequence[tuple[Any, ...]],
    receipted: Sequence[tuple[Any, ...]],
    statuses: Sequence[tuple[Any, ...]],
) -> set[int]:
    """One statement for a flush's writes; the ids of the messages whose status moved.

    results: (message_id, seq, state, smsc_id, canonical_id, command_status, submitted_at,
    bind's receipt group); receipted: the same, then receipt_state, receipt_error,
    network_error, receipt_at; statuses: (id, expected, status, reason, not_before, at). Each
    kind goes as one array of rows (part_outcome, part_outcome, status_move), its times as
    epoch seconds (see the row types in schema.sql). Nothing to write costs no round trip."""
    if not (results or receipted or statuses):
        return set()
    rows = await conn.fetch(
        queries.write_results,
        [
            (
                m,
                seq,
                state,
                smsc,
                canonical,
                status,
                submitted.timestamp(),
                group,
                None,
                None,
                None,
                None,
            )
            for m, seq, state, smsc, canonical, status, submitted, group in results
        ],
        [(*r[:6], r[6].timestamp(), *r[7:11], r[11].timestamp()) for r in receipted],
        [
            (m, expected, status, reason, not_before and not_before.timestamp(), at.timestamp())
            for m, expected, status, reason, not_before, at in statuses
        ],
    )
    return {r["id"] for r in rows}


async def message_part_states(
    conn: asyncpg.Connection, message_ids: Sequence[int]
) -> list[asyncpg.Record]:
    return await conn.fetch(queries.message_part_states, list(message_ids))


async def apply_receipts(
    conn: asyncpg.Connection, rows: Sequence[tuple[Any, ...]]
) -> list[asyncpg.Record]:
    """rows: (bind, canonical_id, state, receipt_state, receipt_error, network_error, at,
    single_status, single_reason), the last two what a single-part message in 'sent' becomes.
    One result row per receipt that found its part: pos (1-based), message_id, seq,
    submitted_at, applied, settled (its single-part message moved), campaign_id."""
    if not rows:
        return []
    columns = [list(c) for c in zip(*rows, strict=True)]
    columns[6] = [at.timestamp() for at in columns[6]]  # epoch seconds, as in write_results
    return await conn.fetch(queries.apply_receipts, *columns)


async def park_orphan_receipts(conn: asyncpg.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """rows: (bind, canonical_id, state, receipt_state, receipt_error, network_error, payload,
    received_at)."""
    if rows:
        columns = [list(c) for c in zip(*rows, strict=True)]
        await conn.execute(queries.park_orphan_receipts, *columns)


async def take_matching_orphans(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(queries.take_matching_orphans)


async def drop_old_orphans(conn: asyncpg.Connection, before: datetime) -> int:
    return len(await conn.fetch(queries.drop_old_orphans, before))


async def sweep_unreceipted(
    conn: asyncpg.Connection, sent_before: datetime, now: datetime, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(queries.sweep_unreceipted, sent_before, now, limit)


async def reclaim_expired_leases(
    conn: asyncpg.Connection, now: datetime, limit: int, resend: bool, owner: str | None = None
) -> list[asyncpg.Record]:
    """Expired leases, and every lease of `owner` when given (that process restarted)."""
    return await conn.fetch(queries.reclaim_expired_leases, now, limit, owner, resend)


async def notify_events(conn: asyncpg.Connection, payload: str) -> None:
    await conn.execute(queries.notify_events, payload)


async def finish_batches(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(queries.finish_batches)


async def finish_campaigns(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(queries.finish_campaigns)


async def due_campaigns(
    conn: asyncpg.Connection, now: datetime, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(queries.due_campaigns, now, limit)
