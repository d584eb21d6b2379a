"""migrate(): in order, once, and safe when several processes run it at the same time."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys

import asyncpg
import pytest

from herald.store.db import connect
from herald.store.migrations import LOCK_KEY, applied_versions, load_migrations, migrate

MIGRATIONS = load_migrations()


def test_migrations_are_numbered_from_one() -> None:
    # Ascending and unique; a gap is allowed while branches holding the numbers between merge.
    versions = [m.version for m in MIGRATIONS]
    assert versions[0] == 1 and versions == sorted(set(versions))
    assert MIGRATIONS[0].name == "initial"


async def test_migrate_is_idempotent(blank_db_dsn: str) -> None:
    conn = await connect(blank_db_dsn)
    try:
        assert await applied_versions(conn) == {}
        assert [m.version for m in await migrate(conn)] == [m.version for m in MIGRATIONS]
        assert await migrate(conn) == []
        assert await applied_versions(conn) == {m.version: m.checksum for m in MIGRATIONS}
    finally:
        await conn.close()


async def test_concurrent_migrations_apply_each_migration_once(blank_db_dsn: str) -> None:
    conns = [await connect(blank_db_dsn) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in conns))
        applied = sorted(m.version for result in results for m in result)
        assert applied == [m.version for m in MIGRATIONS]
        assert await conns[0].fetchval("SELECT count(*) FROM schema_migrations") == len(MIGRATIONS)
    finally:
        for conn in conns:
            await conn.close()


async def _lock_waiters(conn: asyncpg.Connection, dsn_database: str) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
            " WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = $1",
            dsn_database,
        )
    )


def applied_count(summary: str) -> int:
    """The count in a "schema up to date (N applied)" line."""
    match = re.search(r"\((\d+) applied\)", summary)
    assert match is not None, summary
    return int(match[1])


async def test_two_herald_migrate_processes_at_once(blank_db_dsn: str) -> None:
    """Two `herald migrate` processes held at the lock together: every migration is applied
    once, by one of them."""
    holder = await connect(blank_db_dsn)
    database = await holder.fetchval("SELECT current_database()")
    procs = []
    try:
        async with holder.transaction():
            await holder.execute("SELECT pg_advisory_xact_lock($1)", LOCK_KEY)
            # trust auth ignores the password; it is there to prove it is never printed
            dsn = blank_db_dsn.replace("postgres:@", "postgres:s3cret-pw@")
            env = {**os.environ, "HERALD_DSN": dsn}
            for _ in range(2):
                procs.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-m",
                        "herald",
                        "migrate",
                        env=env,
                        stdout=asyncio.subprocess.PIPE,
                        stderr=asyncio.subprocess.PIPE,
                    )
                )
            # Both processes must be queued on the lock before it is released. PostgreSQL has
            # no event for "a backend waits on a lock": pg_locks is observed until it shows.
            async with asyncio.timeout(60):
                while await _lock_waiters(holder, database) < 2:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
        outputs = [await proc.communicate() for proc in procs]
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        await holder.close()
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    # Each migration takes the lock in its own transaction, so the two may share the work
    # (one applies 0001, the other 0002): what matters is that each is applied exactly once.
    lines = [line for out, _ in outputs for line in out.decode().splitlines()]
    applied = sorted(line.removeprefix("applied ") for line in lines if line.startswith("applied "))
    assert applied == [f"{m.version:04d}_{m.name}" for m in MIGRATIONS], lines
    summaries = [line for line in lines if "schema up to date" in line]
    assert sum(applied_count(line) for line in summaries) == len(MIGRATIONS), summaries
    assert "s3cret" not in "".join(o.decode() + e.decode() for o, e in outputs)


async def test_a_changed_or_unknown_migration_is_reported(
    blank_db_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    conn = await connect(blank_db_dsn)
    try:
        await migrate(conn)
        await conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
        await conn.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, 'future', 'x')"
        )
        with caplog.at_level(logging.WARNING, logger="herald.store.migrations"):
            assert await migrate(conn) == []
    finally:
        await conn.close()
    assert "0001_initial changed since it was applied" in caplog.text
    assert "does not know: [9999]" in caplog.text


async def test_message_id_ranges_are_filled_in_for_existing_batches(blank_db_dsn: str) -> None:
    """Migration 0006 on a database with messages: each batch gets the range of its ids."""
    conn = await connect(blank_db_dsn)
    try:
        for migration in MIGRATIONS[:5]:
            await conn.execute(migration.sql)
        await conn.execute("""
            INSERT INTO accounts (name, api_key_hash, api_key_prefix, webhook_secret)
            VALUES ('acme', decode(repeat('00', 32), 'hex'), 'hk', 's');
            INSERT INTO senders (account_id, address, kind, ton, npi)
            VALUES (1, 'ACME', 'alphanumeric', 5, 0);
            INSERT INTO campaigns (account_id, name, sender_id, template, status)
            VALUES (1, 'c', 1, 'hi', 'completed');
            INSERT INTO batches (campaign_id, number, status)
            VALUES (1, 1, 'completed'), (1, 2, 'completed'), (1, 3, 'completed');
            INSERT INTO messages (batch_id, campaign_id, account_id, phone, text, encoding,
                                  data_coding, esm_class, part_count, status)
            SELECT b, 1, 1, '+34600000000', 'hi', 'gsm7', 0, 0, 1, 'delivered'
            FROM unnest(ARRAY[1, 2, 1, 2, 2]) AS b;
        """)
        assert MIGRATIONS[5].version == 6
        await conn.execute(MIGRATIONS[5].sql)
        rows = await conn.fetch(
            "SELECT id, first_message_id, last_message_id FROM batches ORDER BY id"
        )
        assert [tuple(r) for r in rows] == [(1, 1, 3), (2, 2, 5), (3, None, None)]
    finally:
        await conn.close()
