"""The PostgreSQL a benchmark runs on: an embedded server in a temporary directory, removed at
the end, or the server in HERALD_BENCH_DSN (left as it was); and fresh databases on it."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from herald.store.db import Database, with_database
from herald.store.embedded import EmbeddedPostgres


@dataclass(frozen=True)
class BenchServer:
    admin_dsn: str
    state: Path  # the temporary directory: the embedded server's, or the benchmark's own files
    embedded: EmbeddedPostgres | None  # None: the server in HERALD_BENCH_DSN


@contextlib.asynccontextmanager
async def bench_server(
    prefix: str = "herald-bench-", pg_dir: str = ""
) -> AsyncIterator[BenchServer]:
    """The server, for the block; `pg_dir` places the embedded one below the directory."""
    external = os.environ.get("HERALD_BENCH_DSN")
    state = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    embedded = None if external else EmbeddedPostgres(state / pg_dir if pg_dir else state)
    admin_dsn = external or await embedded.astart()  # type: ignore[union-attr]
    try:
        yield BenchServer(admin_dsn, state, embedded)
    finally:
        if embedded is not None:
            await embedded.astop()
        shutil.rmtree(state, ignore_errors=True)


async def fetch_one(conn: asyncpg.Connection, query: str, *args: object) -> asyncpg.Record:
    """The row `query` returns: a benchmark's aggregate or lookup always has one."""
    row = await conn.fetchrow(query, *args)
    if row is None:
        raise RuntimeError(f"no row from {query.split(chr(10))[0][:80]!r}")
    return row


async def _as_admin(admin_dsn: str, statement: str) -> None:
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


async def create_database(admin_dsn: str, name: str) -> str:
    """A new empty database on the server; its DSN."""
    await _as_admin(admin_dsn, f"CREATE DATABASE {name}")
    return with_database(admin_dsn, name)


async def drop_database(admin_dsn: str, name: str) -> None:
    await _as_admin(admin_dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.asynccontextmanager
async def migrated_database(server: BenchServer, name: str) -> AsyncIterator[tuple[str, Database]]:
    """A new database on `server` with herald's schema, for the block: its DSN and a pool. On
    someone else's server (HERALD_BENCH_DSN) it is dropped afterwards, to leave that server as
    it was; an embedded one goes with its directory."""
    dsn = await create_database(server.admin_dsn, name)
    try:
        async with Database(dsn) as db:
            await db.migrate()
            yield dsn, db
    finally:
        if server.embedded is None:
            await drop_database(server.admin_dsn, name)
