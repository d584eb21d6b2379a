"""SQL of messages one by one: the request's campaign, the answer's rows, reading an
account's messages by id, by client reference or page by page."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from herald.store.queries import queries
from herald.store.rows import Conn, fetch_one


@dataclass(frozen=True)
class MessageRequest:
    """The campaign columns of one request to POST /v1/messages."""

    sender_id: int
    template: str
    values: Mapping[str, str]  # stored as the fallback values: every recipient gets them
    flash: bool
    transcode: bool
    respect_quiet_hours: bool
    quiet_hours: Sequence[Mapping[str, str]]
    callback_url: str | None
    validity_minutes: int | None
    in_reply_to: int | None


async def create_message_campaign(conn: Conn, account_id: int, request: MessageRequest) -> int:
    row = await fetch_one(
        conn,
        queries.create_message_campaign,
        account_id,
        request.sender_id,
        request.template,
        dict(request.values),
        request.flash,
        request.transcode,
        request.respect_quiet_hours,
        [dict(w) for w in request.quiet_hours],
        request.callback_url,
        request.validity_minutes,
        request.in_reply_to,
    )
    return int(row["id"])


async def batch_messages(conn: Conn, campaign_id: int, batch_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(queries.batch_messages, campaign_id, batch_id)


async def account_message(conn: Conn, message_id: int, account_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(queries.account_message, message_id, account_id)


@dataclass(frozen=True)
class MessageFilter:
    statuses: Sequence[str] | None = None
    phone: str | None = None
    client_ref: str | None = None


async def list_account_messages(
    conn: Conn,
    account_id: int,
    where: MessageFilter,
    *,
    after: tuple[int, int] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """One page of the account's messages, newest run first, after the cursor (run id,
    message id); each row as account_message gives it."""
    batch, message = after if after is not None else (None, None)
    args: list[Any] = [
        account_id,
        batch,
        message,
        list(where.statuses) if where.statuses else None,
        where.phone,
        limit,
    ]
    if where.client_ref is not None:
        ids = await conn.fetch(queries.list_messages_by_client_ref, *args, where.client_ref)
    else:
        ids = await conn.fetch(queries.list_account_messages, *args)
    if not ids:
        return []
    return await conn.fetch(queries.messages_by_id, [r["id"] for r in ids])
