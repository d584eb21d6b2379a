"""The sender ids and short codes an account may send from."""

from __future__ import annotations

import asyncpg

from herald.store.queries import queries


async def list_senders(conn: asyncpg.Connection, account_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(queries.list_senders, account_id)


async def add_sender(
    conn: asyncpg.Connection, account_id: int, address: str, kind: str, ton: int, npi: int
) -> asyncpg.Record | None:
    """The new sender, or None when the account already has this address."""
    return await conn.fetchrow(queries.add_sender, account_id, address, kind, ton, npi)


async def account_sender(
    conn: asyncpg.Connection, account_id: int, address: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(queries.account_sender, account_id, address)


async def account_sender_by_id(
    conn: asyncpg.Connection, sender_id: int, account_id: int
) -> asyncpg.Record | None:
    return await conn.fetchrow(queries.account_sender_by_id, sender_id, account_id)


async def set_inbound_callback(
    conn: asyncpg.Connection, sender_id: int, account_id: int, url: str | None
) -> asyncpg.Record | None:
    """The sender with its new inbound callback; None when the account has no such sender."""
    return await conn.fetchrow(queries.set_sender_inbound_callback, sender_id, account_id, url)
