"""The connection layer: DSN handling, codecs, the Database lifecycle."""

from __future__ import annotations

import asyncio
import json

import pytest

from herald.errors import StoreError
from herald.store.db import Database, create_pool, redact_dsn, with_database
from herald.store.notify import Listener, notify


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("postgresql://herald:s3cret@db:5432/herald", "postgresql://herald:***@db:5432/herald"),
        (
            "postgres://u:p%40ss@h1:5432,h2:5433/x?sslmode=require",
            "postgres://u:***@h1:5432,h2:5433/x?sslmode=require",
        ),
        (
            "postgresql://u@h/x?password=s3cret&sslpassword=k3y&host=/run/pg",
            "postgresql://u@h/x?password=***&sslpassword=***&host=/run/pg",
        ),
        ("postgresql://postgres:@/postgres?host=/tmp/s",) * 2,  # no password: nothing to hide
        ("host=db user=u password=s3cret dbname=x", "host=db user=u password=*** dbname=x"),
        ("host=db password='s3 cret' dbname=x", "host=db password=*** dbname=x"),
        ("postgresql://db/herald", "postgresql://db/herald"),
    ],
)
def test_redact_dsn_hides_every_password(dsn: str, shown: str) -> None:
    assert redact_dsn(dsn) == shown
    assert "s3" not in redact_dsn(dsn) and "k3y" not in redact_dsn(dsn)


def test_with_database_swaps_only_the_database() -> None:
    assert with_database("postgresql://u:p@h:1/a?host=/s", "b") == "postgresql://u:p@h:1/b?host=/s"
    assert with_database("host=/s dbname=a user=u", "b") == "host=/s  user=u dbname=b"


async def test_json_and_jsonb_come_back_as_python_values(database: Database) -> None:
    labels = {"city": "Málaga", "tags": ["vip", 1, None, True]}
    async with database.acquire() as conn:
        assert await conn.fetchval("SELECT $1::jsonb", labels) == labels
        assert await conn.fetchval("SELECT $1::json", [1, "ñ"]) == [1, "ñ"]
        assert await conn.fetchval("SELECT '{\"a\": 1}'::jsonb -> 'a'") == 1


async def test_jsonb_is_written_as_the_json_module_would_write_it(database: Database) -> None:
    # jsonb values are encoded by orjson (store/db.py), with the json module's results: keys
    # that are not strings become strings, and what orjson refuses (an integer past 64 bits)
    # is still written.
    odd = {1: "one", "emoji": "🙂 ñ", "big": 2**70, "nested": {"x": [1.5, None]}}
    async with database.acquire() as conn:
        stored = await conn.fetchval("SELECT $1::jsonb", odd)
        recipients = await conn.fetchval("SELECT $1::jsonb::text", {"order": "A1"})
    assert stored == json.loads(json.dumps(odd))
    assert recipients == '{"order": "A1"}'


async def test_database_lifecycle(db_dsn: str) -> None:
    db = Database(db_dsn, max_size=2)
    with pytest.raises(StoreError, match="not open"):
        _ = db.pool
    async with db:
        assert db.dsn == db_dsn and db.embedded is None
        assert await db.open() is db  # opening twice is harmless
        assert await db.migrate() == []  # the per-test database is already migrated
    with pytest.raises(StoreError, match="not open"):
        _ = db.pool
    await db.close()  # closing twice is harmless


async def test_an_unreachable_server_is_a_store_error_without_the_password(
    tmp_path: object,
) -> None:
    dsn = f"postgresql://herald:s3cret@/herald?host={tmp_path}"
    with pytest.raises(StoreError) as info:
        await create_pool(dsn)
    assert "herald:***@" in str(info.value) and "s3cret" not in str(info.value)
    with pytest.raises(StoreError):
        async with Database(dsn):
            pass


async def test_ping_answers_while_open_and_names_a_closed_database(db_dsn: str) -> None:
    db = Database(db_dsn, max_size=1)
    async with db:
        await db.ping()
        await db.ping()  # the connection went back to the pool of one
    with pytest.raises(StoreError, match="not open"):
        await db.ping()


async def test_a_notification_wakes_the_listener_of_its_channel_until_it_stops(
    db_dsn: str,
) -> None:
    async with (
        Database(db_dsn, max_size=1) as listening,
        Database(db_dsn, max_size=1) as sending,  # another process's pool
    ):
        calls: list[None] = []
        woken = asyncio.Event()

        def on_notify() -> None:
            calls.append(None)
            woken.set()

        listener = Listener(listening)
        await listener.start(on_notify)
        assert listening.pool.get_idle_size() == 0  # the listener holds its connection
        await notify(sending, "another_channel")
        await notify(sending)
        await asyncio.wait_for(woken.wait(), 10)
        assert len(calls) == 1  # notifications arrive in order: the other channel's was not ours
        await listener.stop()
        async with listening.acquire() as conn:  # back in the pool, and listening no more
            assert await conn.fetchval("SELECT pg_listening_channels()") is None
