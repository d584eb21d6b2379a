"""Fair share: which due queues a claim takes messages from, and how many of each.

A queue is one batch's messages on one route (DueQueue). Per route, the queues
with due messages hang in a tree, and each claim's share of the route's room goes down it:

    route ─ tier (strict order) ─ account (by weight) ─ campaign (equal) ─ batch (equal)

- Tiers are served in order: transactional traffic before bulk campaigns, and within each,
  accounts of higher priority first.
- Within a tier, accounts share by weight; within an account, its campaigns share equally,
  and within a campaign, its batches (runs sending at the same time) do.

The shares are weighted fair queueing by virtual time: every child carries a tag, the service
it has had divided by its weight, and the children whose next slot would finish first (tag
plus 1/weight) are served first. Ordering by the tag alone (start-time fair queueing) lets a
heavy account fall several slots behind its weight when claims are small: with weights
1, 2, 2, 2 and 10 and one slot per claim, the weight-10 account had 15 of 29 slots instead of
17 (tests/unit/test_fair_share.py). A
claim's slots raise the lowest tags to one level (water-filling), so each child served costs a
heap operation per claim, not per message. A child that becomes active starts at the lowest
tag among those already active (its parent's virtual time): an account idle for an hour has
earned no burst, and one that just arrived shares the next claim with the rest at once.

What a pick did not get (its queue had fewer due messages than the share gave it) is handed
back to the tags, and the queue is drained: it waits for the next `load` that finds it due
again (the dispatcher's full read of the queues, at a bounded rate). A queue whose messages
all wait (quiet hours, retry backoff) becomes due at its earliest `not_before`.

Starvation: the strict tiers could hold a queue back for as long as a higher tier has work.
A queue that has waited `starvation_limit` seconds with due messages (checked at each complete
load) gets one message at the next claim of its route, ahead of every tier.

Nothing here does I/O or reads a clock: the dispatcher passes `now`.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from herald.store.dispatch import Pick, TrafficClass


@dataclass(frozen=True, slots=True)
class DueQueue:
    """A queue as the share sees it: one batch's messages on one route, due at `next_due`
    (store.dispatch.QueueHead), with what decides its share (store.dispatch.QueueOwner)."""

    batch_id: int
    route: str
    next_due: datetime
    campaign_id: int
    account_id: int
    traffic_class: TrafficClass
    weight: int  # the account's
    priority: int  # the account's


TierKey = tuple[int, int]  # (0 transactional | 1 bulk, -priority): ascending is serving order
QueueKey = tuple[int, str]  # (batch id, route)

_order = itertools.count()  # tie-breaker: among equal finish tags, the one queued first


def tier_of(queue: DueQueue) -> TierKey:
    return (0 if queue.traffic_class == "transactional" else 1, -queue.priority)


class _Child:
    """What a parent's heap holds: a queue, or a group of queues (campaign, account)."""

    __slots__ = ("active", "key", "parent", "stamp", "tag", "weight")

    def __init__(self, key: object, parent: _Group | None, weight: int = 1) -> None:
        self.key = key
        self.parent = parent
        self.weight = weight
        self.tag = 0.0  # virtual finish time in the parent's scale
        self.stamp = 0  # bumped when it leaves the parent's heap: stale entries are skipped
        self.active = 0  # active children (a queue: 1 while due)


class _Queue(_Child):
    __slots__ = ("due_at", "path", "starving", "timer_at", "waiting_since")

    key: QueueKey

    def __init__(self, key: QueueKey, parent: _Group, path: tuple[TierKey, int, int]) -> None:
        super().__init__(key, parent)
        self.path = path  # (tier, account, campaign): a change moves the queue
        self.due_at: datetime | None = None  # None: drained, until the next load
        self.timer_at: datetime | None = None  # the time its pending timer fires
        self.waiting_since: datetime | None = None  # due and not served since
        self.starving = False


