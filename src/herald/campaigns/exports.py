"""A campaign's messages as CSV, streamed (docs/api.md, exports).

Rows are read a chunk at a time by id (`WHERE id > last ORDER BY id LIMIT n` over
messages_pkey), each chunk a COPY ... CSV on a pooled connection held only for it, so a
million-row export holds a chunk in memory, never a connection or a snapshot for its whole
length (a long transaction would hold back vacuum on the send path's tables). PostgreSQL
writes the lines (store/sql/insight.sql, export_messages: one message per line, its id first,
formula-looking cells neutralised); Python only passes them on. Rows are as they stand when
their chunk is read. At most `concurrency` exports read at once per process; more wait their
turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

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
HEADER = (",".join(COLUMNS) + "\n").encode("ascii")
CHUNK = 5000  # messages per query


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
        yield HEADER
        async with self._slots:
            async with self._db.acquire() as conn:
                with_clicks = await store.has_clicks(conn, campaign_id)
            after = 0
            while True:
                async with self._db.acquire() as conn:
                    lines = await store.export_chunk(
                        conn, campaign_id, after, self._chunk, with_clicks
                    )
                if not lines:
                    return
                yield lines
                after = last_id(lines)


def last_id(lines: bytes) -> int:
    """The id of the last message of a chunk: the first cell of its last line."""
    return int(lines.rstrip(b"\n").rsplit(b"\n", 1)[-1].split(b",", 1)[0])
