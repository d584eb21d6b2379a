"""The store: PostgreSQL through asyncpg, the only package that runs SQL.

`Database` (db.py) owns the pool and runs migrations; `EmbeddedPostgres` (embedded.py) is the
server herald starts when no DSN is configured; SQL lives in sql/ (schema.sql, numbered
migrations, named queries loaded by queries.py).
"""

from herald.store.db import Database, redact_dsn
from herald.store.embedded import EmbeddedPostgres

__all__ = ["Database", "EmbeddedPostgres", "redact_dsn"]
