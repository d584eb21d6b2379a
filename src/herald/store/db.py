"""The connection layer: one `Database` owning an asyncpg pool, on a DSN or on the embedded
PostgreSQL when no DSN is configured, and `DatabaseWatch`, which knows whether it answers.

Every connection gets JSON codecs for json and jsonb (Python values in, Python values out). A
DSN may carry a password: log it only through `redact_dsn()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import orjson

from herald.errors import StoreError
from herald.store import migrations
from herald.store.embedded import EmbeddedPostgres
from herald.store.queries import queries

log = logging.getLogger(__name__)

DEFAULT_STATE_DIR = Path("state")
PING_SECONDS = 2.0  # a ping that takes longer counts as no answer
CLOSE_SECONDS = 5.0  # closing the pool gracefully; then its connections are dropped
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


# One encoder, built once: json.dumps with options builds a JSONEncoder per call.
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _jsonb_out(value: Any) -> bytes:
    # jsonb's binary form: version 1, then the text. orjson writes UTF-8 at once: a
    # recipient's labels in 0.2 µs against 2.4 through the json module, 20,000 of them in a
    # send-now campaign's COPY, which shares the loop with the expansion before the commit.
    # Keys that are not strings become strings, as the json module makes them; what orjson
    # refuses (an integer past 64 bits) goes through the json module, as before.
    try:
        text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # orjson.JSONEncodeError
        text = _dumps(value).encode()
    return b"\x01" + text


def _jsonb_in(data: bytes) -> Any:
    return json.loads(data[1:])


async def init_connection(conn: asyncpg.Connection) -> None:
    """Per-connection setup: json and jsonb as Python values. jsonb in its binary form, which
    COPY needs (the recipients' labels, store/campaigns.py)."""
    await conn.set_type_codec("json", encoder=_dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec(
        "jsonb", encoder=_jsonb_out, decoder=_jsonb_in, schema="pg_catalog", format="binary"
    )


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


async def keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset of a connection it takes back: nothing beyond asyncpg's own rollback
    of an open transaction. asyncpg's default runs `pg_advisory_unlock_all()`, `CLOSE ALL`,
    `UNLISTEN *` and `RESET ALL` in a round trip at every release (0.85 times per message at
    window 10, docs/notes/field.md); herald leaves none of that state behind: its advisory
    locks are transaction-level (`pg_advisory_xact_lock`), its cursors live in transactions,
    it never SETs a session variable, and the listener removes its LISTEN before giving its
    connection back (tests/unit/test_session_state.py checks the SQL for the rest)."""


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """An asyncpg pool whose connections all have herald's codecs."""
    try:
        pool = await asyncpg.create_pool(
            dsn, min_size=min_size, max_size=max_size, init=init_connection, reset=keep_session
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
        """Close the pool (bounded: with the server gone, or a connection never released,
        its connections are dropped after CLOSE_SECONDS) and leave the embedded server."""
        pool, self._pool = self._pool, None
        try:
            if pool is not None:
                try:
                    await asyncio.wait_for(pool.close(), CLOSE_SECONDS)
                except Exception:  # includes TimeoutError
                    log.warning("the database pool did not close cleanly; dropping it")
                    pool.terminate()
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

    async def ping(self, within: float = PING_SECONDS) -> None:
        """One round trip; raises if the database does not answer within `within` seconds."""
        async with asyncio.timeout(within), self.acquire() as conn:
            await conn.fetchval(queries.ping)

    async def restart_embedded(self) -> bool:
        """Start the embedded server again if it is no longer running; True if this did.
        False with a DSN, or when the server runs. StoreError if it cannot be started."""
        embedded = self.embedded
        if embedded is None or embedded.postmaster_pid is not None:
            return False
        return await embedded.arestart()

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


class DatabaseWatch:
    """Whether the database answers: a ping every `interval` (run), or one on demand (check).

    An embedded server that died (killed, crashed) is started again at once. While the
    database does not answer, `unreachable_for` counts the seconds; `alive` turns False once
    they pass `bound` (the daemon's /healthz then fails). If an embedded server could not be
    restarted within `bound`, `on_lost(reason)` is called once: the daemon exits with status
    1 so that a supervisor restarts herald (which starts the server anew). With a DSN the
    server is someone else's: herald keeps trying, and liveness tells the supervisor.
    """

    def __init__(
        self,
        db: Database,
        *,
        interval: float = 1.0,
        bound: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        on_lost: Callable[[str], None] = lambda reason: None,
        on_restored: Callable[[], None] = lambda: None,
        on_restarted: Callable[[], None] = lambda: None,
    ) -> None:
        self._db = db
        self._interval = interval
        self._bound = bound
        self._clock = clock
        self._on_lost = on_lost
        self._on_restored = on_restored
        self._on_restarted = on_restarted
        self._since: float | None = None  # when it stopped answering (the watch's clock)
        self._restart_error: str | None = None  # the last failed restart, while it fails
        self._told = False  # the outage passed the bound and was reported
        self.restarts = 0

    @property
    def unreachable_for(self) -> float:
        return 0.0 if self._since is None else self._clock() - self._since

    @property
    def alive(self) -> bool:
        return self.unreachable_for <= self._bound

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.check()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval)

    async def check(self, *, restart: bool = True) -> bool:
        """Ping once (and restart a dead embedded server, unless told not to: herald is
        stopping); True if the database answered."""
        try:
            await self._db.ping()
        except Exception as exc:
            await self._unreachable(exc, restart)
            return False
        if self._since is not None:
            log.warning("the database answers again, after %.1f s", self.unreachable_for)
            self._since, self._restart_error, self._told = None, None, False
            self._on_restored()
        return True

    async def _unreachable(self, exc: BaseException, restart: bool) -> None:
        if self._since is None:
            self._since = self._clock()
            log.error("the database does not answer: %s: %s", type(exc).__name__, exc)
        if restart:
            await self._restart()
        if self._told or self.unreachable_for <= self._bound:
            return
        self._told = True
        if self._db.embedded is not None and self._restart_error is not None:
            self._on_lost(
                f"embedded PostgreSQL in {self._db.embedded.pgdata} stopped and could not be "
                f"restarted within {self._bound:g} s: {self._restart_error}"
            )
        else:
            log.error(
                "the database has not answered for %.0f s: /healthz now fails until it does",
                self.unreachable_for,
            )

    async def _restart(self) -> None:
        try:
            restarted = await self._db.restart_embedded()
        except StoreError as exc:
            if self._restart_error is None:  # once per outage: it is retried every check
                log.error("could not restart the embedded PostgreSQL: %s", exc)
            self._restart_error = str(exc)
            return
        self._restart_error = None
        if restarted:
            self.restarts += 1
            self._on_restarted()
