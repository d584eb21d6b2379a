"""SQL of the campaign API: campaigns, their audience, progress, messages and lifecycle."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, NamedTuple

import asyncpg

from herald.errors import ConflictError
from herald.store.queries import queries
from herald.store.rows import fetch_one

# campaigns.kind: a campaign, or a request to POST /v1/messages (hidden from the campaign API)
CampaignKind = Literal["campaign", "message"]

# Columns of the campaigns table written on create and on edit, in query parameter order.
CAMPAIGN_FIELDS = (
    "name",
    "sender_id",
    "template",
    "fallback_values",
    "flash",
    "transcode",
    "respect_quiet_hours",
    "quiet_hours",
    "scheduled_at",
    "callback_url",
    "campaign_callback_url",
    "reminder",
    "ignore_invalid_numbers",
    "mobiles_only",
)


def _name_conflict(fields: Mapping[str, Any]) -> ConflictError:
    return ConflictError(f"a campaign named {fields['name']!r} already exists")


async def insert_campaign(
    conn: asyncpg.Connection, account_id: int, fields: Mapping[str, Any], status: str
) -> int:
    """A new campaign in `status`; ConflictError if the account has one of that name."""
    values = [fields[f] for f in CAMPAIGN_FIELDS]
    try:
        row = await fetch_one(conn, queries.create_campaign, account_id, *values, status)
    except asyncpg.UniqueViolationError:
        raise _name_conflict(fields) from None
    return int(row["id"])


async def name_campaign(conn: asyncpg.Connection, campaign_id: int) -> str:
    """Name a campaign created without one 'campaign <id>'; the name."""
    return str(await conn.fetchval(queries.name_campaign, campaign_id))


async def update_scheduled_campaign(
    conn: asyncpg.Connection, campaign_id: int, account_id: int, fields: Mapping[str, Any]
) -> bool:
    """False when the campaign is no longer scheduled; ConflictError on a name clash."""
    try:
        row = await conn.fetchrow(
            queries.update_scheduled_campaign,
            campaign_id,
            account_id,
            *(fields[f] for f in CAMPAIGN_FIELDS),
        )
    except asyncpg.UniqueViolationError:
        raise _name_conflict(fields) from None
    return row is not None


async def get_campaign(
    conn: asyncpg.Connection, campaign_id: int, account_id: int, *, lock: bool = False
) -> asyncpg.Record | None:
    """The campaign with its sender address; `lock` holds the row until the transaction ends."""
    query = queries.lock_campaign if lock else queries.campaign_with_sender
    return await conn.fetchrow(query, campaign_id, account_id)


async def delete_idle_campaign(conn: asyncpg.Connection, campaign_id: int, account_id: int) -> bool:
    return await conn.fetchval(queries.delete_idle_campaign, campaign_id, account_id) is not None


async def list_campaigns(
    conn: asyncpg.Connection,
    account_id: int,
    *,
    statuses: Sequence[str] | None,
    name_contains: str | None,
    created_from: datetime | None,
    created_before: datetime | None,
    scheduled_from: datetime | None,
    scheduled_before: datetime | None,
    sort: str,
    order: str,
    limit: int,
    offset: int,
) -> tuple[int, list[asyncpg.Record]]:
    """(total matching, one page); `sort` and `order` must come from the caller's whitelist."""
    where = (
        account_id,
        list(statuses) if statuses else None,
        name_contains,
        created_from,
        created_before,
        scheduled_from,
        scheduled_before,
    )
    total = await conn.fetchval(queries.count_campaigns, *where)
    rows = await conn.fetch(queries.list_campaigns, *where, sort, order, limit, offset)
    return int(total), rows


# --- audience ---------------------------------------------------------------------------------


RECIPIENT_COLUMNS = (
    "campaign_id",
    "source",
    "phone_raw",
    "name",
    "labels",
    "file_row",
    "client_ref",
)


class RecipientRow(NamedTuple):
    """A row of campaign_recipients: a recipient as the request or the file gave it."""

    source: str
    phone_raw: str
    name: str | None
    labels: Mapping[str, str]
    file_row: int | None
    client_ref: str | None = None


async def add_recipients(
    conn: asyncpg.Connection, campaign_id: int, rows: Sequence[RecipientRow]
) -> None:
    """Recipient rows, kept raw for expansion: COPYed (20,000 took 150 ms as one INSERT of
    arrays, 80 ms as COPY), with their counts by source."""
    if not rows:
        return
    await conn.copy_records_to_table(
        "campaign_recipients",
        records=[
            (campaign_id, r.source, r.phone_raw, r.name, r.labels, r.file_row, r.client_ref)
            for r in rows
        ],
        columns=RECIPIENT_COLUMNS,
    )
    counts = Counter(r.source for r in rows)
    await conn.execute(
        queries.count_campaign_recipients, campaign_id, list(counts), list(counts.values())
    )


