"""The dispatcher's claims: the fair share over the due queues read from the database.

`refresh` reads every due queue (store.dispatch.due_queues: a statement whose cost grows with
the batches sending, hence run at a bounded rate and on wake-ups, never per claim); `claim`
takes each route's granted slots from the fair share (delivery/fair_share.py) and leases
exactly those messages in one statement that reads only the picked queues. What each pick
got goes back to the share, which drains the queues that ran dry.

A full read (`refresh`) replaces what the share knows; a read of the newest batches only
(`refresh(full=False)`: those with an id above the newest one sending at the last full read)
adds the runs started since, at a cost that grows with them alone, so a wake-up can be
answered at once however many batches are sending. (A run that was still expanding at a full
read, with an id below a newer one's, waits for the next full read.)

Who a queue belongs to (its campaign's traffic class, its account's weight and priority) is
read once per campaign and again every OWNERS_EVERY refreshes: the read of the queues stays
two index probes per batch, and an operator's change of an account's share still arrives.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from herald.delivery.fair_share import DueQueue, FairShare
from herald.store import dispatch as store
from herald.store.dispatch import Pick, QueueOwner

OWNERS_EVERY = 10  # refreshes between two reads of every known campaign's owner


@dataclass(frozen=True, slots=True)
class Claim:
    picks: list[Pick]  # what the share asked of each queue
    rows: list[Any]  # what the claim leased: a row per part still to send


class Claimer:
    def __init__(self, owner: str, *, starvation_limit: float) -> None:
        self.owner = owner
        self.share = FairShare(starvation_limit)
        self._owners: dict[int, QueueOwner] = {}  # by campaign
        self._refreshes = 0
        self._newest = 0  # the newest batch sending at the last full read

    async def refresh(self, conn: Any, now: datetime, *, full: bool = True) -> None:
        """Read the due queues into the share: all of them, or those of the newest batches."""
        if full:
            newest = await store.newest_sending_batch(conn)
            heads = await store.due_queues(conn)
            self._newest = newest
            self._refreshes += 1
        else:
            heads = await store.due_queues(conn, self._newest)
        campaigns = {h.campaign_id for h in heads}
        every = full and self._refreshes % OWNERS_EVERY == 1
        wanted = campaigns if every else campaigns - self._owners.keys()
        if every:  # only the campaigns sending are kept
            self._owners = {c: o for c, o in self._owners.items() if c in campaigns}
        if wanted:
            for owner in await store.queue_owners(conn, sorted(wanted)):
                self._owners[owner.campaign_id] = owner
        queues = []
        for h in heads:
            o = self._owners.get(h.campaign_id)
            if o is not None:  # (a campaign deleted since its queues were read)
                queues.append(
                    DueQueue(
                        h.batch_id,
                        h.route,
                        h.next_due,
                        h.campaign_id,
                        h.account_id,
                        o.traffic_class,
                        o.weight,
                        o.priority,
                    )
                )
        self.share.load(queues, now, complete=full)

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
