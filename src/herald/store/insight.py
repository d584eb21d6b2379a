"""SQL of campaign insight: reports, exports and the audience before a run
(store/sql/insight.sql)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from herald.store.queries import queries
from herald.store.rows import fetch_one


@dataclass(frozen=True, slots=True)
class AudienceSizes:
    """A campaign's audience by where it comes from, in the order a run reads it."""

    explicit: int  # numbers, recipient objects and file rows
    contacts: int
    members: int  # group member rows

    @property
    def total(self) -> int:
        return self.explicit + self.contacts + self.members


async def report_messages(
    conn: asyncpg.Connection, campaign_id: int, bucket_seconds: int
) -> list[asyncpg.Record]:
    return await _aggregate(conn, queries.report_messages, campaign_id, bucket_seconds)


async def report_parts(
    conn: asyncpg.Connection, campaign_id: int, bucket_seconds: int
) -> list[asyncpg.Record]:
    return await _aggregate(conn, queries.report_parts, campaign_id, bucket_seconds)


async def _aggregate(conn: asyncpg.Connection, sql: str, *args: object) -> list[asyncpg.Record]:
    """A report aggregate in a read-only transaction with room for its hash tables."""
    async with conn.transaction(readonly=True):
        await conn.execute(queries.report_memory)
        return await conn.fetch(sql, *args)


async def report_links(conn: asyncpg.Connection, campaign_id: int) -> asyncpg.Record:
    return await fetch_one(conn, queries.report_links, campaign_id)


async def report_clicks_over_time(
    conn: asyncpg.Connection, campaign_id: int, bucket_seconds: int
) -> list[asyncpg.Record]:
    return await conn.fetch(queries.report_clicks_over_time, campaign_id, bucket_seconds)


async def report_credit(conn: asyncpg.Connection, campaign_id: int) -> asyncpg.Record:
    return await fetch_one(conn, queries.report_credit, campaign_id)


_EXPORT = queries.export_messages.rstrip().rstrip(";")  # COPY (...) takes no terminator


async def export_chunk(
    conn: asyncpg.Connection, campaign_id: int, after: int, limit: int, with_clicks: bool
) -> bytes:
    """Up to `limit` messages after id `after`, in id order, as lines of the CSV export
    (COPY ... CSV: PostgreSQL writes them; one message per line, its id first)."""
    out = bytearray()

    async def collect(data: bytes) -> None:
        out.extend(data)

    await conn.copy_from_query(
        _EXPORT,
        campaign_id,
        after,
        limit,
        with_clicks,
        output=collect,
        format="csv",
    )
    return bytes(out)


async def has_clicks(conn: asyncpg.Connection, campaign_id: int) -> bool:
    return bool(await conn.fetchval(queries.campaign_has_clicks, campaign_id))


async def message_count(conn: asyncpg.Connection, campaign_id: int) -> int:
    """Messages the campaign's runs expanded (what an export will write)."""
    return int(await conn.fetchval(queries.count_campaign_messages_all, campaign_id))


async def audience_sizes(conn: asyncpg.Connection, campaign_id: int) -> AudienceSizes:
    row = await fetch_one(conn, queries.campaign_audience_sizes, campaign_id)
    return AudienceSizes(int(row["explicit"]), int(row["contacts"]), int(row["members"]))


async def recipient_totals(conn: asyncpg.Connection, campaign_ids: Sequence[int]) -> dict[int, int]:
    rows = await conn.fetch(queries.campaign_recipient_totals, list(campaign_ids))
    return {r["id"]: int(r["recipients"]) for r in rows}


_AUDIENCE_PAGES = {
    "explicit": "audience_explicit_page",
    "contacts": "audience_contacts_page",
    "members": "audience_members_page",
}


async def audience_page(
    conn: asyncpg.Connection, campaign_id: int, part: str, limit: int, offset: int
) -> list[asyncpg.Record]:
    """Rows `offset` to `offset + limit` of one part of the audience (`explicit`, `contacts`
    or `members`), in a run's order."""
    return await conn.fetch(queries[_AUDIENCE_PAGES[part]], campaign_id, limit, offset)
