"""The dispatcher's claims share each route between accounts, campaigns and batches, on a real
PostgreSQL: what each claim takes, counted in claims (never in seconds), and what a claim reads
and locks, from its plan."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from herald.delivery.claims import OWNERS_EVERY, Claimer
from herald.store import dispatch as store
from herald.store.db import Database
from herald.store.queries import queries
from tests.support.queues import make_accounts, sending_batches

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
LEASE = NOW + timedelta(minutes=5)


def claimer(owner: str = "d1", starvation_limit: float = 10.0) -> Claimer:
    return Claimer(owner, starvation_limit=starvation_limit)


async def claim(
    c: Claimer, conn: Any, slots: int, now: datetime = NOW, route: str = "all"
) -> list[Any]:
    """One claim of `slots` on `route`: one row per claimed message (their parts are one)."""
    return (await c.claim(conn, {route: slots}, now, LEASE)).rows


def by(rows: list[Any], column: str) -> Counter[int]:
    return Counter(r[column] for r in rows)


# --- accounts share a route ------------------------------------------------------------------


async def test_small_campaigns_get_messages_in_the_first_claim_while_a_big_one_sends(
    database: Database,
) -> None:
    # Claims ordered by (not_before, id) across accounts took the big campaign's 20,000
    # messages first: the small ones waited 40 claims of 500, two minutes on that day.
    async with database.acquire() as conn:
        [big_account] = await make_accounts(conn, 1)
        [big] = await sending_batches(conn, [big_account], [20_000], not_before=NOW)
        c = claimer()
        await c.refresh(conn, NOW)
        for _ in range(2):  # it is sending
            assert by(await claim(c, conn, 500), "batch_id") == {big.batch: 500}
        # Fifty accounts start a small campaign each, queued after the big one's messages.
        later = NOW + timedelta(seconds=1)
        small = await sending_batches(
            conn, await make_accounts(conn, 50), [12] * 50, not_before=later
        )
        await c.refresh(conn, later)  # on the wake-up each run sends
        claims = [by(await claim(c, conn, 500, later), "batch_id") for _ in range(3)]
    first = [min(i for i, got in enumerate(claims) if got[b.batch]) for b in small]
    assert first == [0] * 50  # every one in the first claim
    # 51 accounts share the first claim's 500 slots (9 or 10 each); the small campaigns are
    # done by the second, and the big one, never starved, has the third to itself.
    assert 9 <= claims[0][big.batch] <= 10
    assert all(9 <= claims[0][b.batch] <= 10 for b in small)
    assert sum(got[b.batch] for got in claims[:2] for b in small) == 50 * 12
    assert claims[2] == {big.batch: 500}


async def test_accounts_share_by_weight_and_campaigns_equally_within_an_account(
    database: Database,
) -> None:
    async with database.acquire() as conn:
        [heavy] = await make_accounts(conn, 1, weight=3)
        [light] = await make_accounts(conn, 1, weight=1)
        batches = await sending_batches(
            conn, [heavy, heavy, light], [10_000, 10_000, 10_000], not_before=NOW
        )
        c = claimer()
        await c.refresh(conn, NOW)
        rows = [r for _ in range(20) for r in await claim(c, conn, 200)]
    accounts, campaigns = by(rows, "account_id"), by(rows, "campaign_id")
    assert sum(accounts.values()) == 4_000
    assert abs(accounts[heavy] - 3_000) <= 2 and abs(accounts[light] - 1_000) <= 2  # 3:1
    first, second, _ = batches
    assert abs(campaigns[first.campaign] - 1_500) <= 2
    assert abs(campaigns[second.campaign] - 1_500) <= 2


async def test_an_operators_change_of_weight_is_seen_within_a_few_reads(
    database: Database,
) -> None:
    async with database.acquire() as conn:
        first, second = await make_accounts(conn, 2)
        await sending_batches(conn, [first, second], [5_000, 5_000], not_before=NOW)
        c = claimer()
        await c.refresh(conn, NOW)
        assert by(await claim(c, conn, 200), "account_id") == {first: 100, second: 100}
        await conn.execute("UPDATE accounts SET weight = 3 WHERE id = $1", first)
        for _ in range(OWNERS_EVERY):  # who owns a queue is read again every so many reads
            await c.refresh(conn, NOW)
        assert by(await claim(c, conn, 200), "account_id") == {first: 150, second: 50}


async def test_weights_hold_over_claims_too_small_to_serve_everyone(database: Database) -> None:
    # 300 accounts of weight 1 and one of weight 30, claims of 20: each claim serves some,
    # the virtual times carry the rest over to the next ones.
    async with database.acquire() as conn:
        many = await make_accounts(conn, 300)
        [heavy] = await make_accounts(conn, 1, weight=30)
        await sending_batches(conn, [*many, heavy], [50] * 300 + [5_000], not_before=NOW)
        c = claimer()
        await c.refresh(conn, NOW)
        rows = [r for _ in range(33) for r in await claim(c, conn, 20)]
    accounts = by(rows, "account_id")
    assert len(rows) == 660  # twice round: 30 + 300 slots per round
    assert accounts[heavy] == 60
    assert {accounts[a] for a in many} == {2}


# --- tiers: transactional first, then priority; and no one waits forever ---------------------


async def test_transactional_traffic_is_claimed_before_bulk_campaigns(database: Database) -> None:
    async with database.acquire() as conn:
        bulk_account, otp_account = await make_accounts(conn, 2)
        [bulk] = await sending_batches(conn, [bulk_account], [5_000], not_before=NOW)
        later = NOW + timedelta(seconds=30)  # queued after the bulk backlog
        [otp] = await sending_batches(
            conn, [otp_account], [300], not_before=later, traffic_class="transactional"
        )
        c = claimer()
        await c.refresh(conn, later)
        first = by(await claim(c, conn, 500, later), "batch_id")
        second = by(await claim(c, conn, 500, later), "batch_id")
    # The whole claim is the transactional tier's: it had 300, so the next claim is bulk.
    assert first == {otp.batch: 300}
    assert second == {bulk.batch: 500}


async def test_higher_priority_accounts_go_first(database: Database) -> None:
    async with database.acquire() as conn:
        [plain] = await make_accounts(conn, 1)
        [urgent] = await make_accounts(conn, 1, priority=5)
        [low] = await make_accounts(conn, 1, priority=-1)
        await sending_batches(conn, [low, plain, urgent], [1_000, 1_000, 300], not_before=NOW)
        c = claimer()
        await c.refresh(conn, NOW)
        claims = [by(await claim(c, conn, 200), "account_id") for _ in range(4)]
    # Tiers are strict: the claim that empties the urgent account's queue has nothing else.
    assert claims == [{urgent: 200}, {urgent: 100}, {plain: 200}, {plain: 200}]
    assert not any(got[low] for got in claims)


async def test_a_queue_held_back_by_higher_tiers_still_gets_a_message_within_the_limit(
    database: Database,
) -> None:
    limit = 10.0
    async with database.acquire() as conn:
        [low] = await make_accounts(conn, 1)
        [urgent] = await make_accounts(conn, 1, priority=9)
        await sending_batches(conn, [urgent, low], [20_000, 100], not_before=NOW)
        c = claimer(starvation_limit=limit)
        now = NOW
        await c.refresh(conn, now)
        served_low: list[int] = []
        for second in range(35):  # a claim every second, a refresh every second
            now = NOW + timedelta(seconds=second)
            await c.refresh(conn, now)
            got = by(await claim(c, conn, 100, now), "account_id")
            assert sum(got.values()) == 100
            if got[low]:
                served_low.append(second)
    # Never longer than the limit without a message (the read that notices runs each second).
    assert served_low == [10, 20, 30]


async def test_every_queue_is_served_within_its_share_of_claims(database: Database) -> None:
    # Starvation-freedom among equals: 1,000 accounts, claims of 50: each is served within
    # the 20 claims it takes to go round once, whatever was there first.
    async with database.acquire() as conn:
        accounts = await make_accounts(conn, 1_000)
        batches = await sending_batches(conn, accounts, [5] * 1_000, not_before=NOW)
        c = claimer()
        await c.refresh(conn, NOW)
        first_claim: dict[int, int] = {}
        for i in range(20):
            for batch_id in by(await claim(c, conn, 50), "batch_id"):
                first_claim.setdefault(batch_id, i)
    assert len(first_claim) == len(batches)


# --- what is due -----------------------------------------------------------------------------


async def test_deferred_messages_make_no_queue_due_until_their_time(database: Database) -> None:
    # A batch waiting for its recipients' quiet hours to end is not probed by any claim
    # before then, and comes due at that time without another read of the queues.
    morning = NOW + timedelta(hours=6)
    async with database.acquire() as conn:
        sleeper_account, awake_account = await make_accounts(conn, 2)
        [sleeper] = await sending_batches(conn, [sleeper_account], [100], not_before=morning)
        [awake] = await sending_batches(conn, [awake_account], [100], not_before=NOW)
        c = claimer()
        await c.refresh(conn, NOW)
        first = await c.claim(conn, {"all": 500}, NOW, LEASE)
        assert [p.batch_id for p in first.picks] == [awake.batch]  # the sleeper is not probed
        assert by(first.rows, "batch_id") == {awake.batch: 100}
        assert c.share.routes_due(NOW) == []  # drained
        assert c.share.next_due() == morning
        woken = await claim(c, conn, 500, morning)
    assert by(woken, "batch_id") == {sleeper.batch: 100}


async def test_queues_come_and_go_with_each_read(database: Database) -> None:
    async with database.acquire() as conn:
        accounts = await make_accounts(conn, 2)
        kept, suspended = await sending_batches(conn, accounts, [1_000, 1_000], not_before=NOW)
        c = claimer()
        await c.refresh(conn, NOW)
        assert c.share.queues == 2
        await conn.execute("UPDATE batches SET status = 'suspended' WHERE id = $1", suspended.batch)
        # Until the next read, the suspended batch's picks come back empty: never claimed.
        rows = await claim(c, conn, 500)
        assert set(by(rows, "batch_id")) == {kept.batch}
        await c.refresh(conn, NOW)
        assert c.share.queues == 1
        assert by(await claim(c, conn, 500), "batch_id") == {kept.batch: 500}
        # A drained queue whose messages come back (a retry's backoff, a lease taken back)
        # is due again at the next read.
        await claim(c, conn, 500)
        assert c.share.routes_due(NOW) == []
        await conn.execute(
            "UPDATE messages SET status = 'deferred', lease_owner = NULL, lease_expires = NULL,"
            " not_before = $2 WHERE id = (SELECT min(id) FROM messages WHERE batch_id = $1)",
            kept.batch,
            NOW + timedelta(seconds=5),
        )
        await c.refresh(conn, NOW)
        assert c.share.routes_due(NOW) == []
        assert c.share.next_due() == NOW + timedelta(seconds=5)
        assert len(await claim(c, conn, 500, NOW + timedelta(seconds=5))) == 1


async def test_a_wake_up_reads_the_batches_started_since_the_last_full_read(
    database: Database,
) -> None:
    # A run started (a wake-up): its queues join the share after a read of the newest
    # batches only, however many are sending; the next full read sees the rest.
    async with database.acquire() as conn:
        before = await sending_batches(
            conn, await make_accounts(conn, 300), [5] * 300, not_before=NOW
        )
        c = claimer()
        await c.refresh(conn, NOW)
        assert c.share.queues == 300
        [new] = await sending_batches(conn, await make_accounts(conn, 1), [40], not_before=NOW)
        plan = await conn.fetchval(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + queries.due_queues, before[-1].batch
        )
        await c.refresh(conn, NOW, full=False)
        assert c.share.queues == 301
        await conn.execute("UPDATE batches SET status = 'stopped' WHERE id = $1", before[0].batch)
        await c.refresh(conn, NOW, full=False)
        assert c.share.queues == 301  # only a full read sees batches leave
        await c.refresh(conn, NOW)
        assert c.share.queues == 300
    probes = [n for n in plan_nodes(plan) if n.get("Index Name") == "messages_due_idx"]
    assert max(n["Actual Loops"] for n in probes) == 1  # the new batch's alone
    assert new.batch > before[-1].batch


async def test_each_route_is_its_own_queue(database: Database) -> None:
    async with database.acquire() as conn:
        accounts = await make_accounts(conn, 2)
        greek = await sending_batches(conn, accounts, [300, 300], route="gr", not_before=NOW)
        spanish = await sending_batches(conn, accounts, [300, 300], route="es", not_before=NOW)
        c = claimer()
        await c.refresh(conn, NOW)
        assert sorted(c.share.routes_due(NOW)) == ["es", "gr"]
        claim_gr = await c.claim(conn, {"gr": 100}, NOW, LEASE)
    assert {r["route"] for r in claim_gr.rows} == {"gr"}
    assert by(claim_gr.rows, "batch_id") == {b.batch: 50 for b in greek}
    assert not {p.batch_id for p in claim_gr.picks} & {b.batch for b in spanish}


# --- what a claim costs ----------------------------------------------------------------------


def plan_nodes(plan: Any) -> list[dict]:
    nodes, todo = [], [plan[0]["Plan"]]
    while todo:
        node = todo.pop()
        nodes.append(node)
        todo.extend(node.get("Plans", []))
    return nodes


async def explain_claim(conn: Any, c: Claimer, slots: int) -> dict[str, float]:
    """EXPLAIN (ANALYZE, BUFFERS) of the claim of `slots` the share picks now: rows locked,
    index entries read from messages_due_idx, buffers touched."""
    picks = c.share.take("all", slots, NOW)
    plan = await conn.fetchval(
        "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + queries.claim_due_messages,
        "d1",
        [p.batch_id for p in picks],
        [p.route for p in picks],
        [p.messages for p in picks],
        NOW,
        LEASE,
    )
    nodes = plan_nodes(plan)
    [update] = [
        n for n in nodes if n["Node Type"] == "ModifyTable" and n["Relation Name"] == "messages"
    ]

    def rows(match: Any) -> float:
        return sum(n["Actual Rows"] * n["Actual Loops"] for n in nodes if match(n))

    return {
        "queues": len(picks),
        "claimed": update["Actual Rows"],
        "locked": rows(lambda n: n["Node Type"] == "LockRows"),
        "due_index_rows": rows(lambda n: n.get("Index Name") == "messages_due_idx"),
        "seq_scan_nodes": sum(n["Node Type"] == "Seq Scan" for n in nodes),
        "buffers": plan[0]["Plan"]["Shared Hit Blocks"] + plan[0]["Plan"]["Shared Read Blocks"],
    }


async def test_a_claim_reads_and_locks_the_same_with_10_or_10000_batches_sending(
    database: Database,
) -> None:
    # Probing every sending batch at every claim, the claim grew with them: at 3,499
    # batches, 95 ms and 18,140 rows locked to take 500.
    seen: dict[int, dict[str, float]] = {}
    async with database.acquire() as conn:
        sending = 0
        for total in (10, 1_000, 10_000):
            accounts = await make_accounts(conn, total - sending)
            size = 60 if total == 10 else 2  # beyond ten, a claim takes one from 500 of them
            await sending_batches(conn, accounts, [size] * len(accounts), not_before=NOW)
            sending = total
            await conn.execute("ANALYZE")
            c = claimer()
            await c.refresh(conn, NOW)
            seen[total] = await explain_claim(conn, c, 500)  # (it claims them)
    for total, cost in seen.items():
        assert cost["claimed"] == cost["locked"] == 500, (total, cost)
        assert cost["due_index_rows"] == 500, (total, cost)  # only the rows it takes
        if total >= 1_000:  # (a table of 10 batches is one page: scanned whole, rightly)
            assert cost["seq_scan_nodes"] == 0, (total, cost)
    assert seen[10]["queues"] == 10 and seen[1_000]["queues"] == seen[10_000]["queues"] == 500
    # The same work at 1,000 and 10,000 batches: the claim's size, not the batches, sets it.
    assert seen[10_000]["buffers"] <= 1.2 * seen[1_000]["buffers"], seen
    assert seen[10]["buffers"] <= seen[1_000]["buffers"], seen


async def test_reading_the_queues_never_reads_a_backlog(database: Database) -> None:
    # The refresh walks each batch's routes in messages_due_idx: two probes for a batch with
    # one route, however many messages it has queued; and the batches, campaigns and accounts
    # of the past are not read.
    async with database.acquire() as conn:
        past = await sending_batches(
            conn, await make_accounts(conn, 2_000), [1] * 2_000, not_before=NOW
        )
        await conn.execute(
            "UPDATE messages SET status = 'delivered' WHERE batch_id = ANY($1::bigint[])",
            [b.batch for b in past],
        )
        await conn.execute("UPDATE batches SET status = 'completed'")
        accounts = await make_accounts(conn, 3)
        await sending_batches(conn, accounts, [20_000, 10, 1], not_before=NOW)
        await conn.execute("ANALYZE")
        plan = await conn.fetchval(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + queries.due_queues, 0
        )
        queues = await store.due_queues(conn)
    nodes = plan_nodes(plan)
    read = sum(
        n["Actual Rows"] * n["Actual Loops"]
        for n in nodes
        if n.get("Index Name") == "messages_due_idx"
    )
    assert len(queues) == 3
    assert read <= 3  # a first entry per batch; the probes for a next route find none
    seq_scans = {n.get("Relation Name") for n in nodes if n["Node Type"] == "Seq Scan"}
    assert not seq_scans, seq_scans


# --- several dispatchers ---------------------------------------------------------------------


async def test_two_dispatchers_on_one_database_never_claim_a_message_twice(
    database: Database,
) -> None:
    async with database.acquire() as conn:
        accounts = await make_accounts(conn, 20)
        await sending_batches(conn, accounts, [250] * 20, not_before=NOW)
        total = await conn.fetchval("SELECT count(*) FROM messages")

    async def dispatcher(owner: str) -> list[int]:
        c = claimer(owner)
        got: list[int] = []
        async with database.acquire() as conn:
            await c.refresh(conn, NOW)
            while True:
                rows = await claim(c, conn, 97)
                if not rows:
                    await c.refresh(conn, NOW)  # drained, or the other one took it
                    if not c.share.routes_due(NOW):
                        return got
                got += [r["id"] for r in rows]

    first, second = await asyncio.gather(dispatcher("d1"), dispatcher("d2"))
    assert len(first) + len(second) == total == 5_000
    assert not set(first) & set(second)
    assert len(set(first)) == len(first) and len(set(second)) == len(second)
    assert first and second
    async with database.acquire() as conn:
        owners = await conn.fetch(
            "SELECT lease_owner, count(*) AS n, max(attempts) AS attempts FROM messages"
            " GROUP BY lease_owner ORDER BY lease_owner"
        )
    assert [(r["lease_owner"], r["n"], r["attempts"]) for r in owners] == [
        ("d1", len(first), 1),
        ("d2", len(second), 1),
    ]
