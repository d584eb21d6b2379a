"""The callback outbox: enqueue status callbacks in the caller's transaction, claim due ones,
record each delivery attempt."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Literal

import asyncpg

from herald.store.queries import queries

# callback_outbox.kind: a message's status, or a campaign's
CallbackKind = Literal["message", "campaign", "clicked"]


async def enqueue(
    conn: asyncpg.Connection, account_id: int, url: str, body: dict[str, Any], kind: CallbackKind
) -> int:
    return int(await conn.fetchval(queries.enqueue_callback, account_id, url, body, kind))


async def enqueue_message_callbacks(
    conn: asyncpg.Connection,
    ids: Sequence[int],
    statuses: Sequence[str],
    reasons: Sequence[str | None],
    ats: Sequence[datetime],
    sequences: Sequence[int],
) -> int:
    """Per-message callbacks for the changes whose campaign has a callback URL; how many."""
    rows = await conn.fetch(
        queries.enqueue_message_callbacks,
        list(ids),
        list(statuses),
        list(reasons),
        list(ats),
        list(sequences),
    )
    return len(rows)


async def claim_due(
    conn: asyncpg.Connection, now: datetime, limit: int, lease_until: datetime
) -> list[asyncpg.Record]:
    return await conn.fetch(queries.claim_due_callbacks, now, limit, lease_until)


async def webhook_secrets(conn: asyncpg.Connection, account_ids: Iterable[int]) -> dict[int, str]:
    rows = await conn.fetch(queries.webhook_secrets, list(account_ids))
    return {r["id"]: r["webhook_secret"] for r in rows}


async def delivered(conn: asyncpg.Connection, callback_id: int) -> None:
    await conn.execute(queries.callback_delivered, callback_id)


async def failed(
    conn: asyncpg.Connection, callback_id: int, error: str, retry_at: datetime | None
) -> None:
    """Retry at `retry_at`, or dead when it is None."""
    await conn.execute(queries.callback_failed, callback_id, error, retry_at)


async def outbox_depth(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval(queries.callback_outbox_depth))


async def campaigns_with_callback(
    conn: asyncpg.Connection, campaign_ids: Sequence[int]
) -> set[int]:
    """Which of these campaigns have a per-message callback URL."""
    rows = await conn.fetch(queries.campaigns_with_callback, list(campaign_ids))
    return {r["id"] for r in rows}
