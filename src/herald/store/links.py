"""SQL of per-recipient links: link settings, codes COPYed at expansion, the redirect's
lookup, clicks and opt-outs (store/sql/links.sql)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg

from herald.errors import StoreError
from herald.store.queries import queries
from herald.store.rows import fetch_one

# What a per-recipient link is (links.kind), and what recipients do with it (link_events.kind).
LinkKind = Literal["click", "opt_out"]

LINK_COLUMNS = ("code", "message_id", "batch_id", "kind")


class LinkCodeCollision(StoreError):
    """A code drawn at expansion is already some other link's (72 random bits: about one
    run in 10^7 at a billion stored links). The run's transaction is void; run it again."""


@dataclass(frozen=True, slots=True)
class LinkSettings:
    track_link_url: str | None
    track_link_params: dict[str, str]
    opt_out_link: bool


@dataclass(frozen=True, slots=True)
class Link:
    """A link found by its code, with what the redirect and the opt-out page need."""

    code: str
    kind: str
    message_id: int
    batch_id: int
    campaign_id: int
    link_url: str | None  # where a tracked link redirects
    finished_at: datetime | None  # when its run ended (None: still going)


@dataclass(frozen=True, slots=True)
class OptOutSubject:
    message_id: int
    account_id: int
    phone: str
    sender: str
    opted_out: bool  # through this link, before


async def campaign_link_settings(conn: asyncpg.Connection, campaign_id: int) -> LinkSettings:
    row = await conn.fetchrow(queries.campaign_link_settings, campaign_id)
    if row is None:
        return LinkSettings(None, {}, False)
    return LinkSettings(row["track_link_url"], dict(row["track_link_params"]), row["opt_out_link"])


async def click_counts(conn: asyncpg.Connection, campaign_id: int) -> dict[str, int]:
    """{"clicks": clicks on the campaign's tracked links, "unique": messages clicked}."""
    row = await fetch_one(conn, queries.campaign_click_counts, campaign_id)
    return {"clicks": int(row["clicks"]), "unique": int(row["unique"])}


async def set_campaign_links(
    conn: asyncpg.Connection,
    campaign_id: int,
    track_link_url: str | None,
    track_link_params: Mapping[str, str],
    opt_out_link: bool,
) -> None:
    await conn.execute(
        queries.set_campaign_links,
        campaign_id,
        track_link_url,
        dict(track_link_params),
        opt_out_link,
    )


async def set_batch_link_url(conn: asyncpg.Connection, batch_id: int, url: str) -> None:
    await conn.execute(queries.set_batch_link_url, batch_id, url)


async def copy_links(conn: asyncpg.Connection, rows: Sequence[tuple[str, int, int, str]]) -> None:
    """COPY link rows (LINK_COLUMNS); LinkCodeCollision when a code is taken."""
    try:
        await conn.copy_records_to_table("links", records=rows, columns=list(LINK_COLUMNS))
    except asyncpg.UniqueViolationError as exc:
        raise LinkCodeCollision(f"a link code is taken already: {exc}") from None


async def link_by_code(conn: asyncpg.Connection, code: str, kind: str) -> Link | None:
    row = await conn.fetchrow(queries.link_by_code, code, kind)
    return None if row is None else Link(**dict(row))


async def opt_out_subject(conn: asyncpg.Connection, message_id: int) -> OptOutSubject | None:
    row = await conn.fetchrow(queries.opt_out_subject, message_id)
    return None if row is None else OptOutSubject(**dict(row))


async def opt_out_through_link(
    conn: asyncpg.Connection,
    subject: OptOutSubject,
    campaign_id: int,
    at: datetime,
    user_agent: str | None,
) -> bool:
    """Blacklist the subject's number for its account and record the opt-out; True when this
    call recorded it (False: this link was used before)."""
    event = await conn.fetchval(
        queries.opt_out_through_link,
        subject.message_id,
        subject.account_id,
        subject.phone,
        campaign_id,
        at,
        user_agent,
    )
    return event is not None


async def insert_clicks(
    conn: asyncpg.Connection,
    message_ids: Sequence[int],
    campaign_ids: Sequence[int],
    ats: Sequence[datetime],
    user_agents: Sequence[str | None],
) -> list[int]:
    """The clicks as link events; their ids."""
    rows = await conn.fetch(
        queries.insert_clicks, list(message_ids), list(campaign_ids), list(ats), list(user_agents)
    )
    return [r["id"] for r in rows]


async def enqueue_click_callbacks(conn: asyncpg.Connection, event_ids: Sequence[int]) -> int:
    """`message.clicked` outbox rows for the clicks whose campaign has a callback URL."""
    rows: list[Any] = await conn.fetch(queries.enqueue_click_callbacks, list(event_ids))
    return len(rows)
