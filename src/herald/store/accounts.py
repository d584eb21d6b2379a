"""Accounts and their API keys.

An API key is 32 random bytes (URL-safe base64) behind a fixed `hk_` marker. Only its SHA-256
is stored: a key with 256 bits of entropy cannot be guessed from its hash, so a slow password
hash would buy nothing and cost every request. The first characters are kept in clear as a
prefix, so a user can tell keys apart in listings; they reveal 5 characters of 43.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import asyncpg

from herald.store.queries import queries
from herald.store.rows import fetch_one

KEY_MARKER = "hk_"
PREFIX_LENGTH = len(KEY_MARKER) + 5


@dataclass(frozen=True)
class NewAccount:
    """A created account; `api_key` and `webhook_secret` are shown to the user this once."""

    id: int
    name: str
    api_key: str
    webhook_secret: str

    def __repr__(self) -> str:  # never print secrets by accident
        return f"NewAccount(id={self.id}, name={self.name!r}, api_key={key_prefix(self.api_key)}…)"


def new_api_key() -> str:
    return KEY_MARKER + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def key_prefix(key: str) -> str:
    return key[:PREFIX_LENGTH]


async def create_account(conn: asyncpg.Connection, name: str, credit: int = 0) -> NewAccount:
    key, secret = new_api_key(), secrets.token_urlsafe(32)
    row = await fetch_one(
        conn, queries.create_account, name, hash_api_key(key), key_prefix(key), secret, credit
    )
    return NewAccount(int(row["id"]), name, key, secret)


async def account_for_key(conn: asyncpg.Connection, key: str) -> asyncpg.Record | None:
    """The account an API key belongs to, or None."""
    if not key.startswith(KEY_MARKER):
        return None
    return await conn.fetchrow(queries.get_account_by_key_hash, hash_api_key(key))


DEMO_ACCOUNT = "demo"
DEMO_SENDER = "Herald"
DEMO_CREDIT = 100_000


async def ensure_demo_account(conn: asyncpg.Connection) -> str:
    """The embedded setup's demo account (credit and an alphanumeric sender 'Herald'),
    created on first use. Its key is replaced at every call and returned: only the hash is
    stored, so a key can be shown only when it is made."""
    async with conn.transaction():
        row = await conn.fetchrow(queries.get_account_by_name, DEMO_ACCOUNT)
        if row is None:
            account = await create_account(conn, DEMO_ACCOUNT, DEMO_CREDIT)
            await conn.execute(queries.create_sender, account.id, DEMO_SENDER, "alphanumeric", 5, 0)
            return account.api_key
        key = new_api_key()
        await conn.execute(queries.set_api_key, row["id"], hash_api_key(key), key_prefix(key))
        return key
