"""Accounts from the command line: create one (its API key and webhook secret are shown
once), add credit, set its fair share. Each call opens the configured database (or the
embedded one in the state directory), migrates it, does its job and closes it."""

from __future__ import annotations

from dataclasses import dataclass

from herald.config import Config
from herald.errors import ConflictError, NotFoundError
from herald.store import balance
from herald.store.accounts import NewAccount
from herald.store.accounts import create_account as store_create_account
from herald.store.db import Database


def _database(config: Config) -> Database:
    dsn = config.database.dsn.get_secret_value() if config.database.dsn else None
    return Database(dsn, state_dir=config.state_dir, min_size=1, max_size=1)


async def create_account(config: Config, name: str, credit: int = 0) -> NewAccount:
    if not name.strip():
        raise ConflictError("an account needs a name")
    async with _database(config) as db:
        await db.migrate()
        async with db.acquire() as conn, conn.transaction():
            if await balance.account_by_name(conn, name) is not None:
                raise ConflictError(f"an account named {name!r} already exists")
            return await store_create_account(conn, name, credit)


async def add_credit(config: Config, name: str, segments: int) -> int:
    """Add `segments` (negative: take them off) to account `name`; the new credit."""
    async with _database(config) as db:
        await db.migrate()
        async with db.acquire() as conn, conn.transaction():
            row = await balance.account_by_name(conn, name)
            if row is None:
                raise NotFoundError(f"no account named {name!r}")
            if row["credit"] + segments < 0:
                raise ConflictError(
                    f"account {name!r} has {row['credit']} segments: cannot take {-segments}"
                )
            credit = await balance.add_credit_by_name(conn, name, segments)
    assert credit is not None
    return credit


@dataclass(frozen=True)
class AccountShare:
    weight: int
    priority: int


async def set_share(
    config: Config, name: str, weight: int | None = None, priority: int | None = None
) -> AccountShare:
    """Account `name`'s share of each route against the other accounts with due messages
    (docs/operations.md, fair share): its weight and priority, each kept when None; the
    values now."""
    async with _database(config) as db:
        await db.migrate()
        async with db.acquire() as conn:
            row = await balance.set_share_by_name(conn, name, weight, priority)
    if row is None:
        raise NotFoundError(f"no account named {name!r}")
    return AccountShare(row["weight"], row["priority"])