class _Group(_Child):
    """Children sharing this node's slots by weight (an account, a campaign) or a tier."""

    __slots__ = ("children", "heap", "vtime")

    def __init__(self, key: object, parent: _Group | None, weight: int = 1) -> None:
        super().__init__(key, parent, weight)
        self.children: dict[object, _Child] = {}
        self.heap: list[tuple[float, int, int, _Child]] = []
        self.vtime = 0.0  # the lowest tag of its active children, kept while none is active

    def push(self, child: _Child) -> None:
        heap = self.heap
        if len(heap) > 2 * len(self.children) + 16:  # mostly stale entries: keep the live
            heap[:] = [e for e in heap if e[3].stamp == e[2] and e[3].active]
            heapq.heapify(heap)
        heapq.heappush(heap, (child.tag + 1 / child.weight, next(_order), child.stamp, child))

    def _top(self) -> _Child | None:
        heap = self.heap
        while heap:
            _, _, stamp, child = heap[0]
            if child.stamp == stamp and child.active:
                return child
            heapq.heappop(heap)
        return None

    def serve(self, slots: int, out: list[Pick], now: datetime) -> None:
        """Give `slots` to the active children by their tags, down to the queues."""
        heap = self.heap
        child = self._top()
        if child is None:
            return
        if self.active == 1:  # the common case: one account, campaign or batch sending
            child.tag += slots / child.weight
            self.vtime = child.tag
            heapq.heapreplace(
                heap, (child.tag + 1 / child.weight, next(_order), child.stamp, child)
            )
            _give(child, slots, out, now)
            return
        # Water-filling: raise the lowest tags to one level L, where the slots run out
        # (sum of (L - tag) * weight = slots); each child served gets its part of that once
        # per claim, not slot by slot. No more children than slots are taken in.
        taken: list[_Child] = []
        weights = 0
        weighted_tags = 0.0
        while child is not None and len(taken) < slots:
            if taken and child.tag * weights - weighted_tags >= slots:
                break  # raising the others to this tag would use every slot
            heapq.heappop(heap)
            taken.append(child)
            weights += child.weight
            weighted_tags += child.tag * child.weight
            child = self._top()
        level = (slots + weighted_tags) / weights
        shares = [max(0, int((level - c.tag) * c.weight)) for c in taken]
        left = slots - sum(shares)
        for i in range(left):  # what flooring left over: to the lowest tags first
            shares[i % len(taken)] += 1
        for c, share in zip(taken, shares, strict=True):
            c.tag += share / c.weight
            heapq.heappush(heap, (c.tag + 1 / c.weight, next(_order), c.stamp, c))
            if share:
                _give(c, share, out, now)
        top = self._top()
        if top is not None:
            self.vtime = top.tag


def _give(child: _Child, slots: int, out: list[Pick], now: datetime) -> None:
    if isinstance(child, _Queue):
        batch_id, route = child.key
        out.append(Pick(batch_id, route, slots))
        child.waiting_since = now
    else:
        assert isinstance(child, _Group)
        child.serve(slots, out, now)


class _Route:
    """One route's tiers, served strictly in order, and its starving queues."""

    __slots__ = ("active", "starving", "tiers")

    def __init__(self) -> None:
        self.tiers: dict[TierKey, _Group] = {}
        self.active = 0  # active tiers
        self.starving: deque[_Queue] = deque()


