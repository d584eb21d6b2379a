"""Messages leased through the dispatcher's claim statement, for tests that need them leased.

The dispatcher decides what to claim with its fair share (tests/integration/test_fair_share.py
tests those choices); here every due queue is claimed from in turn, oldest first, up to a
total, the way the claim ordered messages before it had a fair share.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from herald.store import dispatch as store
from herald.store.dispatch import Pick


async def claim_due(
    conn: Any, owner: str, limit: int, now: datetime, lease_until: datetime
) -> list[Any]:
    """Up to `limit` due messages leased to `owner`: the claim's rows (one per part)."""
    rows: list[Any] = []
    claimed: set[int] = set()
    queues = sorted(await store.due_queues(conn), key=lambda q: (q.next_due, q.batch_id, q.route))
    for queue in queues:
        left = limit - len(claimed)
        if left <= 0:
            break
        if queue.next_due > now:
            continue
        pick = Pick(queue.batch_id, queue.route, left)
        taken = await store.claim_due_messages(conn, owner, [pick], now, lease_until)
        rows += taken
        claimed.update(r["id"] for r in taken)
    return rows
