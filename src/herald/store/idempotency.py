"""Idempotency keys: claim a key in the transaction that does the request's work, read the
answer another request stored, store ours, sweep the old ones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from herald.errors import ConflictError
from herald.store.queries import queries
from herald.store.rows import Conn, fetch_one


@dataclass(frozen=True)
class StoredAnswer:
    request_hash: bytes
    status: int
    body: Any
    created_at: datetime


async def claim(
    conn: Conn, account_id: int, key: str, request_hash: bytes, now: datetime, expired: datetime
) -> StoredAnswer | None:
    """None when this transaction now owns the key (it must save an answer before it
    commits); otherwise the answer a request with the key gave (waiting for that request's
    transaction if it is still running). ConflictError when that request is still running
    after the transaction's lock timeout (`set_lock_timeout`)."""
    try:
        owned = await conn.fetchval(
            queries.claim_idempotency_key, account_id, key, request_hash, now, expired
        )
    except asyncpg.LockNotAvailableError:
        raise ConflictError(f"a request with the key {key!r} is still running") from None
    if owned:
        return None
    row = await fetch_one(conn, queries.idempotency_answer, account_id, key)
    return StoredAnswer(
        bytes(row["request_hash"]), int(row["status"]), row["answer"], row["created_at"]
    )


async def set_lock_timeout(conn: Conn, seconds: float) -> None:
    """For the rest of the transaction: give up waiting for a lock after `seconds`."""
    await conn.execute(queries.set_lock_timeout, f"{int(seconds * 1000)}ms")


async def save_answer(conn: Conn, account_id: int, key: str, status: int, body: Any) -> None:
    await conn.execute(queries.save_idempotency_answer, account_id, key, status, body)


async def expire(conn: Conn, created_before: datetime, limit: int) -> int:
    """Delete at most `limit` keys created at or before `created_before`; how many."""
    return len(await conn.fetch(queries.expire_idempotency_keys, created_before, limit))
