"""SQL for the send path: claiming messages, recording submit results and receipts, sweeps.

Every function takes a connection (the caller owns the transaction) and runs one named query
with arrays, never one statement per message.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from herald.store.queries import queries


async def claim_due_messages(
    conn: asyncpg.Connection, owner: str, limit: int, now: datetime, lease_until: datetime
) -> list[asyncpg.Record]:
    """Lease up to `limit` due messages: one row per part still to send (message columns,
    then seq, short_message, tlvs; a message with no part left comes once with seq NULL)."""
    return await conn.fetch(queries.claim_due_messages, owner, limit, now, lease_until)


async def dispatch_context(
    conn: asyncpg.Connection, campaign_ids: Sequence[int]
) -> list[asyncpg.Record]:
    """What the dispatcher needs to know about campaigns it sends for (sender, quiet hours)."""
    return await conn.fetch(queries.dispatch_context, list(campaign_ids))


async def write_results(
    conn: asyncpg.Connection,
    results: Sequence[tuple],
    receipted: Sequence[tuple],
    statuses: Sequence[tuple],
) -> set[int]:
    """One statement for a flush's writes; the ids of the messages whose status moved.

    results: (message_id, seq, state, smsc_id, canonical_id, command_status, submitted_at,
    bind's receipt group); receipted: the same, then receipt_state, receipt_error,
    network_error, receipt_at; statuses: (id, expected, status, reason, not_before, at[,
    bind]). Each
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
            (
                r[0],
                r[1],
                r[2],
                r[3],
                r[4] and r[4].timestamp(),
                r[5].timestamp(),
                r[6] if len(r) > 6 else None,  # the bind that sent it, when the row names one
            )
            for r in statuses
        ],
    )
    return {r["id"] for r in rows}


async def message_part_states(
    conn: asyncpg.Connection, message_ids: Sequence[int]
) -> list[asyncpg.Record]:
    return await conn.fetch(queries.message_part_states, list(message_ids))


async def apply_receipts(conn: asyncpg.Connection, rows: Sequence[tuple]) -> list[asyncpg.Record]:
    """rows: (bind, canonical_id, state, receipt_state, receipt_error, network_error, at,
    single_status, single_reason), the last two what a single-part message in 'sent' becomes.
    One result row per receipt that found its part: pos (1-based), message_id, seq,
    submitted_at, applied, settled (its single-part message moved), campaign_id."""
    if not rows:
        return []
    columns = [list(c) for c in zip(*rows, strict=True)]
    columns[6] = [at.timestamp() for at in columns[6]]  # epoch seconds, as in write_results
    return await conn.fetch(queries.apply_receipts, *columns)


async def park_orphan_receipts(conn: asyncpg.Connection, rows: Sequence[tuple]) -> None:
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
