"""Sending batches in bulk, as expansion leaves them (messages queued with their route and one
pending part each), for tests of the dispatcher's claims at scale: set-based SQL, so ten
thousand batches take a second, not ten thousand round trips."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

_names = itertools.count(1)


@dataclass(frozen=True)
class SendingBatch:
    account: int
    campaign: int
    batch: int


async def make_accounts(conn: Any, count: int, *, weight: int = 1, priority: int = 0) -> list[int]:
    """Accounts with a sender each."""
    tag = f"q{next(_names)}-"
    rows = await conn.fetch(
        """
        WITH a AS (
            INSERT INTO accounts (name, webhook_secret, credit, weight, priority)
            SELECT $1 || i, 'secret', 1000000, $3, $4
            FROM generate_series(1, $2) AS i
            RETURNING id
        ), s AS (
            INSERT INTO senders (account_id, address, kind, ton, npi)
            SELECT id, 'Herald', 'alphanumeric', 5, 0 FROM a
            RETURNING account_id
        )
        SELECT account_id FROM s ORDER BY account_id
        """,
        tag,
        count,
        weight,
        priority,
    )
    return [r["account_id"] for r in rows]


async def sending_batches(
    conn: Any,
    accounts: Sequence[int],
    sizes: Sequence[int],
    *,
    route: str | None = "all",
    not_before: datetime,
    traffic_class: str = "bulk",
) -> list[SendingBatch]:
    """One running campaign per account given (an account may come more than once) with one
    sending batch of sizes[i] queued messages, all due at `not_before`."""
    tag = next(_names)
    names = [f"c{tag}-{i}" for i in range(len(accounts))]
    campaigns = await conn.fetch(
        """
        INSERT INTO campaigns (account_id, name, sender_id, template, status,
                               respect_quiet_hours, traffic_class)
        SELECT a.account_id, a.name,
               (SELECT id FROM senders s WHERE s.account_id = a.account_id LIMIT 1),
               'Hello', 'running', false, $3
        FROM unnest($1::bigint[], $2::text[]) AS a(account_id, name)
        RETURNING id, name
        """,
        list(accounts),
        names,
        traffic_class,
    )
    campaign_of = {r["name"]: r["id"] for r in campaigns}
    campaign_ids = [campaign_of[n] for n in names]
    made = await conn.fetch(
        """
        INSERT INTO batches (campaign_id, number, status, started_at)
        SELECT id, 1, 'sending', now() FROM unnest($1::bigint[]) AS id
        RETURNING id, campaign_id
        """,
        campaign_ids,
    )
    batch_of = {r["campaign_id"]: r["id"] for r in made}
    batches = [SendingBatch(a, c, batch_of[c]) for a, c in zip(accounts, campaign_ids, strict=True)]
    await conn.execute(
        """
        WITH m AS (
            INSERT INTO messages (batch_id, campaign_id, account_id, phone, text, encoding,
                                  data_coding, esm_class, part_count, status, not_before, route)
            SELECT b.batch_id, b.campaign_id, b.account_id,
                   '+30694' || lpad(g::text, 7, '0'), 'Hello', 'gsm7',
                   0, 0, 1, 'queued', $5, $6
            FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::integer[])
                 WITH ORDINALITY AS b(batch_id, campaign_id, account_id, size, pos),
                 generate_series(1, b.size) AS g
            ORDER BY b.pos, g
            RETURNING id, batch_id
        ), p AS (
            INSERT INTO parts (message_id, seq, short_message)
            SELECT id, 1, '\\x48656c6c6f'::bytea FROM m
        )
        UPDATE batches b SET first_message_id = r.first_id, last_message_id = r.last_id
        FROM (SELECT batch_id, min(id) AS first_id, max(id) AS last_id
              FROM m GROUP BY batch_id) r
        WHERE b.id = r.batch_id
        """,
        [b.batch for b in batches],
        [b.campaign for b in batches],
        [b.account for b in batches],
        list(sizes),
        not_before,
        route,
    )
    return batches
