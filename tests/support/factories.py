"""Builders for test data, through the same named queries herald uses."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from herald.store import campaigns as campaign_store
from herald.store.accounts import NewAccount, create_account
from herald.store.campaigns import RecipientRow
from herald.store.queries import queries

_names = itertools.count(1)


async def make_account(
    conn: Any, *, credit: int = 1_000_000, name: str | None = None
) -> NewAccount:
    return await create_account(conn, name or f"account-{next(_names)}", credit)


async def make_sender(
    conn: Any,
    account_id: int,
    address: str = "Herald",
    kind: str = "alphanumeric",
    ton: int = 5,
    npi: int = 0,
) -> int:
    return await conn.fetchval(queries.create_sender, account_id, address, kind, ton, npi)


async def make_campaign(
    conn: Any,
    account_id: int,
    sender_id: int,
    template: str = "Hello %Name%",
    *,
    name: str | None = None,
    fallback_values: Mapping[str, str] | None = None,
    flash: bool = False,
    transcode: bool = False,
    respect_quiet_hours: bool = False,
    scheduled_at: datetime | None = None,
    callback_url: str | None = None,
    campaign_callback_url: str | None = None,
    reminder: Mapping[str, object] | None = None,
    ignore_invalid_numbers: bool = False,
    mobiles_only: bool = False,
    status: str = "scheduled",
) -> int:
    row = await conn.fetchrow(
        queries.create_campaign,
        account_id,
        name or f"campaign {next(_names)}",
        sender_id,
        template,
        dict(fallback_values or {}),
        flash,
        transcode,
        respect_quiet_hours,
        [{"from": "23:00", "to": "08:00"}, {"from": "14:00", "to": "17:00"}],
        scheduled_at,
        callback_url,
        campaign_callback_url,
        dict(reminder) if reminder else None,
        ignore_invalid_numbers,
        mobiles_only,
        status,
    )
    return int(row["id"])


async def add_recipients(
    conn: Any,
    campaign_id: int,
    recipients: Iterable[str | tuple[str, str | None, Mapping[str, str]]],
) -> None:
    """Numbers (str) or (phone, name, labels) recipient objects."""
    await campaign_store.add_recipients(
        conn,
        campaign_id,
        [
            RecipientRow("number", r, None, {}, None)
            if isinstance(r, str)
            else RecipientRow("recipient", r[0], r[1], dict(r[2]), None)
            for r in recipients
        ],
    )


def greek_mobiles(count: int, start: int = 0) -> list[str]:
    """Valid Greek mobile numbers in E.164, distinct."""
    return [f"+30694{n:07d}" for n in range(start, start + count)]
