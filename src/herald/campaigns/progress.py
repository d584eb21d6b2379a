"""A campaign's progress counters: messages per status, segments (parts) per their own state,
what its runs expected, why and until when its deferred messages wait, and clicks on its
tracked links.

The counts come from each batch's progress counters (`batch_counts` in store/sql/schema.sql),
which every statement that moves a message or a part keeps in step in that statement: a read
costs a few rows per batch however many messages the campaign has. `counted_progress` counts
the messages and parts themselves, what the counters must always equal (tests compare them).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from herald.states import MESSAGE, segment_status
from herald.store import campaigns as store
from herald.store import links as link_store
from herald.store.rows import Row

Progress = dict[str, Any]
NO_CLICKS = {"clicks": 0, "unique": 0}


def progress_of(
    messages_by_status: Mapping[str, int],
    segments_by_status: Mapping[str, int],
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
        messages[status] = int(messages_by_status.get(status, 0))
        segments[status] = int(segments_by_status.get(status, 0))
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
    """The campaign's progress from its batches' counters, and the deferred messages'
    reasons when there are any."""
    counts = await counter_totals(conn, campaign_id)
    return progress_of(
        counts["messages"],
        counts["segments"],
        await store.batches(conn, campaign_id) if batches is None else batches,
        await store.deferred(conn, campaign_id) if counts["messages"]["deferred"] else (),
        await link_store.click_counts(conn, campaign_id),
    )


async def counter_totals(conn: Any, campaign_id: int) -> dict[str, Counter[str]]:
    """{"messages": by status, "segments": by status}: the sums of the runs' counters."""
    counts: dict[str, Counter[str]] = {"messages": Counter(), "segments": Counter()}
    for row in await store.counts(conn, campaign_id):
        counts[row["kind"]][row["status"]] += int(row["n"])
    return counts


async def counted_progress(conn: Any, campaign_id: int) -> Progress:
    """The same, counted over the campaign's messages and parts."""
    messages = {r["status"]: int(r["messages"]) for r in await store.progress(conn, campaign_id)}
    segments: Counter[str] = Counter()
    for row in await store.part_states(conn, campaign_id):
        segments[segment_status(row["status"], row["state"], row["receipted"])] += int(row["parts"])
    return progress_of(
        messages,
        segments,
        await store.batches(conn, campaign_id),
        await store.deferred(conn, campaign_id) if messages.get("deferred") else (),
        await link_store.click_counts(conn, campaign_id),
    )
