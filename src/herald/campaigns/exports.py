"""A campaign's messages as CSV, streamed (docs/api.md, exports).

Rows are read a chunk at a time by id (`WHERE id > last ORDER BY id LIMIT n` over
messages_pkey), each chunk on a pooled connection held only for its query, so a million-row
export holds a chunk in memory, never a connection or a snapshot for its whole length (a
long transaction would hold back vacuum on the send path's tables). Rows are as they stand
when their chunk is read. At most `concurrency` exports read at once per process; more
wait their turn.

Cells a spreadsheet would run as a formula (starting with = + - @, a tab or a carriage
return: carriers' ids and reasons are not ours) are written with a leading `'`, except E.164
numbers, which are only digits after the `+`.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from herald.campaigns.lifecycle import campaign_not_found
from herald.store import campaigns as campaign_store
from herald.store import insight as store
from herald.store.db import Database

COLUMNS = (
    "message_id",
    "batch_id",
    "phone",
    "country",
    "status",
    "reason",
    "parts",
    "smsc_message_ids",
    "route",
    "created_at",
    "sent_at",
    "done_at",
    "delivered_at",
    "clicks",
    "clicked_at",
)
CHUNK = 2000  # messages per query
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_E164 = re.compile(r"\+[0-9]{1,15}")


@dataclass(frozen=True)
class Export:
    """An export about to stream: what the answer's headers say, and its rows."""

    campaign_id: int
    messages: int  # what the campaign's runs expanded: the rows to come
    rows: AsyncIterator[bytes]

    @property
    def filename(self) -> str:
        return f"campaign-{self.campaign_id}-messages.csv"


class ExportService:
    def __init__(self, db: Database, *, concurrency: int = 2, chunk: int = CHUNK) -> None:
        self._db = db
        self._slots = asyncio.Semaphore(concurrency)
        self._chunk = chunk

    async def messages_csv(self, account_id: int, campaign_id: int) -> Export:
        """The export of the campaign's messages; campaign_not_found before anything streams."""
        async with self._db.acquire() as conn:
            if await campaign_store.get_campaign(conn, campaign_id, account_id) is None:
                raise campaign_not_found(campaign_id)
            count = await store.message_count(conn, campaign_id)
        return Export(campaign_id, count, self._stream(campaign_id))

    async def _stream(self, campaign_id: int) -> AsyncIterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        yield _drain(buffer)
        async with self._slots:
            async with self._db.acquire() as conn:
                with_clicks = await store.has_clicks(conn, campaign_id)
            after = 0
            while True:
                async with self._db.acquire() as conn:
                    rows = await store.export_chunk(
                        conn, campaign_id, after, self._chunk, with_clicks
                    )
                if not rows:
                    return
                writer.writerows(csv_row(r) for r in rows)
                yield _drain(buffer)
                after = rows[-1]["id"]


def _drain(buffer: io.StringIO) -> bytes:
    data = buffer.getvalue().encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    return data


def csv_row(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """One message as the export's cells, in COLUMNS order."""
    delivered_at = row["done_at"] if row["status"] == "delivered" else None
    return (
        row["id"],
        row["batch_id"],
        _phone(row["phone"]),
        row["country"] or "",
        row["status"],
        _text(row["reason"]),
        row["part_count"],
        _text(row["smsc_ids"]),
        _text(row["route"]),
        _time(row["created_at"]),
        _time(row["sent_at"]),
        _time(row["done_at"]),
        _time(delivered_at),
        row["clicks"],
        _time(row["clicked_at"]),
    )


def _text(value: str | None) -> str:
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _phone(value: str) -> str:
    return value if _E164.fullmatch(value) else _text(value)


def _time(value: datetime | None) -> str:
    return "" if value is None else value.isoformat()
