"""Reading an account's inbound messages (replies), newest first, page by page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from herald.campaigns.address_book import parse_sender_or_refuse
from herald.campaigns.cursors import decode_cursor, encode_cursor
from herald.config import Config
from herald.errors import RequestError
from herald.numbers import check_number
from herald.store import inbound as store
from herald.store import senders as sender_store
from herald.store.db import Database
from herald.store.rows import Row


def inbound_view(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "from": row["source_addr"],
        "phone": row["phone"],
        "to": row["destination_addr"],
        "sender": row["sender"],
        "sender_id": row["sender_id"],
        "text": row["text"],
        "data_coding": row["data_coding"],
        "parts": row["parts"],
        "missing_parts": row["missing_parts"],
        "keyword": row["keyword"],
        "action": row["action"],
        "bind": row["bind"],
        "received_at": row["received_at"],
        "stored_at": row["stored_at"],
    }


class Inbox:
    def __init__(self, db: Database, config: Config) -> None:
        self._db = db
        self._config = config

    async def list(
        self,
        account_id: int,
        *,
        sender: str | None,
        phone: str | None,
        received_from: datetime | None,
        received_before: datetime | None,
        cursor: str | None,
        limit: int,
    ) -> dict[str, Any]:
        """A page of replies to the account's senders, newest first; `next_cursor` goes on."""
        before = decode_cursor(cursor, 1)[0] if cursor is not None else None
        if phone is not None:
            e164, reason = check_number(phone, default_region=self._config.campaigns.default_region)
            if e164 is None:
                raise RequestError(
                    "invalid_numbers",
                    f"phone {phone!r} is not a valid number ({reason})",
                    {
                        "invalid_numbers": [
                            {"source": "phone", "index": 0, "phone": phone, "reason": reason}
                        ]
                    },
                )
            phone = e164
        async with self._db.acquire() as conn:
            sender_id = None
            if sender is not None:
                address = parse_sender_or_refuse(sender, self._config).address
                row = await sender_store.account_sender(conn, account_id, address)
                if row is None:
                    raise RequestError(
                        "sender_not_found",
                        f"sender {address!r} is not one of this account's senders",
                        {"sender": address},
                    )
                sender_id = int(row["id"])
            rows = await store.list_inbound(
                conn,
                account_id,
                store.InboundFilter(sender_id, phone, received_from, received_before),
                before_id=before,
                limit=limit + 1,
            )
        more = len(rows) > limit
        rows = rows[:limit]
        return {
            "items": [inbound_view(r) for r in rows],
            "next_cursor": encode_cursor(rows[-1]["id"]) if more else None,
        }
