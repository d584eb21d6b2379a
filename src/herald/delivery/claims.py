"""The dispatcher's claims: the fair share over the due queues read from the database.

`refresh` reads every due queue (store.dispatch.due_queues: a statement whose cost grows with
the batches sending, hence run at a bounded rate and on wake-ups, never per claim); `claim`
takes each route's granted slots from the fair share (delivery/fair_share.py) and leases
exactly those messages in one statement that reads only the picked queues. What each pick
got goes back to the share, which drains the queues that ran dry.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from herald.delivery.fair_share import FairShare
from herald.store import dispatch as store
from herald.store.dispatch import Pick


@dataclass(frozen=True, slots=True)
class Claim:
    picks: list[Pick]  # what the share asked of each queue
    rows: list[Any]  # what the claim leased: a row per part still to send


class Claimer:
    def __init__(self, owner: str, *, starvation_limit: float) -> None:
        self.owner = owner
        self.share = FairShare(starvation_limit)

    async def refresh(self, conn: Any, now: datetime) -> None:
        """Read the due queues into the share."""
        self.share.load(await store.due_queues(conn), now)

    async def claim(
        self, conn: Any, grants: Mapping[str, int], now: datetime, lease_until: datetime
    ) -> Claim:
        """Lease up to `grants[route]` due messages on each route, shared out fairly: the
        picks and the claim's rows, one per part still to send (see
        store.dispatch.claim_due_messages)."""
        picks = [p for route, n in grants.items() for p in self.share.take(route, n, now)]
        if not picks:
            return Claim(picks, [])
        rows = await store.claim_due_messages(conn, self.owner, picks, now, lease_until)
        got: Counter[tuple[int, str]] = Counter()
        seen: set[int] = set()
        for row in rows:
            if row["id"] not in seen:  # a row per part: count messages
                seen.add(row["id"])
                got[row["batch_id"], row["route"]] += 1
        self.share.claimed(picks, got)
        return Claim(picks, rows)