async def delete_recipients(
    conn: asyncpg.Connection, campaign_id: int, sources: Sequence[str]
) -> None:
    await conn.execute(queries.delete_campaign_recipients, campaign_id, list(sources))


async def set_contacts(conn: asyncpg.Connection, campaign_id: int, ids: Sequence[int]) -> None:
    await conn.execute(queries.set_campaign_contacts, campaign_id, list(ids))


async def set_groups(conn: asyncpg.Connection, campaign_id: int, ids: Sequence[int]) -> None:
    await conn.execute(queries.set_campaign_groups, campaign_id, list(ids))


async def recipient_counts(conn: asyncpg.Connection, campaign_id: int) -> asyncpg.Record:
    return await fetch_one(conn, queries.campaign_recipient_counts, campaign_id)


async def sendable_contacts(
    conn: asyncpg.Connection,
    account_id: int,
    contact_ids: Sequence[int],
    group_ids: Sequence[int],
) -> tuple[int, int]:
    """(distinct phones, of which not blacklisted) among the contacts and group members."""
    row = await fetch_one(
        conn, queries.sendable_contacts, account_id, list(contact_ids), list(group_ids)
    )
    return int(row["phones"]), int(row["sendable"])


# --- progress and messages --------------------------------------------------------------------


# What a progress counter counts: messages by status, or segments by the status they show.
CountKind = Literal["messages", "segments"]


async def counts(conn: asyncpg.Connection, campaign_id: int) -> list[asyncpg.Record]:
    """(kind, status, n) of the campaign's runs, from their progress counters: kind
    'messages' by message status, 'segments' by the status each part counts under."""
    return await conn.fetch(queries.campaign_counts, campaign_id)


async def progress(conn: asyncpg.Connection, campaign_id: int) -> list[asyncpg.Record]:
    """(status, messages) per message status, counted over the campaign's messages (what
    `counts` keeps; for checks, not for every read)."""
    return await conn.fetch(queries.campaign_progress, campaign_id)


async def deferred(conn: asyncpg.Connection, campaign_id: int) -> list[asyncpg.Record]:
    """(reason, messages, next_at, last_at) of the campaign's deferred messages."""
    return await conn.fetch(queries.campaign_deferred, campaign_id)


async def part_states(conn: asyncpg.Connection, campaign_id: int) -> list[asyncpg.Record]:
    """(status of the message, state of the part, receipted, parts) of the campaign's runs,
    counted over its parts (what `counts` keeps; for checks, not for every read)."""
    return await conn.fetch(queries.campaign_part_states, campaign_id)


async def batches(conn: asyncpg.Connection, campaign_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(queries.campaign_batches, campaign_id)


async def list_messages(
    conn: asyncpg.Connection,
    campaign_id: int,
    *,
    statuses: Sequence[str] | None,
    batch_id: int | None,
    limit: int,
    offset: int,
    after: int | None = None,
) -> tuple[int | None, list[asyncpg.Record]]:
    """(total matching, one page). After a cursor (`after`, the last id of the page before)
    the total is not counted (None): that is a pass over the whole campaign per page."""
    where = (campaign_id, list(statuses) if statuses else None, batch_id)
    total = (
        None if after is not None else await conn.fetchval(queries.count_campaign_messages, *where)
    )
    rows = await conn.fetch(queries.list_campaign_messages, *where, limit, offset, after)
    return (None if total is None else int(total)), rows


# --- lifecycle --------------------------------------------------------------------------------


async def set_campaign_status(
    conn: asyncpg.Connection, campaign_id: int, expected: str, status: str
) -> bool:
    """Compare-and-set of the campaign's status."""
    return (
        await conn.fetchval(queries.set_campaign_status, campaign_id, expected, status) is not None
    )


async def stop_campaign(
    conn: asyncpg.Connection,
    campaign_id: int,
    expected: str,
    at: datetime,
    reason: Mapping[str, str],
) -> bool:
    """Compare-and-set to 'stopped', keeping when and why ({"code", "message"})."""
    row = await conn.fetchval(queries.stop_campaign, campaign_id, expected, at, dict(reason))
    return row is not None


async def set_batches_status(
    conn: asyncpg.Connection, campaign_id: int, expected: Sequence[str], status: str
) -> int:
    rows = await conn.fetch(
        queries.set_campaign_batches_status, campaign_id, list(expected), status
    )
    return len(rows)


async def stop_messages(
    conn: asyncpg.Connection, campaign_id: int, at: datetime
) -> list[asyncpg.Record]:
    """The campaign's queued and deferred messages, now stopped: (id, batch_id, part_count)."""
    return await conn.fetch(queries.stop_campaign_messages, campaign_id, at)


async def refund(
    conn: asyncpg.Connection, account_id: int, segments_by_batch: Mapping[int, int]
) -> int:
    """Give segments back to the account, off the batches that had paid for them; the new
    credit."""
    batches = list(segments_by_batch)
    return int(
        await conn.fetchval(
            queries.refund_batches, batches, [segments_by_batch[b] for b in batches], account_id
        )
    )
