"""What operators watch, read from the database: the backlog of messages waiting to be sent,
and whether the schema is the one this herald expects (`/readyz`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from typing import NamedTuple

from herald.store import migrations
from herald.store.queries import queries
from herald.store.rows import Conn, fetch_one


class BacklogCounts(NamedTuple):
    queued: int
    deferred: int
    oldest_due_seconds: float  # 0 when nothing is due


class AccountCredit(NamedTuple):
    account: str
    credit: int
    used_24h: int


class SchemaStatus(NamedTuple):
    pending: tuple[int, ...]  # migrations this herald has that the database lacks
    unknown: tuple[int, ...]  # migrations the database has that this herald does not know


async def backlog(conn: Conn, now: datetime) -> BacklogCounts:
    row = await fetch_one(conn, queries.backlog, now)
    return BacklogCounts(row["queued"], row["deferred"], max(0.0, row["oldest_due"]))


async def active_accounts_credit(
    conn: Conn, now: datetime, limit: int = 1000
) -> list[AccountCredit]:
    """Accounts whose campaigns ran in the last 30 days: their credit, and what they used
    in the last 24 hours."""
    rows = await conn.fetch(
        queries.active_accounts_credit, limit, now - timedelta(days=30), now - timedelta(days=1)
    )
    return [AccountCredit(r["name"], r["credit"], r["used_24h"]) for r in rows]


@cache
def _known() -> frozenset[int]:
    return frozenset(m.version for m in migrations.load_migrations())


async def schema_status(conn: Conn) -> SchemaStatus:
    known = _known()
    applied = set(await migrations.applied_versions(conn))
    return SchemaStatus(tuple(sorted(known - applied)), tuple(sorted(applied - known)))