class FairShare:
    """The due queues of every route, and the share of each claim they get."""

    def __init__(self, starvation_limit: float) -> None:
        self._starvation_limit = starvation_limit
        self._routes: dict[str, _Route] = {}
        self._queues: dict[QueueKey, _Queue] = {}
        self._timers: list[tuple[datetime, int, _Queue]] = []

    # --- what is known -----------------------------------------------------------------------

    @property
    def queues(self) -> int:
        """Queues known (due now, or later)."""
        return len(self._queues)

    def due_queues(self, now: datetime) -> int:
        self._fire_timers(now)
        return sum(q.active for q in self._queues.values())

    def routes_due(self, now: datetime) -> list[str]:
        """Routes with at least one queue due now."""
        self._fire_timers(now)
        return [name for name, route in self._routes.items() if route.active]

    def next_due(self) -> datetime | None:
        """When the earliest queue waiting for its messages' time becomes due."""
        timers = self._timers
        while timers:
            at, _, queue = timers[0]
            if self._queues.get(queue.key) is queue and queue.timer_at == at:
                return at
            heapq.heappop(timers)
        return None

    # --- the database's view -----------------------------------------------------------------

    def load(self, queues: Iterable[DueQueue], now: datetime, *, complete: bool = True) -> None:
        """Queues with messages queued or deferred, as just read: new ones join, drained ones
        with due messages again come back. When the read was `complete` (every sending
        batch), those missing (batch finished, suspended or stopped) leave, and those kept
        waiting too long are marked starving."""
        seen: set[QueueKey] = set()
        for row in queues:
            key = (row.batch_id, row.route)
            seen.add(key)
            path = (tier_of(row), row.account_id, row.campaign_id)
            queue = self._queues.get(key)
            if queue is not None and queue.path != path:  # moved (priority, class changed)
                self._remove(queue)
                queue = None
            if queue is None:
                queue = self._add(key, path, row.weight)
            else:
                account = queue.parent.parent if queue.parent else None
                if account is not None:
                    account.weight = row.weight
            queue.due_at = row.next_due
            if row.next_due <= now:
                self._activate(queue, now)
            else:
                self._deactivate(queue)
                if queue.timer_at != row.next_due:
                    queue.timer_at = row.next_due
                    heapq.heappush(self._timers, (row.next_due, next(_order), queue))
        if not complete:
            return
        for key in [k for k in self._queues if k not in seen]:
            self._remove(self._queues[key])
        if len(self._timers) > 2 * len(self._queues) + 64:  # stale entries of moved timers
            self._timers = [t for t in self._timers if self._queues.get(t[2].key) is t[2]]
            heapq.heapify(self._timers)
        self._find_starving(now)

    def _find_starving(self, now: datetime) -> None:
        for queue in self._queues.values():
            if (
                queue.active
                and not queue.starving
                and queue.waiting_since is not None
                and (now - queue.waiting_since).total_seconds() >= self._starvation_limit
            ):
                queue.starving = True
                self._routes[queue.key[1]].starving.append(queue)

    # --- claims ------------------------------------------------------------------------------

    def take(self, route: str, slots: int, now: datetime) -> list[Pick]:
        """Up to `slots` messages of `route`'s due queues, shared out: one pick per queue."""
        state = self._routes.get(route)
        if state is None or slots <= 0:
            return []
        self._fire_timers(now)
        out: list[Pick] = []
        while slots and state.starving:
            queue = state.starving.popleft()
            queue.starving = False
            if queue.active and self._queues.get(queue.key) is queue:
                out.append(Pick(queue.key[0], queue.key[1], 1))
                self._charge(queue, 1)
                queue.waiting_since = now
                slots -= 1
        if slots and state.active:
            for tier_key in sorted(state.tiers):
                tier = state.tiers[tier_key]
                if tier.active:
                    tier.serve(slots, out, now)
                    break
        if len(out) > 1:
            merged: dict[QueueKey, int] = {}
            for pick in out:
                key = (pick.batch_id, pick.route)
                merged[key] = merged.get(key, 0) + pick.messages
            if len(merged) < len(out):
                out = [Pick(b, r, n) for (b, r), n in merged.items()]
        return out

    def claimed(self, picks: Iterable[Pick], got: Mapping[QueueKey, int]) -> None:
        """What each pick got. A queue that gave fewer messages than it was asked for has no
        more due (or another dispatcher holds them): it is drained until the next load, and
        the slots it did not use are handed back to its tags."""
        for pick in picks:
            key = (pick.batch_id, pick.route)
            short = pick.messages - got.get(key, 0)
            queue = self._queues.get(key)
            if short <= 0 or queue is None:
                continue
            self._charge(queue, -short)
            self._deactivate(queue)
            queue.due_at = None

    # --- the tree ----------------------------------------------------------------------------

    def _add(self, key: QueueKey, path: tuple[TierKey, int, int], weight: int) -> _Queue:
        tier_key, account_id, campaign_id = path
        route = self._routes.get(key[1])
        if route is None:
            route = self._routes[key[1]] = _Route()
        tier = route.tiers.get(tier_key)
        if tier is None:
            tier = route.tiers[tier_key] = _Group(tier_key, None)
        account = tier.children.get(account_id)
        if account is None:
            account = tier.children[account_id] = _Group(account_id, tier, weight)
        assert isinstance(account, _Group)  # a tier's children are accounts
        account.weight = weight
        campaign = account.children.get(campaign_id)
        if campaign is None:
            campaign = account.children[campaign_id] = _Group(campaign_id, account)
        assert isinstance(campaign, _Group)  # an account's children are campaigns
        queue = _Queue(key, campaign, path)
        campaign.children[key] = queue
        self._queues[key] = queue
        return queue

    def _remove(self, queue: _Queue) -> None:
        self._deactivate(queue)
        del self._queues[queue.key]
        queue.timer_at = None
        route_name = queue.key[1]
        child: _Child = queue
        parent = queue.parent
        while parent is not None:  # prune groups left empty
            del parent.children[child.key]
            if parent.children:
                return
            child, parent = parent, parent.parent
        route = self._routes[route_name]
        del route.tiers[child.key]  # type: ignore[arg-type]
        if not route.tiers:
            del self._routes[route_name]

    def _activate(self, queue: _Queue, now: datetime) -> None:
        if queue.active:
            return
        queue.waiting_since = now
        child: _Child = queue
        child.active = 1
        parent = child.parent
        while parent is not None:
            top = parent._top()
            child.tag = max(child.tag, top.tag if top is not None else parent.vtime)
            child.stamp += 1
            parent.push(child)
            parent.active += 1
            if parent.active > 1:  # it was active already: its own parents know
                return
            child, parent = parent, parent.parent
        self._routes[queue.key[1]].active += 1  # a tier became active

    def _deactivate(self, queue: _Queue) -> None:
        if not queue.active:
            return
        queue.waiting_since = None
        child: _Child = queue
        child.active = 0
        while True:
            child.stamp += 1  # its heap entry is stale now
            parent = child.parent
            if parent is None:
                self._routes[queue.key[1]].active -= 1  # a tier became idle
                return
            parent.active -= 1
            if parent.active:
                return
            parent.vtime = max(parent.vtime, child.tag)  # where the next arrival starts
            child = parent

    def _charge(self, queue: _Queue, slots: int) -> None:
        """Count `slots` (negative: hand back) in the tags from the queue up to its account,
        and re-queue each in its parent's heap at its new tag."""
        child: _Child = queue
        while child.parent is not None:
            child.tag += slots / child.weight
            if child.active:
                child.stamp += 1
                child.parent.push(child)
            child = child.parent

    def _fire_timers(self, now: datetime) -> None:
        timers = self._timers
        while timers and timers[0][0] <= now:
            at, _, queue = heapq.heappop(timers)
            if self._queues.get(queue.key) is queue and queue.timer_at == at:
                queue.timer_at = None
                if queue.due_at == at:
                    self._activate(queue, now)
