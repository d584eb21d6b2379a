"""Accounts: API keys are stored hashed, found by the key, and never printed whole."""

from __future__ import annotations

import asyncpg
import pytest

from herald.store.accounts import account_for_key, create_account, hash_api_key, new_api_key
from herald.store.db import Database


def test_keys_are_random_and_marked() -> None:
    keys = {new_api_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(k.startswith("hk_") and len(k) == 46 for k in keys)
    assert len(hash_api_key("hk_x")) == 32


async def test_an_account_is_found_by_its_key_only(database: Database) -> None:
    async with database.acquire() as conn:
        account = await create_account(conn, "acme", credit=500)
        stored = await conn.fetchrow("SELECT * FROM api_keys WHERE account_id = $1", account.id)
        assert account.api_key not in repr(account) and account.webhook_secret not in repr(account)
        assert stored["hash"] == hash_api_key(account.api_key) and stored["name"] == "default"
        assert account.api_key.startswith(stored["prefix"])
        found = await account_for_key(conn, account.api_key)
        assert found is not None and (found["id"], found["credit"]) == (account.id, 500)
        assert await account_for_key(conn, new_api_key()) is None
        assert await account_for_key(conn, "not-a-key") is None
        with pytest.raises(asyncpg.UniqueViolationError):
            await create_account(conn, "acme")
