"""A campaign's progress counters: messages and segments per status, and what its batches
expected (one GROUP BY over the campaign's messages); clicks on its tracked links."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from herald.states import MESSAGE
from herald.store import campaigns as store
from herald.store import links as link_store

Progress = dict[str, dict[str, int]]
NO_CLICKS = {"clicks": 0, "unique": 0}


def progress_of(
    by_status: Iterable[Mapping[str, Any]],
    batches: Iterable[Mapping[str, Any]],
    clicks: Mapping[str, int] = NO_CLICKS,
) -> Progress:
    """{"messages": {...}, "segments": {...}, "clicks": {...}}: messages and segments each
    with `expected` (what the batches expanded, rejected messages included) and a count for
    every message status; clicks on tracked links and the messages clicked (`unique`)."""
    batches = list(batches)
    messages = {"expected": sum(int(b["messages_expected"]) for b in batches)}
    segments = {"expected": sum(int(b["segments_expected"]) for b in batches)}
    for status in MESSAGE.states:
        messages[status] = segments[status] = 0
    for row in by_status:
        messages[row["status"]] = int(row["messages"])
        segments[row["status"]] = int(row["segments"])
    return {"messages": messages, "segments": segments, "clicks": dict(clicks)}


async def campaign_progress(conn: Any, campaign_id: int) -> Progress:
    return progress_of(
        await store.progress(conn, campaign_id),
        await store.batches(conn, campaign_id),
        await link_store.click_counts(conn, campaign_id),
    )
