"""The fair share on its own (no database): every claim is shared out whole, weights hold at
every level, and nobody waits longer than a round."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import example, given, settings
from hypothesis import strategies as st

from herald.delivery.fair_share import DueQueue, FairShare
from herald.store.dispatch import Pick, TrafficClass

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def queue(
    batch: int,
    account: int,
    campaign: int | None = None,
    *,
    weight: int = 1,
    priority: int = 0,
    traffic_class: TrafficClass = "bulk",
    due: datetime = NOW,
    route: str = "all",
) -> DueQueue:
    return DueQueue(batch, route, due, campaign or batch, account, traffic_class, weight, priority)


class Backlogs:
    """Queues with so many messages due, claimed from as the database would."""

    def __init__(self, share: FairShare, sizes: dict[int, int]) -> None:
        self.share, self.sizes = share, dict(sizes)

    def claim(self, slots: int, now: datetime = NOW) -> Counter[int]:
        picks = self.share.take("all", slots, now)
        got = {}
        for pick in picks:
            n = min(pick.messages, self.sizes.get(pick.batch_id, 0))
            self.sizes[pick.batch_id] = self.sizes.get(pick.batch_id, 0) - n
            got[pick.batch_id, pick.route] = n
        self.share.claimed(picks, got)
        return Counter({b: n for (b, _), n in got.items() if n})


accounts_strategy = st.lists(
    st.tuples(st.integers(1, 10), st.integers(1, 3)),  # (weight, campaigns)
    min_size=1,
    max_size=12,
)


@settings(max_examples=100, deadline=None)
@given(accounts=accounts_strategy, slots=st.integers(1, 300), claims=st.integers(1, 30))
# Served by start tag, the heavy account fell behind: 15 of 29 slots instead of 17, 0 of 8
# instead of 2 (found by this test once; kept so that every run tries them).
@example(accounts=[(1, 1), (2, 1), (2, 1), (2, 1), (10, 1)], slots=1, claims=29)
@example(accounts=[(1, 1)] * 8 + [(3, 1)], slots=2, claims=4)
def test_backlogged_accounts_get_their_weight_and_campaigns_split_evenly(
    accounts: list[tuple[int, int]], slots: int, claims: int
) -> None:
    share = FairShare(starvation_limit=60)
    queues, owner = [], {}
    for account, (weight, campaigns) in enumerate(accounts, 1):
        for c in range(campaigns):
            batch = account * 10 + c
            queues.append(queue(batch, account, batch, weight=weight))
            owner[batch] = account
    share.load(queues, NOW)
    backlog = Backlogs(share, {q.batch_id: 10**9 for q in queues})
    served: Counter[int] = Counter()
    by_batch: Counter[int] = Counter()
    for _ in range(claims):
        got = backlog.claim(slots)
        assert sum(got.values()) == slots  # a claim is always shared out whole
        for batch, n in got.items():
            served[owner[batch]] += n
            by_batch[batch] += n
    total = slots * claims
    weights = {a: w for a, (w, _) in enumerate(accounts, 1)}
    all_weight = sum(weights.values())
    for account, weight in weights.items():
        # Within two slots of the exact share of its weight
        ideal = total * weight / all_weight
        assert abs(served[account] - ideal) <= 2, (account, served, ideal)
    for account, (_, campaigns) in enumerate(accounts, 1):
        mine = [by_batch[account * 10 + c] for c in range(campaigns)]
        assert max(mine) - min(mine) <= 1, mine


@settings(max_examples=40, deadline=None)
@given(queues=st.integers(1, 400), slots=st.integers(1, 100))
def test_equal_queues_are_all_served_within_one_round(queues: int, slots: int) -> None:
    share = FairShare(starvation_limit=60)
    share.load([queue(b, b) for b in range(1, queues + 1)], NOW)
    backlog = Backlogs(share, dict.fromkeys(range(1, queues + 1), 10**9))
    seen: set[int] = set()
    for _ in range(math.ceil(queues / slots)):
        seen |= set(backlog.claim(slots))
    assert len(seen) == queues


def test_a_drained_queue_hands_back_its_slots_and_leaves_until_the_next_read() -> None:
    share = FairShare(starvation_limit=60)
    share.load([queue(1, 1), queue(2, 2)], NOW)
    backlog = Backlogs(share, {1: 3, 2: 10**9})
    assert backlog.claim(100) == {1: 3, 2: 50}  # 47 of its 50 were not there
    assert backlog.claim(100) == {2: 100}
    assert share.due_queues(NOW) == 1
    backlog.sizes[1] = 100  # retries came due; the next read finds them
    share.load([queue(1, 1), queue(2, 2)], NOW)
    # Back, it starts level with the others: the slots it could not use were handed back,
    # and being empty for a while earns no catching up.
    assert backlog.claim(100) == {1: 50, 2: 50}


def test_a_new_account_shares_the_next_claim_and_earns_no_credit_while_idle() -> None:
    share = FairShare(starvation_limit=60)
    share.load([queue(1, 1)], NOW)
    backlog = Backlogs(share, {1: 10**9, 2: 10**9})
    for _ in range(10):
        backlog.claim(500)  # account 1 alone: 5,000 slots
    share.load([queue(1, 1), queue(2, 2)], NOW)
    assert backlog.claim(500) == {1: 250, 2: 250}  # no burst for the newcomer either


def test_tiers_go_first_and_a_starving_queue_gets_one_message_per_limit() -> None:
    share = FairShare(starvation_limit=10)
    queues = [
        queue(1, 1),
        queue(2, 2, priority=3),
        queue(3, 3, traffic_class="transactional", priority=-5),
    ]
    share.load(queues, NOW)
    backlog = Backlogs(share, dict.fromkeys([1, 2, 3], 10**9))
    assert backlog.claim(10) == {3: 10}  # transactional, whatever its priority
    backlog.sizes[3] = 0
    assert backlog.claim(10) == {}  # the claim that finds it empty brings nothing
    assert backlog.claim(10) == {2: 10}  # then priority 3 before 0
    later = NOW + timedelta(seconds=10)
    share.load(queues[:2], later)  # the bulk queue of priority 0 has waited 10 s
    assert backlog.claim(10, later) == {1: 1, 2: 9}
    assert backlog.claim(10, later) == {2: 10}


def test_picks_are_one_per_queue_and_routes_are_apart() -> None:
    share = FairShare(starvation_limit=60)
    share.load([queue(1, 1, route="gr"), queue(2, 1, route="es"), queue(3, 2, route="gr")], NOW)
    assert sorted(share.routes_due(NOW)) == ["es", "gr"]
    assert share.take("gr", 10, NOW) == [Pick(1, "gr", 5), Pick(3, "gr", 5)]
    assert share.take("es", 7, NOW) == [Pick(2, "es", 7)]
    assert share.take("nowhere", 7, NOW) == []
