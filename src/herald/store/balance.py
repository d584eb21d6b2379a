"""Accounts seen by the API and the CLI: credit, what runs used, fair share, lookup by name."""

from __future__ import annotations

import asyncpg

from herald.store.queries import queries


async def account_by_name(conn: asyncpg.Connection, name: str) -> asyncpg.Record | None:
    return await conn.fetchrow(queries.account_by_name, name)


async def add_credit_by_name(conn: asyncpg.Connection, name: str, amount: int) -> int | None:
    """The new balance of account `name`, or None if there is no such account. A correction
    that would make the balance negative raises asyncpg.CheckViolationError."""
    row = await conn.fetchrow(queries.add_credit_by_name, name, amount)
    return None if row is None else int(row["credit"])


async def set_share_by_name(
    conn: asyncpg.Connection, name: str, weight: int | None, priority: int | None
) -> asyncpg.Record | None:
    """Set account `name`'s weight and priority (None: keep it); the values now, or None if
    there is no such account."""
    return await conn.fetchrow(queries.set_account_share, name, weight, priority)


async def balance(conn: asyncpg.Connection, account_id: int) -> asyncpg.Record | None:
    """The account's credit and what its runs used in all; None if there is no such account."""
    return await conn.fetchrow(queries.account_balance, account_id)


async def recent_batches(
    conn: asyncpg.Connection, account_id: int, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(queries.recent_batches, account_id, limit)
