"""SQL of campaign insight: reports, exports and the audience before a run
(store/sql/insight.sql)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from herald.store.queries import queries


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
    return await conn.fetch(queries.report_messages, campaign_id, bucket_seconds)


async def report_parts(
    conn: asyncpg.Connection, campaign_id: int, bucket_seconds: int
) -> list[asyncpg.Record]:
    return await conn.fetch(queries.report_parts, campaign_id, bucket_seconds)


async def report_latency(conn: asyncpg.Connection, campaign_id: int) -> asyncpg.Record:
    return await conn.fetchrow(queries.report_latency, campaign_id)


async def report_links(conn: asyncpg.Connection, campaign_id: int) -> asyncpg.Record:
    return await conn.fetchrow(queries.report_links, campaign_id)


async def report_clicks_over_time(
    conn: asyncpg.Connection, campaign_id: int, bucket_seconds: int
) -> list[asyncpg.Record]:
    return await conn.fetch(queries.report_clicks_over_time, campaign_id, bucket_seconds)


async def report_credit(conn: asyncpg.Connection, campaign_id: int) -> asyncpg.Record:
    return await conn.fetchrow(queries.report_credit, campaign_id)


async def export_chunk(
    conn: asyncpg.Connection, campaign_id: int, after: int, limit: int, with_clicks: bool
) -> list[asyncpg.Record]:
    """Up to `limit` messages after id `after`, in id order, as the export writes them."""
    return await conn.fetch(queries.export_messages, campaign_id, after, limit, with_clicks)


async def has_clicks(conn: asyncpg.Connection, campaign_id: int) -> bool:
    return bool(await conn.fetchval(queries.campaign_has_clicks, campaign_id))


async def message_count(conn: asyncpg.Connection, campaign_id: int) -> int:
    """Messages the campaign's runs expanded (what an export will write)."""
    return int(await conn.fetchval(queries.count_campaign_messages_all, campaign_id))


async def audience_sizes(conn: asyncpg.Connection, campaign_id: int) -> AudienceSizes:
    row = await conn.fetchrow(queries.campaign_audience_sizes, campaign_id)
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
