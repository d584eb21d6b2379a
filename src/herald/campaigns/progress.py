"""A campaign's progress counters: messages per status, segments (parts) per their own state,
what its runs expected, why and until when its deferred messages wait, and clicks on its
tracked links."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from herald.states import MESSAGE, segment_status
from herald.store import campaigns as store
from herald.store import links as link_store
from herald.store.rows import Row

Progress = dict[str, Any]
NO_CLICKS = {"clicks": 0, "unique": 0}


def progress_of(
    by_status: Iterable[Row],
    part_states: Iterable[Row],
    batches: Iterable[Row],
    deferred: Iterable[Row] = (),
    clicks: Mapping[str, int] = NO_CLICKS,
) -> Progress:
    """{"messages": {...}, "segments": {...}, "deferred": [...], "clicks": {...}}: messages and
    segments each with `expected` (what the runs expanded, rejected messages included; a
    reminder's batch is not a run) and a count for every message status, a segment counted by
    its part's own state (states.segment_status); `deferred` one entry per reason deferred
    messages wait for, with how many and when the first and the last of them are due; clicks
    on tracked links and the messages clicked (`unique`)."""
    batches = [b for b in batches if b["kind"] == "run"]
    messages = {"expected": sum(int(b["messages_expected"]) for b in batches)}
    segments = {"expected": sum(int(b["segments_expected"]) for b in batches)}
    for status in MESSAGE.states:
        messages[status] = segments[status] = 0
    for row in by_status:
        messages[row["status"]] = int(row["messages"])
    for row in part_states:
        status = segment_status(row["status"], row["state"], row["receipted"])
        segments[status] += int(row["parts"])
    return {
        "messages": messages,
        "segments": segments,
        "clicks": dict(clicks),
        "deferred": [
            {
                "reason": row["reason"],
                "messages": int(row["messages"]),
                # ISO 8601 text: progress also goes into campaign callbacks as JSON.
                "next_at": row["next_at"].isoformat(),
                "last_at": row["last_at"].isoformat(),
            }
            for row in deferred
        ],
    }


async def campaign_progress(
    conn: Any, campaign_id: int, batches: Iterable[Row] | None = None
) -> Progress:
    by_status = await store.progress(conn, campaign_id)
    waiting = any(r["status"] == "deferred" for r in by_status)
    return progress_of(
        by_status,
        await store.part_states(conn, campaign_id),
        await store.batches(conn, campaign_id) if batches is None else batches,
        await store.deferred(conn, campaign_id) if waiting else (),
        await link_store.click_counts(conn, campaign_id),
    )
