"""What the store's functions take and give: connections and rows; and the one-row fetch.

Store functions take a connection of their own (`connect()`) or one lent by the pool
(`Database.acquire()`): asyncpg gives the two different classes with the same query methods.
They give asyncpg Records, which the layers above read as `Row`s, by column name.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from herald.errors import StoreError

Conn: TypeAlias = "asyncpg.Connection | PoolConnectionProxy"


class Row(Protocol):
    """A result row read by column name: an asyncpg Record, or a dict standing for one."""

    def __getitem__(self, key: str, /) -> Any: ...

    def keys(self) -> Iterable[str]: ...


async def fetch_one(conn: Conn, query: str, *args: object) -> asyncpg.Record:
    """The row of a query that returns exactly one (INSERT ... RETURNING, an aggregate, a row
    the caller knows exists); StoreError names the query when it returned none."""
    row = await conn.fetchrow(query, *args)
    if row is None:
        first = next((line for line in query.splitlines() if not line.startswith("--")), query)
        raise StoreError(f"no row where one was certain: {first.strip()[:80]}")
    return row
