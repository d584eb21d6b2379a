"""API keys of an account: create (shown once), list, revoke. The HTTP API (for the calling
account's own keys) and `herald account keys` (for any account, database-side) share these
rules:

- a name tells an account's live keys apart (a revoked key's name may be used again);
- an account has at most MAX_LIVE_KEYS keys that are not revoked;
- an expiry, when given, is in the future;
- revoking the account's last working key (not revoked, not expired) needs `force`, so an
  account is not locked out by mistake; revoking a revoked key changes nothing.

Changes to one account's keys take turns (herald/store/sql/keys.sql, lock_account_keys).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from herald.config import Config
from herald.errors import NotFoundError, RequestError
from herald.store import accounts as store
from herald.store import balance
from herald.store.accounts import ApiKey, NewApiKey
from herald.store.db import Database

MAX_LIVE_KEYS = 100


async def create_key(
    conn: Any,
    account_id: int,
    name: str,
    *,
    now: datetime,
    expires_at: datetime | None = None,
) -> NewApiKey:
    if expires_at is not None and expires_at <= now:
        raise RequestError(
            "invalid_expiry",
            f"expires_at {expires_at.isoformat()} is not in the future",
            {"expires_at": expires_at.isoformat()},
        )
    async with conn.transaction():
        await store.lock_account_keys(conn, account_id)
        live, _ = await store.live_keys(conn, account_id, now)
        if live >= MAX_LIVE_KEYS:
            raise RequestError(
                "too_many_keys",
                f"the account has {live} live keys, the most it may have; revoke one first",
                {"max": MAX_LIVE_KEYS},
            )
        created = await store.insert_key(conn, account_id, name, now=now, expires_at=expires_at)
    if created is None:
        raise RequestError(
            "key_name_conflict", f"the account has a live key named {name!r}", {"name": name}
        )
    return created


async def revoke_key(
    conn: Any, account_id: int, key_id: int, *, now: datetime, force: bool = False
) -> ApiKey:
    """The key, revoked (at once: the next request with it answers 401 in every process)."""
    async with conn.transaction():
        await store.lock_account_keys(conn, account_id)
        key = await store.get_key(conn, account_id, key_id)
        if key is None:
            raise RequestError("key_not_found", f"no API key with id {key_id}", {"key_id": key_id})
        if key.revoked_at is not None:
            return key
        _, usable = await store.live_keys(conn, account_id, now)
        if key.state(now) == "active" and usable <= 1 and not force:
            raise RequestError(
                "last_active_key",
                f"key {key.id} ({key.name!r}) is the account's last working key; revoking it "
                "locks the account out (force it if that is what you want)",
                {"key_id": key.id},
            )
        revoked = await store.revoke_key(conn, account_id, key_id, now)
    assert revoked is not None  # under the lock, and not revoked above
    return revoked


async def find_key(conn: Any, account_id: int, ref: str) -> ApiKey:
    """A key named by its id, or by the name of a live key."""
    key = None
    if ref.isdigit():
        key = await store.get_key(conn, account_id, int(ref))
    if key is None:
        key = await store.live_key_by_name(conn, account_id, ref)
    if key is None:
        raise RequestError("key_not_found", f"no API key with id or live name {ref!r}")
    return key


# --- `herald account keys`: each call opens the configured database, does its job, closes it --


def _database(config: Config) -> Database:
    dsn = config.database.dsn.get_secret_value() if config.database.dsn else None
    return Database(dsn, state_dir=config.state_dir, min_size=1, max_size=1)


async def _account_id(conn: Any, name: str) -> int:
    row = await balance.account_by_name(conn, name)
    if row is None:
        raise NotFoundError(f"no account named {name!r}")
    return int(row["id"])


async def list_account_keys(config: Config, account: str) -> list[ApiKey]:
    async with _database(config) as db:
        await db.migrate()
        async with db.acquire() as conn:
            account_id = await _account_id(conn, account)
            _, keys = await store.list_keys(conn, account_id, limit=10_000, offset=0)
    return keys


async def create_account_key(
    config: Config, account: str, name: str, expires_at: datetime | None
) -> NewApiKey:
    async with _database(config) as db:
        await db.migrate()
        async with db.acquire() as conn:
            account_id = await _account_id(conn, account)
            return await create_key(
                conn, account_id, name, now=datetime.now(UTC), expires_at=expires_at
            )


async def revoke_account_key(config: Config, account: str, ref: str, *, force: bool) -> ApiKey:
    async with _database(config) as db:
        await db.migrate()
        async with db.acquire() as conn:
            account_id = await _account_id(conn, account)
            key = await find_key(conn, account_id, ref)
            return await revoke_key(conn, account_id, key.id, now=datetime.now(UTC), force=force)


async def key_in_force(db: Database, account_id: int, key_id: int, now: datetime) -> ApiKey | None:
    """Key `key_id` of the account if it works at `now` (not revoked, not expired): a console
    session checks the key it was opened with on every request, so revoking the key ends it."""
    async with db.acquire() as conn:
        key = await store.get_key(conn, account_id, key_id)
    return key if key is not None and key.state(now) == "active" else None
