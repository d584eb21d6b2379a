"""The connection layer: one `Database` owning an asyncpg pool, on a DSN or on the embedded
PostgreSQL when no DSN is configured.

Every connection gets JSON codecs for json and jsonb (Python values in, Python values out). A
DSN may carry a password: log it only through `redact_dsn()`.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from herald.errors import StoreError
from herald.store import migrations
from herald.store.embedded import EmbeddedPostgres
from herald.store.queries import queries

log = logging.getLogger(__name__)

DEFAULT_STATE_DIR = Path("state")
_SECRET_KEYS = {"password", "sslpassword"}
_KV_SECRET = re.compile(r"\b(password|sslpassword)(\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)")


def redact_dsn(dsn: str) -> str:
    """`dsn` with any password replaced by ***, in URL or key=value form."""
    if "://" not in dsn:
        return _KV_SECRET.sub(lambda m: f"{m[1]}{m[2]}***", dsn)
    parts = urlsplit(dsn)
    netloc = parts.netloc
    userinfo, at, hosts = netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if at and colon and password:
        netloc = f"{user}:***@{hosts}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k in _SECRET_KEYS for k, _ in pairs):
            query = urlencode([(k, "***" if k in _SECRET_KEYS else v) for k, v in pairs], safe="/*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def with_database(dsn: str, database: str) -> str:
    """`dsn` pointing at another database on the same server."""
    if "://" not in dsn:
        kept = re.sub(r"\bdbname\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", "", dsn).strip()
        return f"{kept} dbname={database}".strip()
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


async def init_connection(conn: asyncpg.Connection) -> None:
    """Per-connection setup: json and jsonb as Python values."""
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=_dumps, decoder=json.loads, schema="pg_catalog")


def _connect_error(dsn: str, exc: BaseException) -> StoreError:
    return StoreError(f"cannot connect to PostgreSQL at {redact_dsn(dsn)}: {exc}")


async def connect(dsn: str) -> asyncpg.Connection:
    """One connection with herald's codecs (for the CLI and migrations)."""
    try:
        conn = await asyncpg.connect(dsn)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise _connect_error(dsn, exc) from exc
    await init_connection(conn)
    return conn


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """An asyncpg pool whose connections all have herald's codecs."""
    try:
        pool = await asyncpg.create_pool(
            dsn, min_size=min_size, max_size=max_size, init=init_connection
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise _connect_error(dsn, exc) from exc
    assert pool is not None
    return pool


class Database:
    """The store's entry point: `async with Database(dsn) as db: ...`.

    With `dsn=None` it starts (or adopts) the embedded PostgreSQL in `state_dir` and leaves it
    again on close (stopping it when no other herald process uses it).
    """

    def __init__(
        self,
        dsn: str | None = None,
        *,
        state_dir: Path = DEFAULT_STATE_DIR,
        min_size: int = 1,
        max_size: int = 10,
    ) -> None:
        self._dsn = dsn
        self._state_dir = Path(state_dir)
        self._min_size = min_size
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self.embedded: EmbeddedPostgres | None = None

    @property
    def dsn(self) -> str:
        """The DSN in use (may hold a password: log `redact_dsn(db.dsn)`)."""
        if self._dsn is None:
            raise StoreError("the database is not open")
        return self._dsn

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("the database is not open")
        return self._pool

    async def open(self) -> Database:
        if self._pool is not None:
            return self
        if self._dsn is None:
            self.embedded = EmbeddedPostgres(self._state_dir)
            self._dsn = await self.embedded.astart()
        try:
            self._pool = await create_pool(
                self._dsn, min_size=self._min_size, max_size=self._max_size
            )
        except BaseException:
            await self._stop_embedded()
            raise
        log.info("connected to PostgreSQL at %s", redact_dsn(self._dsn))
        return self

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        try:
            if pool is not None:
                await pool.close()
        finally:
            await self._stop_embedded()

    async def _stop_embedded(self) -> None:
        if self.embedded is not None:
            embedded, self.embedded, self._dsn = self.embedded, None, None
            await embedded.astop()

    async def __aenter__(self) -> Database:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def acquire(self) -> Any:
        """`async with db.acquire() as conn:` a pooled connection."""
        return self.pool.acquire()

    async def ping(self) -> None:
        """Run a trivial query through the pool; raises when the database does not answer."""
        async with self.pool.acquire() as conn:
            await conn.fetchval(queries.ping)

    async def migrate(self) -> list[migrations.Migration]:
        """Apply pending migrations (safe when several processes do it at once)."""
        async with self.pool.acquire() as conn:
            return await migrations.migrate(conn)


async def migrate_database(
    dsn: str | None = None, *, state_dir: Path = DEFAULT_STATE_DIR
) -> list[migrations.Migration]:
    """Apply pending migrations to `dsn`, or to the embedded server in `state_dir` (started for
    the occasion and left again afterwards). Returns the migrations applied."""
    async with Database(dsn, state_dir=state_dir, min_size=1, max_size=1) as db:
        return await db.migrate()
