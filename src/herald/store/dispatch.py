"""SQL for the send path: claiming messages, recording submit results and receipts, sweeps.

Every function takes a connection (the caller owns the transaction) and runs one named query
with arrays, never one statement per message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple

import asyncpg

from herald.store.queries import queries
from herald.store.send_rows import PartOutcome, Receipt, StatusMove

# The claim serves transactional traffic (single messages) before bulk campaigns.
TrafficClass = Literal["transactional", "bulk"]


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
    traffic_class: TrafficClass
    weight: int
    priority: int


class Pick(NamedTuple):
    """Up to `messages` due messages to claim from one queue."""

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
    results: Sequence[PartOutcome],
    receipted: Sequence[PartOutcome],
    statuses: Sequence[StatusMove],
) -> set[int]:
    """One statement for a flush's writes; the ids of the messages whose status moved.

    results: parts' submit results; receipted: results whose receipt came in the same flush
    (the part is written once, with both); statuses: message compare-and-sets. Each kind goes
    as one array of the SQL row type its named tuple mirrors (part_outcome, status_move in
    schema.sql), as is. Nothing to write costs no round trip.

    PostgreSQL plans it once per connection and keeps the plan (after five runs it settles on
    a generic one): the statement is written so that no plan loops over one array per row of
    another (queries.sql), whatever sizes the planner guesses for them."""
    if not (results or receipted or statuses):
        return set()
    rows = await conn.fetch(queries.write_results, results, receipted, statuses)
    return {r["id"] for r in rows}


async def message_part_states(
    conn: asyncpg.Connection, message_ids: Sequence[int]
) -> list[asyncpg.Record]:
    return await conn.fetch(queries.message_part_states, list(message_ids))


async def apply_receipts(
    conn: asyncpg.Connection,
    receipts: Sequence[Receipt],
    singles: Sequence[tuple[str, str | None]],
    window: float,
) -> list[asyncpg.Record]:
    """Apply each receipt to the part it belongs to (queries.sql explains which), at most one
    receipt per (bind, canonical_id). `singles[i]` is the (status, reason) a single-part
    message in 'sent' takes on receipt i; `window` the receipt window in seconds. One row per
    receipt applied: pos (1-based), message_id, seq, submitted_at (epoch seconds), settled
    (its single-part message moved), campaign_id. The others found no part waiting."""
    if not receipts:
        return []
    return await conn.fetch(
        queries.apply_receipts,
        [r.bind for r in receipts],
        [r.canonical_id for r in receipts],
        [r.state for r in receipts],
        [r.receipt_state for r in receipts],
        [r.receipt_error for r in receipts],
        [r.network_error for r in receipts],
        [r.at for r in receipts],
        [status for status, _ in singles],
        [reason for _, reason in singles],
        window,
    )


async def park_orphan_receipts(conn: asyncpg.Connection, receipts: Sequence[Receipt]) -> None:
    """Store receipts no part waits for yet, with when they were received."""
    if receipts:
        await conn.execute(
            queries.park_orphan_receipts,
            [r.bind for r in receipts],
            [r.canonical_id for r in receipts],
            [r.state for r in receipts],
            [r.receipt_state for r in receipts],
            [r.receipt_error for r in receipts],
            [r.network_error for r in receipts],
            [r.payload for r in receipts],
            [r.at for r in receipts],
        )


def _orphans(rows: Sequence[asyncpg.Record]) -> list[Receipt]:
    """Taken orphans as receipts again, oldest first."""
    return sorted(
        (
            Receipt(
                r["bind"],
                r["canonical_id"],
                r["state"],
                r["receipt_state"],
                r["receipt_error"],
                r["network_error"],
                r["received_at"],
                r["payload"],
            )
            for r in rows
        ),
        key=lambda r: r.at,
    )


async def take_orphans_for_ids(
    conn: asyncpg.Connection, keys: Sequence[tuple[str, str]], window: float
) -> list[Receipt]:
    """Orphans with these (bind, canonical_id) that a waiting part may own, taken out."""
    if not keys:
        return []
    rows = await conn.fetch(
        queries.take_orphans_for_ids, [k[0] for k in keys], [k[1] for k in keys], window
    )
    return _orphans(rows)


async def take_matching_orphans(
    conn: asyncpg.Connection, window: float, limit: int
) -> list[Receipt]:
    """Up to `limit` orphans, of any id, that a waiting part may own, taken out."""
    return _orphans(await conn.fetch(queries.take_matching_orphans, window, limit))


async def orphans_waiting(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval(queries.orphans_waiting))


async def drop_duplicate_orphans(
    conn: asyncpg.Connection, received_before: datetime, window: float, limit: int
) -> int:
    """Remove orphans whose part had already taken its final receipt; how many."""
    return len(await conn.fetch(queries.drop_duplicate_orphans, received_before, window, limit))


async def drop_old_orphans(
    conn: asyncpg.Connection, before: datetime, limit: int
) -> list[asyncpg.Record]:
    """Remove orphans received before `before`; each (bind, canonical_id, state,
    received_at, payload), for the log."""
    return await conn.fetch(queries.drop_old_orphans, before, limit)


async def sweep_unreceipted(
    conn: asyncpg.Connection, sent_before: datetime, now: datetime, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(queries.sweep_unreceipted, sent_before, now, limit)


async def renew_leases(
    conn: asyncpg.Connection, owner: str, expiring_before: datetime, until: datetime
) -> int:
    """Extend `owner`'s leases that expire before `expiring_before` to `until`; how many."""
    status = await conn.execute(queries.renew_leases, owner, expiring_before, until)
    return int(status.rsplit(" ", 1)[-1])


async def reclaim_expired_leases(
    conn: asyncpg.Connection, now: datetime, limit: int, resend: bool, owner: str | None = None
) -> list[asyncpg.Record]:
    """Expired leases, and every lease of `owner` when given (that process restarted)."""
    return await conn.fetch(queries.reclaim_expired_leases, now, limit, owner, resend)


async def fold_batch_counts(conn: asyncpg.Connection, deltas: int, limit: int) -> int:
    """Fold the progress counters of batches with more than `deltas` rows not yet folded (at
    most `limit` batches); how many rows the folds left."""
    return len(await conn.fetch(queries.fold_batch_counts, deltas, limit))


async def notify_events(conn: asyncpg.Connection, payload: str) -> None:
    await conn.execute(queries.notify_events, payload)


async def finish_batches(
    conn: asyncpg.Connection, campaign_ids: Sequence[int] | None = None
) -> list[asyncpg.Record]:
    """Complete the batches whose messages are all final: every open batch, or only those of
    `campaign_ids`."""
    if campaign_ids is None:
        return await conn.fetch(queries.finish_batches)
    return await conn.fetch(queries.finish_campaign_batches, list(campaign_ids))


async def finish_campaigns(
    conn: asyncpg.Connection, campaign_ids: Sequence[int] | None = None
) -> list[asyncpg.Record]:
    """Complete the running or suspended campaigns whose batches are all final (all of them,
    or only `campaign_ids`)."""
    if campaign_ids is None:
        return await conn.fetch(queries.finish_campaigns)
    return await conn.fetch(queries.finish_listed_campaigns, list(campaign_ids))


async def due_campaigns(
    conn: asyncpg.Connection, now: datetime, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(queries.due_campaigns, now, limit)
