"""Retention's SQL (sql/retention.sql): finished batches' messages and parts deleted in
chunks, their totals kept on the batch; old delivered and dead callbacks deleted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from herald.store.queries import queries
from herald.store.rows import Conn

_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)  # before any batch finished


@dataclass(frozen=True, slots=True)
class PrunableBatch:
    id: int
    messages_expected: int
    finished_at: datetime


@dataclass(frozen=True, slots=True)
class Pruning:
    """A batch whose messages are being deleted: the next id to delete, None once done."""

    batch_id: int
    prune_from: int | None
    last_message_id: int | None
    messages: int = 0  # counted into its totals when it was marked (begin_pruning)


@dataclass(frozen=True, slots=True)
class Chunk:
    messages: int
    parts: int
    prune_from: int | None  # where the batch stands now: None when its last message went


async def prunable_batches(
    conn: Conn, finished_before: datetime, limit: int, after: PrunableBatch | None = None
) -> list[PrunableBatch]:
    """Up to `limit` batches to prune, oldest first, after `after` in that order."""
    since, last_id = (after.finished_at, after.id) if after is not None else (_EARLIEST, 0)
    rows = await conn.fetch(queries.prunable_batches, finished_before, limit, since, last_id)
    return [PrunableBatch(r["id"], r["messages_expected"], r["finished_at"]) for r in rows]


async def pruning_batches(conn: Conn) -> list[Pruning]:
    rows = await conn.fetch(queries.pruning_batches)
    return [Pruning(r["id"], r["prune_from"], r["last_message_id"]) for r in rows]


async def begin_pruning(conn: Conn, batch_id: int, finished_before: datetime) -> Pruning | None:
    """Count batch `batch_id`'s messages and parts into its totals and mark it pruned; None if
    it is not prunable now (not final, a message not final, another process at it)."""
    row = await conn.fetchrow(queries.begin_pruning, batch_id, finished_before)
    if row is None:
        return None
    return Pruning(row["id"], row["prune_from"], row["last_message_id"], row["messages"])


async def prune_messages_chunk(
    conn: Conn, batch_id: int, prune_from: int, limit: int
) -> Chunk | None:
    """Delete up to `limit` of the batch's messages from `prune_from` on, with their parts;
    None if another process moved it on (that process goes on deleting)."""
    row = await conn.fetchrow(queries.prune_messages_chunk, batch_id, prune_from, limit)
    if row is None:
        return None
    return Chunk(row["messages"], row["parts"], row["prune_from"])


async def prune_callbacks(conn: Conn, created_before: datetime, limit: int) -> int:
    status = await conn.execute(queries.prune_callbacks, created_before, limit)
    return int(status.split()[-1])


async def count_prunable_callbacks(conn: Conn, created_before: datetime) -> int:
    return int(await conn.fetchval(queries.count_prunable_callbacks, created_before))
