"""A campaign's progress counters: messages and segments per status, and what its batches
expected (one GROUP BY over the campaign's messages)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from herald.states import MESSAGE
from herald.store import campaigns as store

Progress = dict[str, dict[str, int]]


def progress_of(
    by_status: Iterable[Mapping[str, Any]], batches: Iterable[Mapping[str, Any]]
) -> Progress:
    """{"messages": {...}, "segments": {...}}, each with `expected` (what the runs expanded,
    rejected messages included; a reminder's batch is not a run) and a count for every
    message status."""
    batches = [b for b in batches if b.get("kind", "run") == "run"]
    messages = {"expected": sum(int(b["messages_expected"]) for b in batches)}
    segments = {"expected": sum(int(b["segments_expected"]) for b in batches)}
    for status in MESSAGE.states:
        messages[status] = segments[status] = 0
    for row in by_status:
        messages[row["status"]] = int(row["messages"])
        segments[row["status"]] = int(row["segments"])
    return {"messages": messages, "segments": segments}


async def campaign_progress(conn: Any, campaign_id: int) -> Progress:
    return progress_of(
        await store.progress(conn, campaign_id), await store.batches(conn, campaign_id)
    )
