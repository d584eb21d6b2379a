"""Shared fixtures: a real PostgreSQL for the whole suite, and a fresh database per test.

The server is herald's embedded PostgreSQL in a fixed per-user state dir
(`$TMPDIR/herald-test-pg-<uid>`), or the server named by `HERALD_TEST_DSN`. Once per session
a template database is migrated; each test that asks for `db_dsn` or `database` gets its own
copy (`CREATE DATABASE ... TEMPLATE`), dropped afterwards.

Fixtures:
    pg_admin_dsn  (session)  DSN of the server's admin database (create your own databases)
    pg_cluster    (session)  the PgCluster: create_database(), drop_database(), dsn(name)
    db_dsn        (test)     DSN of a fresh, migrated database
    blank_db_dsn  (test)     DSN of a fresh, empty database (nothing migrated)
    database      (test)     a connected herald.store.Database on db_dsn
    counters_kept (test)     after the test, the progress counters equal the rows they count
                             (tests/support/progress.py; a test marked `raw_rows` is not checked)
    record_pg_timing (session)  record_pg_timing(label, seconds) for the summary line

The embedded server is stopped at the end of the session whatever happened; a server left by a
killed session is adopted (and then stopped) by the next one, which also drops the databases
that session left behind.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import psutil
import pytest

from herald.store.db import Database, with_database
from herald.store.embedded import EmbeddedPostgres
from herald.store.migrations import migrate
from tests.support.progress import counter_drift

T = TypeVar("T")
_TEST_DB = re.compile(r"^herald_(?:t|tpl)_(\d+)(?:_\d+)?$")
TIMINGS: dict[str, list[float]] = {}


def _timed(key: str, seconds: float) -> None:
    TIMINGS.setdefault(key, []).append(seconds)


class _AdminLoop:
    """An event loop in its own thread holding one admin connection: per-test databases are
    created and dropped from sync fixtures without touching the tests' own loops."""

    def __init__(self, dsn: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.conn: asyncpg.Connection = self.run(lambda: asyncpg.connect(dsn))

    def run(self, make: Callable[[], Awaitable[T]]) -> T:
        async def call() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout=120)

    def close(self) -> None:
        try:
            self.run(self.conn.close)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()


class PgCluster:
    """The suite's PostgreSQL server, seen from its admin database."""

    def __init__(self, admin_dsn: str, embedded: bool) -> None:
        self.admin_dsn = admin_dsn
        self.template = f"herald_tpl_{os.getpid()}"
        self._admin = _AdminLoop(admin_dsn)
        self._names = itertools.count(1)
        if embedded:  # our own server: nobody else's databases to fear for
            self._drop_abandoned()

    def dsn(self, database: str) -> str:
        return with_database(self.admin_dsn, database)

    def execute(self, sql: str) -> None:
        self._admin.run(lambda: self._admin.conn.execute(sql))

    def create_database(self, template: str | None = None) -> str:
        """Create a database (a copy of `template`, default the migrated one); its name."""
        name = f"herald_t_{os.getpid()}_{next(self._names)}"
        started = time.perf_counter()
        self.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template or self.template}"')
        _timed("per-test database", time.perf_counter() - started)
        return name

    def drop_database(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def build_template(self) -> None:
        started = time.perf_counter()
        self.drop_database(self.template)
        self.execute(f'CREATE DATABASE "{self.template}" TEMPLATE template0')

        async def run() -> None:
            conn = await asyncpg.connect(self.dsn(self.template))
            try:
                await migrate(conn)
            finally:
                await conn.close()

        self._admin.run(run)
        _timed("template migrate", time.perf_counter() - started)

    def _drop_abandoned(self) -> None:
        rows = self._admin.run(lambda: self._admin.conn.fetch("SELECT datname FROM pg_database"))
        for row in rows:
            match = _TEST_DB.match(row["datname"])
            if match and not psutil.pid_exists(int(match[1])):
                self.drop_database(row["datname"])

    def close(self) -> None:
        try:
            self.drop_database(self.template)
        finally:
            self._admin.close()


def _test_state_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"herald-test-pg-{os.getuid()}"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    external = os.environ.get("HERALD_TEST_DSN")
    server = None if external else EmbeddedPostgres(_test_state_dir())
    try:
        if server is not None:
            started = time.perf_counter()
            admin_dsn = server.start()
            _timed("embedded start", time.perf_counter() - started)
        else:
            assert external is not None
            admin_dsn = external
        cluster = PgCluster(admin_dsn, embedded=server is not None)
        try:
            cluster.build_template()
            yield cluster
        finally:
            cluster.close()
    finally:
        if server is not None:
            server.stop()


@pytest.fixture(scope="session")
def pg_admin_dsn(pg_cluster: PgCluster) -> str:
    return pg_cluster.admin_dsn


@pytest.fixture
def db_dsn(pg_cluster: PgCluster) -> Iterator[str]:
    name = pg_cluster.create_database()
    try:
        yield pg_cluster.dsn(name)
    finally:
        pg_cluster.drop_database(name)


@pytest.fixture
def blank_db_dsn(pg_cluster: PgCluster) -> Iterator[str]:
    name = pg_cluster.create_database(template="template0")
    try:
        yield pg_cluster.dsn(name)
    finally:
        pg_cluster.drop_database(name)


@pytest.fixture(scope="session")
def record_pg_timing() -> Callable[[str, float], None]:
    """record_pg_timing(label, seconds): shown in the PostgreSQL line of the test summary."""
    return _timed


@pytest.fixture
async def database(db_dsn: str) -> AsyncIterator[Database]:
    async with Database(db_dsn, min_size=1, max_size=4) as db:
        yield db


@pytest.fixture
async def counters_kept(request: pytest.FixtureRequest, database: Database) -> AsyncIterator[None]:
    yield
    if request.node.get_closest_marker("raw_rows") is None:
        async with database.acquire() as conn:
            assert await counter_drift(conn) == []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TIMINGS:
        return
    parts = []
    for key, values in TIMINGS.items():
        mean = sum(values) / len(values)
        count = f" (mean of {len(values)})" if len(values) > 1 else ""
        parts.append(f"{key} {mean * 1000:.0f} ms{count}")
    terminalreporter.write_line("PostgreSQL fixtures: " + ", ".join(parts))
