"""An account's address book: contacts, groups and their members, and the blacklist."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import asyncpg

from herald.errors import ConflictError
from herald.store.queries import queries

# blacklist.source: added through the API, or by the number's own opt-out (STOP)
BlacklistSource = Literal["api", "opt_out", "opt_out_link"]

# --- contacts ---------------------------------------------------------------------------------


async def insert_contact(
    conn: asyncpg.Connection,
    account_id: int,
    phone: str,
    name: str | None,
    labels: Mapping[str, str],
) -> asyncpg.Record | None:
    """The new contact, or None when the account already has one with this phone."""
    return await conn.fetchrow(queries.insert_contact, account_id, phone, name, dict(labels))


async def get_contact(
    conn: asyncpg.Connection, contact_id: int, account_id: int
) -> asyncpg.Record | None:
    return await conn.fetchrow(queries.get_contact, contact_id, account_id)


async def update_contact(
    conn: asyncpg.Connection,
    contact_id: int,
    account_id: int,
    phone: str,
    name: str | None,
    labels: Mapping[str, str],
) -> asyncpg.Record | None:
    """The updated contact, None if not found; ConflictError if another has the phone."""
    try:
        return await conn.fetchrow(
            queries.update_contact, contact_id, account_id, phone, name, dict(labels)
        )
    except asyncpg.UniqueViolationError:
        raise ConflictError(f"another contact has the phone {phone}") from None


async def delete_contact(conn: asyncpg.Connection, contact_id: int, account_id: int) -> bool:
    return await conn.fetchval(queries.delete_contact, contact_id, account_id) is not None


async def list_contacts(
    conn: asyncpg.Connection,
    account_id: int,
    *,
    phone_prefix: str | None,
    name_contains: str | None,
    group_id: int | None,
    limit: int,
    offset: int,
) -> tuple[int, list[asyncpg.Record]]:
    """(total matching, one page)."""
    where = (account_id, phone_prefix, name_contains, group_id)
    total = await conn.fetchval(queries.count_contacts, *where)
    rows = await conn.fetch(queries.list_contacts, *where, limit, offset)
    return int(total), rows


async def import_contacts(
    conn: asyncpg.Connection,
    account_id: int,
    rows: Sequence[tuple[str, str | None, Mapping[str, str]]],
) -> list[asyncpg.Record]:
    """Upsert (phone, name, labels) rows by phone: (id, phone, inserted) per row."""
    return await conn.fetch(
        queries.import_contacts,
        account_id,
        [r[0] for r in rows],
        [r[1] for r in rows],
        [dict(r[2]) for r in rows],
    )


async def account_contact_ids(
    conn: asyncpg.Connection, account_id: int, ids: Sequence[int]
) -> set[int]:
    return {r["id"] for r in await conn.fetch(queries.account_contact_ids, account_id, list(ids))}


# --- groups -----------------------------------------------------------------------------------


async def insert_group(
    conn: asyncpg.Connection, account_id: int, name: str
) -> asyncpg.Record | None:
    """The new group, or None when the account already has a group of that name."""
    return await conn.fetchrow(queries.insert_group, account_id, name)


async def get_group(
    conn: asyncpg.Connection, group_id: int, account_id: int
) -> asyncpg.Record | None:
    return await conn.fetchrow(queries.get_group, group_id, account_id)


async def list_groups(
    conn: asyncpg.Connection, account_id: int, *, limit: int, offset: int
) -> tuple[int, list[asyncpg.Record]]:
    total = await conn.fetchval(queries.count_groups, account_id)
    return int(total), await conn.fetch(queries.list_groups, account_id, limit, offset)


async def rename_group(
    conn: asyncpg.Connection, group_id: int, account_id: int, name: str
) -> asyncpg.Record | None:
    try:
        return await conn.fetchrow(queries.rename_group, group_id, account_id, name)
    except asyncpg.UniqueViolationError:
        raise ConflictError(f"a group named {name!r} already exists") from None


async def delete_group(conn: asyncpg.Connection, group_id: int, account_id: int) -> bool:
    return await conn.fetchval(queries.delete_group, group_id, account_id) is not None


async def add_group_members(
    conn: asyncpg.Connection, group_id: int, contact_ids: Sequence[int]
) -> None:
    """The caller has checked that the group and the contacts belong to one account."""
    await conn.execute(queries.add_group_members, group_id, list(contact_ids))


async def remove_group_member(conn: asyncpg.Connection, group_id: int, contact_id: int) -> bool:
    return await conn.fetchval(queries.remove_group_member, group_id, contact_id) is not None


async def account_group_ids(
    conn: asyncpg.Connection, account_id: int, ids: Sequence[int]
) -> set[int]:
    return {r["id"] for r in await conn.fetch(queries.account_group_ids, account_id, list(ids))}


# --- blacklist --------------------------------------------------------------------------------


async def list_blacklist(
    conn: asyncpg.Connection, account_id: int, *, limit: int, offset: int
) -> tuple[int, list[asyncpg.Record]]:
    total = await conn.fetchval(queries.count_blacklist, account_id)
    return int(total), await conn.fetch(queries.list_blacklist, account_id, limit, offset)


async def add_to_blacklist(
    conn: asyncpg.Connection, account_id: int, phones: Sequence[str], source: BlacklistSource
) -> None:
    await conn.execute(queries.add_to_blacklist, account_id, list(phones), source)


async def remove_from_blacklist(conn: asyncpg.Connection, account_id: int, phone: str) -> bool:
    return await conn.fetchval(queries.remove_from_blacklist, account_id, phone) is not None


async def blacklisted_among(
    conn: asyncpg.Connection, account_id: int, phones: Sequence[str]
) -> set[str]:
    rows = await conn.fetch(queries.blacklisted_among, account_id, list(phones))
    return {r["phone"] for r in rows}


async def opt_out(
    conn: asyncpg.Connection, sender_addresses: Sequence[str], phone: str
) -> list[int]:
    """Blacklist `phone` for every account owning one of the sender addresses; their ids."""
    rows = await conn.fetch(queries.opt_out, list(sender_addresses), phone)
    return [r["account_id"] for r in rows]
