"""SQL of inbound (mobile-originated) messages: the owners of a destination, parts waiting
for the rest of their message, stored messages, opt-out and opt-in, the API's listing."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg

from herald.store.queries import queries
from herald.store.rows import Conn

# inbound_messages.action: what a keyword did to the blacklist
InboundAction = Literal["opt_out", "opt_in"]


@dataclass(frozen=True)
class Owner:
    """An account owning the sender an inbound message was sent to."""

    account_id: int
    sender_id: int
    address: str  # the sender as stored (what a reply back is sent from)
    inbound_callback: str | None


@dataclass(frozen=True)
class ConcatKey:
    """What ties the parts of one concatenated inbound message together."""

    source_addr: str
    destination_addr: str
    reference: int
    total: int

    def lock_id(self) -> int:
        """The advisory lock its parts are stored under (a signed 64-bit hash)."""
        fields = (self.source_addr, self.destination_addr, str(self.reference), str(self.total))
        text = "herald:mo:" + "\0".join(fields)
        return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


@dataclass(frozen=True)
class StoredPart:
    seq: int
    bind: str
    data_coding: int
    esm_class: int
    user_data: bytes
    received_at: datetime


@dataclass(frozen=True)
class InboundRow:
    """One inbound message as stored (the same for every owning account)."""

    bind: str
    source_addr: str
    phone: str | None
    destination_addr: str
    text: str | None
    data_coding: int
    payload: bytes
    parts: int
    missing_parts: int
    keyword: str | None
    action: InboundAction | None
    received_at: datetime


async def owners(conn: Conn, addresses: Sequence[str]) -> list[Owner]:
    rows = await conn.fetch(queries.inbound_owners, list(addresses))
    return [
        Owner(r["account_id"], r["sender_id"], r["address"], r["inbound_callback"]) for r in rows
    ]


async def lock_message(conn: Conn, key: ConcatKey) -> None:
    """Hold the message's lock until the transaction ends (must run inside one)."""
    await conn.execute(queries.lock_inbound_message, key.lock_id())


def _parts(rows: Sequence[asyncpg.Record]) -> list[StoredPart]:
    return [
        StoredPart(
            r["seq"],
            r["bind"],
            r["data_coding"],
            r["esm_class"],
            bytes(r["user_data"]),
            r["received_at"],
        )
        for r in rows
    ]


async def add_part(conn: Conn, key: ConcatKey, part: StoredPart) -> bool:
    """False when that part was stored already."""
    seq = await conn.fetchval(
        queries.add_inbound_part,
        key.source_addr,
        key.destination_addr,
        key.reference,
        key.total,
        part.seq,
        part.bind,
        part.data_coding,
        part.esm_class,
        part.user_data,
        part.received_at,
    )
    return seq is not None


async def parts_of(conn: Conn, key: ConcatKey) -> list[StoredPart]:
    rows = await conn.fetch(
        queries.inbound_parts_of, key.source_addr, key.destination_addr, key.reference, key.total
    )
    return _parts(rows)


async def take_parts(conn: Conn, key: ConcatKey) -> list[StoredPart]:
    rows = await conn.fetch(
        queries.take_inbound_parts, key.source_addr, key.destination_addr, key.reference, key.total
    )
    return sorted(_parts(rows), key=lambda p: p.seq)


async def stale_messages(conn: Conn, first_before: datetime, limit: int) -> list[ConcatKey]:
    rows = await conn.fetch(queries.stale_inbound_messages, first_before, limit)
    return [
        ConcatKey(r["source_addr"], r["destination_addr"], r["reference"], r["total"]) for r in rows
    ]


async def pending_parts(conn: Conn) -> int:
    return int(await conn.fetchval(queries.pending_inbound_parts))


async def insert_messages(
    conn: Conn, owners: Sequence[Owner], row: InboundRow
) -> list[asyncpg.Record]:
    """One row per owner (one with no account when `owners` is empty): (id, account_id,
    sender_id, stored_at) each."""
    accounts: list[int | None] = [o.account_id for o in owners] or [None]
    senders: list[int | None] = [o.sender_id for o in owners] or [None]
    return await conn.fetch(
        queries.insert_inbound_messages,
        accounts,
        senders,
        row.bind,
        row.source_addr,
        row.phone,
        row.destination_addr,
        row.text,
        row.data_coding,
        row.payload,
        row.parts,
        row.missing_parts,
        row.keyword,
        row.action,
        row.received_at,
    )


async def opt_out(conn: Conn, account_ids: Sequence[int], phone: str) -> None:
    await conn.execute(queries.opt_out_accounts, list(account_ids), phone)


async def opt_in(conn: Conn, account_ids: Sequence[int], phone: str) -> list[int]:
    """The accounts whose blacklist the number left (only entries its opt-out made)."""
    rows = await conn.fetch(queries.opt_in_accounts, list(account_ids), phone)
    return sorted(r["account_id"] for r in rows)


@dataclass(frozen=True)
class InboundFilter:
    sender_id: int | None = None
    phone: str | None = None
    received_from: datetime | None = None
    received_before: datetime | None = None


async def list_inbound(
    conn: Conn, account_id: int, where: InboundFilter, *, before_id: int | None, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        queries.list_inbound,
        account_id,
        before_id,
        where.sender_id,
        where.phone,
        where.received_from,
        where.received_before,
        limit,
    )
