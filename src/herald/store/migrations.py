"""Numbered migrations in `sql/migrations/NNNN_name.sql`, applied in order, once.

Several herald processes may start at once against one database, so each migration runs in its
own transaction holding a transaction-level advisory lock, and re-reads what is applied once it
holds the lock: the first process applies, the others find it done. `schema_migrations` is
migrate()'s own table and is not part of schema.sql.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from importlib import resources

import asyncpg

from herald.errors import StoreError
from herald.store.rows import Conn

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key: the first 8 bytes of sha256("herald:migrate"), as a signed bigint.
LOCK_KEY = int.from_bytes(hashlib.sha256(b"herald:migrate").digest()[:8], "big", signed=True)
_FILE = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str = field(repr=False)

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations() -> list[Migration]:
    """The packaged migrations in version order; StoreError on a misnamed or duplicate file."""
    folder = resources.files("herald.store") / "sql" / "migrations"
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE.match(entry.name)
        if match is None:
            raise StoreError(f"migration file {entry.name!r} is not named NNNN_name.sql")
        version = int(match["version"])
        if version in found:
            raise StoreError(f"two migrations numbered {version:04d}: {entry.name!r}")
        found[version] = Migration(version, match["name"], entry.read_text(encoding="utf-8"))
    # A gap is allowed: numbers are handed out to branches before they merge (0009 may land
    # before 0007), and migrate() applies each missing version on its own, in order.
    return [found[v] for v in sorted(found)]


async def applied_versions(conn: Conn) -> dict[int, str]:
    """{version: checksum} of the migrations applied to this database (empty if none)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return {}
    rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
    return {row["version"]: row["checksum"] for row in rows}


async def migrate(conn: Conn) -> list[Migration]:
    """Apply the pending migrations in order; return those this call applied."""
    migrations = load_migrations()
    applied: list[Migration] = []
    for migration in migrations:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_KEY)
            await conn.execute(_BOOKKEEPING)
            checksum = await conn.fetchval(
                "SELECT checksum FROM schema_migrations WHERE version = $1", migration.version
            )
            if checksum is not None:
                if checksum != migration.checksum:
                    log.warning(
                        "migration %04d_%s changed since it was applied; the database keeps "
                        "the version it ran",
                        migration.version,
                        migration.name,
                    )
                continue
            try:
                await conn.execute(migration.sql)
            except asyncpg.PostgresError as exc:
                raise StoreError(
                    f"migration {migration.version:04d}_{migration.name} failed: {exc}"
                ) from exc
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                migration.checksum,
            )
        log.info("applied migration %04d_%s", migration.version, migration.name)
        applied.append(migration)
    newer = set(await applied_versions(conn)) - {m.version for m in migrations}
    if newer:
        log.warning("the database has migrations this herald does not know: %s", sorted(newer))
    return applied
