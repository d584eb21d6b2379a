"""Accounts and their API keys.

An API key is 32 random bytes (URL-safe base64) behind a fixed `hk_` marker. Only its SHA-256
is stored: a key with 256 bits of entropy cannot be guessed from its hash, so a slow password
hash would buy nothing and cost every request. The first characters are kept in clear as a
prefix, so a user can tell keys apart in listings; they reveal 5 characters of 43.

An account has several keys (table api_keys), each with a name, an optional expiry and, once
revoked, the time it was. Every request looks its key up by hash (`key_by_hash`): there is no
cache, so a revocation through any process is seen by the next request in every process. The
time a key was last used is written at most once a minute per key (`touch_key`), not per
request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import asyncpg

from herald.store.queries import queries
from herald.store.rows import fetch_one

KEY_MARKER = "hk_"
PREFIX_LENGTH = len(KEY_MARKER) + 5
DEFAULT_KEY_NAME = "default"
# last_used_at is kept to this resolution: a busy key costs one UPDATE a minute, not one a request
LAST_USED_RESOLUTION = timedelta(minutes=1)

KeyState = Literal["active", "expired", "revoked"]


@dataclass(frozen=True)
class NewAccount:
    """A created account; `api_key` and `webhook_secret` are shown to the user this once."""

    id: int
    name: str
    api_key: str
    webhook_secret: str

    def __repr__(self) -> str:  # never print secrets by accident
        return f"NewAccount(id={self.id}, name={self.name!r}, api_key={key_prefix(self.api_key)}…)"


@dataclass(frozen=True)
class ApiKey:
    """What is known of a key: never the key itself, only its prefix."""

    id: int
    account_id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> ApiKey:
        return cls(
            id=row["id"],
            account_id=row["account_id"],
            name=row["name"],
            prefix=row["prefix"],
            created_at=row["created_at"],
            expires_at=row["expires_at"],
            revoked_at=row["revoked_at"],
            last_used_at=row["last_used_at"],
        )

    def state(self, now: datetime) -> KeyState:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


@dataclass(frozen=True)
class PresentedKey:
    """The key a request carries, found by its hash, with the name of its account."""

    key: ApiKey
    account_name: str


@dataclass(frozen=True)
class NewApiKey:
    """A created key; `api_key` is shown to the user this once."""

    key: ApiKey
    api_key: str

    def __repr__(self) -> str:  # never print secrets by accident
        return f"NewApiKey(id={self.key.id}, name={self.key.name!r}, prefix={self.key.prefix}…)"


def new_api_key() -> str:
    return KEY_MARKER + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def key_prefix(key: str) -> str:
    return key[:PREFIX_LENGTH]


async def create_account(conn: asyncpg.Connection, name: str, credit: int = 0) -> NewAccount:
    """Account `name` with its first key, named 'default'."""
    key, secret = new_api_key(), secrets.token_urlsafe(32)
    row = await fetch_one(
        conn, queries.create_account, name, hash_api_key(key), key_prefix(key), secret, credit
    )
    return NewAccount(int(row["id"]), name, key, secret)


async def account_for_key(conn: asyncpg.Connection, key: str) -> asyncpg.Record | None:
    """The account a key that is not revoked belongs to (id, name, webhook_secret, credit,
    created_at, and the key's api_key_prefix and expires_at), or None."""
    if not key.startswith(KEY_MARKER):
        return None
    return await conn.fetchrow(queries.get_account_by_key_hash, hash_api_key(key))


async def key_by_hash(conn: asyncpg.Connection, key: str) -> PresentedKey | None:
    """The stored key `key` is, revoked and expired ones included, or None."""
    if not key.startswith(KEY_MARKER):
        return None
    row = await conn.fetchrow(queries.api_key_by_hash, hash_api_key(key))
    return None if row is None else PresentedKey(ApiKey.from_row(row), row["account_name"])


def needs_touch(key: ApiKey, now: datetime) -> bool:
    """Whether `touch_key` should record this use: last_used_at is a minute old or unset."""
    return key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION


async def touch_key(conn: asyncpg.Connection, key_id: int, now: datetime) -> None:
    """Record a use of the key at `now` unless one was recorded within the last minute."""
    await conn.execute(queries.touch_api_key, key_id, now)


async def lock_account_keys(conn: asyncpg.Connection, account_id: int) -> None:
    """Inside a transaction: key changes of this account wait for each other until commit."""
    await conn.execute(queries.lock_account_keys, account_id)


async def live_keys(conn: asyncpg.Connection, account_id: int, now: datetime) -> tuple[int, int]:
    """(keys not revoked, those of them not expired at `now`)."""
    row = await conn.fetchrow(queries.live_api_keys, account_id, now)
    assert row is not None  # an aggregate: always one row
    return int(row["live"]), int(row["usable"])


async def insert_key(
    conn: asyncpg.Connection,
    account_id: int,
    name: str,
    *,
    now: datetime,
    expires_at: datetime | None,
) -> NewApiKey | None:
    """A new key; None when the account has a key of that name that is not revoked."""
    key = new_api_key()
    row = await conn.fetchrow(
        queries.insert_api_key,
        account_id,
        name,
        key_prefix(key),
        hash_api_key(key),
        now,
        expires_at,
    )
    return None if row is None else NewApiKey(ApiKey.from_row(row), key)


async def get_key(conn: asyncpg.Connection, account_id: int, key_id: int) -> ApiKey | None:
    row = await conn.fetchrow(queries.get_api_key, account_id, key_id)
    return None if row is None else ApiKey.from_row(row)


async def live_key_by_name(conn: asyncpg.Connection, account_id: int, name: str) -> ApiKey | None:
    row = await conn.fetchrow(queries.live_api_key_by_name, account_id, name)
    return None if row is None else ApiKey.from_row(row)


async def list_keys(
    conn: asyncpg.Connection, account_id: int, *, limit: int, offset: int
) -> tuple[int, list[ApiKey]]:
    """(how many keys the account has, one page of them in id order)."""
    total = int(await conn.fetchval(queries.count_api_keys, account_id))
    rows = await conn.fetch(queries.list_api_keys, account_id, limit, offset)
    return total, [ApiKey.from_row(r) for r in rows]


async def revoke_key(
    conn: asyncpg.Connection, account_id: int, key_id: int, now: datetime
) -> ApiKey | None:
    """The key, revoked at `now`; None when it is not the account's or was revoked already."""
    row = await conn.fetchrow(queries.revoke_api_key, account_id, key_id, now)
    return None if row is None else ApiKey.from_row(row)


DEMO_ACCOUNT = "demo"
DEMO_SENDER = "Herald"
DEMO_CREDIT = 100_000


async def ensure_demo_account(conn: asyncpg.Connection, now: datetime | None = None) -> str:
    """The embedded setup's demo account (credit and an alphanumeric sender 'Herald'),
    created on first use. Its 'default' key is replaced at every call and returned: only the
    hash is stored, so a key can be shown only when it is made."""
    async with conn.transaction():
        row = await conn.fetchrow(queries.get_account_by_name, DEMO_ACCOUNT)
        if row is None:
            account = await create_account(conn, DEMO_ACCOUNT, DEMO_CREDIT)
            await conn.execute(queries.create_sender, account.id, DEMO_SENDER, "alphanumeric", 5, 0)
            return account.api_key
        await lock_account_keys(conn, row["id"])
        now = now or datetime.now(UTC)
        old = await live_key_by_name(conn, row["id"], DEFAULT_KEY_NAME)
        if old is not None:
            await revoke_key(conn, row["id"], old.id, now)
        created = await insert_key(conn, row["id"], DEFAULT_KEY_NAME, now=now, expires_at=None)
        assert created is not None  # the name was freed above, under the lock
        return created.api_key
