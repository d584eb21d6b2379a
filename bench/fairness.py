"""Fair share: small campaigns' time to first message while a big one sends, and what a claim
costs against the number of batches sending.

Time to first message (the product path). herald runs in this process as `herald run`
composes it (the Daemon, API off), with one bind to `herald simulate` in another process and
an embedded PostgreSQL (or the server in HERALD_BENCH_DSN). A big campaign (--big recipients,
one account) starts; once --head of its messages are out, --small campaigns of --small-size
recipients start one after the other, each from an account of its own, as customers' API
calls would. A small campaign's time to first message is its first part's submit time less
the time its run started sending (both stored by herald). Baseline: the same small campaigns
in a fresh database with no big one.

Claim cost (the statement). One batch of --big messages and more of 12 (issue 25's small
campaigns averaged 12.5) until 10, 100, 1,000 and 10,000 batches are sending; at each, one
claim of 500 as the dispatcher makes it (the fair share's picks) against the claim herald
had before (copied below: every sending batch probed, the oldest 500 taken), each in a
transaction rolled back: milliseconds (median of --repeat), rows locked and buffers read
(EXPLAIN ANALYZE, BUFFERS). The fair share reads the due queues at a bounded rate
(queue_refresh_interval, 1 s by default), never per claim: that read's time is printed too.

Run: .venv/bin/python bench/fairness.py [--big 100000] [--small 300] [--small-size 12]
     [--head 10000] [--window 500] [--repeat 5] [--part ttfm|claims|both]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from e2e import config
from herald.daemon import Daemon
from herald.store.db import Database
from pg import bench_server, create_database, fetch_one
from smpp import start_simulator, stop_simulator

SIZES = (10, 100, 1_000, 10_000)
CLAIM = 500
NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)

# The claim herald had before the fair share (store/sql/queries.sql until migration 0008),
# with the index it read, for the baseline.
OLD_INDEX = """
CREATE INDEX IF NOT EXISTS messages_old_due_idx ON messages (batch_id, not_before, id)
    WHERE status IN ('queued', 'deferred')
"""
OLD_CLAIM = """
WITH due AS (
    SELECT d.id
    FROM batches b
    CROSS JOIN LATERAL (
        SELECT m.id, m.not_before
        FROM messages m
        WHERE m.batch_id = b.id
          AND m.status IN ('queued', 'deferred')
          AND m.not_before <= $3
        ORDER BY m.not_before, m.id
        LIMIT $2
        FOR UPDATE SKIP LOCKED
    ) d
    WHERE b.status = 'sending'
    ORDER BY d.not_before, d.id
    LIMIT $2
),
claimed AS (
    UPDATE messages m
    SET status = 'sending', lease_owner = $1, lease_expires = $4, attempts = m.attempts + 1
    WHERE m.id = ANY (ARRAY(SELECT id FROM due))
    RETURNING m.id, m.batch_id, m.campaign_id, m.account_id, m.phone, m.tz, m.data_coding,
              m.esm_class, m.part_count, m.attempts
)
SELECT c.*, p.seq, p.short_message, p.tlvs
FROM claimed c
LEFT JOIN LATERAL (
    SELECT p.seq, p.short_message, p.tlvs
    FROM parts p
    WHERE p.message_id = c.id AND p.state = 'pending'
    OFFSET 0
) p ON true
ORDER BY c.id, p.seq
"""


# --- loading ---------------------------------------------------------------------------------


async def make_accounts(conn: asyncpg.Connection, count: int, tag: str) -> list[int]:
    """Accounts with a sender each (named tag + number)."""
    rows = await conn.fetch(
        """
        WITH a AS (
            INSERT INTO accounts (name, webhook_secret, credit)  -- no key: nothing calls the API
            SELECT $1 || i, 'secret', 100000000
            FROM generate_series(1, $2) AS i
            RETURNING id
        )
        INSERT INTO senders (account_id, address, kind, ton, npi)
        SELECT id, 'Herald', 'alphanumeric', 5, 0 FROM a
        RETURNING account_id, id
        """,
        tag,
        count,
    )
    return sorted(r["account_id"] for r in rows)


async def make_campaigns(
    conn: asyncpg.Connection, accounts: list[int], size: int, first_phone: int
) -> list[tuple[int, int]]:
    """A scheduled campaign of `size` recipients per account (numbers from first_phone on,
    distinct across them): (account, campaign) pairs, in the accounts' order."""
    rows = await conn.fetch(
        """
        INSERT INTO campaigns (account_id, name, sender_id, template, status,
                               respect_quiet_hours)
        SELECT a, 'bench ' || a, (SELECT id FROM senders WHERE account_id = a LIMIT 1),
               'Hello %Name%, your code is [~code].', 'scheduled', false
        FROM unnest($1::bigint[]) AS a
        RETURNING id, account_id
        """,
        accounts,
    )
    campaign_of = {r["account_id"]: r["id"] for r in rows}
    pairs = [(a, campaign_of[a]) for a in accounts]
    await conn.execute(
        """
        INSERT INTO campaign_recipients (campaign_id, source, phone_raw, name, labels)
        SELECT c.id, 'recipient', '+30694' || lpad(($3 + (c.pos - 1) * $2 + g)::text, 7, '0'),
               'Name' || g, jsonb_build_object('code', 'C' || g)
        FROM unnest($1::bigint[]) WITH ORDINALITY AS c(id, pos), generate_series(1, $2) AS g
        """,
        [c for _, c in pairs],
        size,
        first_phone,
    )
    return pairs


async def sending_batches(
    conn: asyncpg.Connection, count: int, size: int, tag: str, route: str = "all"
) -> None:
    """`count` accounts with a running campaign and a sending batch of `size` queued
    messages each (one pending part), as expansion leaves them; due at NOW."""
    accounts = await make_accounts(conn, count, tag)
    await conn.execute(
        """
        WITH c AS (
            INSERT INTO campaigns (account_id, name, sender_id, template, status,
                                   respect_quiet_hours)
            SELECT a, 'bench', (SELECT id FROM senders WHERE account_id = a LIMIT 1), 'Hello',
                   'running', false
            FROM unnest($1::bigint[]) AS a
            RETURNING id, account_id
        ), b AS (
            INSERT INTO batches (campaign_id, number, status, started_at)
            SELECT id, 1, 'sending', now() FROM c
            RETURNING id, campaign_id
        ), m AS (
            INSERT INTO messages (batch_id, campaign_id, account_id, phone, text, encoding,
                                  data_coding, esm_class, part_count, status, not_before,
                                  route)
            SELECT b.id, b.campaign_id, c.account_id, '+30694' || lpad(g::text, 7, '0'),
                   'Hello', 'gsm7', 0, 0, 1, 'queued', $3, $4
            FROM b JOIN c ON c.id = b.campaign_id, generate_series(1, $2) AS g
            ORDER BY b.id, g
            RETURNING id, batch_id
        ), p AS (
            INSERT INTO parts (message_id, seq, short_message)
            SELECT id, 1, '\\x48656c6c6f'::bytea FROM m
        )
        UPDATE batches SET first_message_id = r.first_id, last_message_id = r.last_id
        FROM (SELECT batch_id, min(id) AS first_id, max(id) AS last_id
              FROM m GROUP BY batch_id) r
        WHERE batches.id = r.batch_id
        """,
        accounts,
        size,
        NOW,
        route,
    )


# --- time to first message, through herald ---------------------------------------------------


async def poll(conn: asyncpg.Connection, sql: str, *args: Any, until: int) -> None:
    """Until `sql` counts `until`: the state is in the database, which has no event for it
    (a bench may poll: it measures, it asserts nothing)."""
    while True:
        if await conn.fetchval(sql, *args) >= until:
            return
        await asyncio.sleep(0.05)


async def first_messages(
    admin_dsn: str, port: int, args: argparse.Namespace, state: Path, *, big: int
) -> dict[str, float]:
    """One run: a big campaign of `big` (0: none) and the small ones; their times to first
    message (seconds) and to their last message out."""
    name = f"herald_fair_{os.getpid()}_{int(time.time() * 1000)}"
    dsn = await create_database(admin_dsn, name)
    async with Database(dsn) as db:
        await db.migrate()
    conn = await asyncpg.connect(dsn)
    try:
        small = await make_campaigns(
            conn, await make_accounts(conn, args.small, "small"), args.small_size, 0
        )
        bigs = []
        if big:
            bigs = await make_campaigns(
                conn, await make_accounts(conn, 1, "big"), big, args.small * args.small_size
            )
        daemon = Daemon(config(dsn, port, args.window, state))  # as bench/e2e.py composes it
        task = asyncio.ensure_future(daemon.run())
        await daemon.running.started.wait()
        for session in daemon.running.sessions.values():
            await session.wait_bound(10)
        runner = daemon.running.runner
        assert runner is not None
        try:
            big_last = 0  # the small campaigns' messages come after the big one's ids
            for account, campaign in bigs:
                await runner.start_run(campaign_id=campaign, account_id=account)
                first, big_last = await fetch_one(
                    conn,
                    "SELECT first_message_id, last_message_id FROM batches WHERE campaign_id = $1",
                    campaign,
                )
                await poll(
                    conn,
                    "SELECT count(*) FROM messages WHERE id BETWEEN $1 AND $2"
                    " AND status <> 'queued'",
                    first,
                    big_last,
                    until=min(args.head, big),
                )
            started = time.perf_counter()
            for account, campaign in small:
                await runner.start_run(campaign_id=campaign, account_id=account)
            await poll(
                conn,
                "SELECT count(*) FROM messages WHERE id > $1 AND status = 'delivered'",
                big_last,
                until=args.small * args.small_size,
            )
            all_out = time.perf_counter() - started
        finally:
            daemon.stop.set()
            await task
        rows = await conn.fetch(
            """
            SELECT extract(epoch FROM min(p.submitted_at) - b.started_at) AS first,
                   extract(epoch FROM max(p.submitted_at) - b.started_at) AS last
            FROM batches b
            JOIN messages m ON m.id BETWEEN b.first_message_id AND b.last_message_id
                           AND m.batch_id = b.id
            JOIN parts p ON p.message_id = m.id
            WHERE b.campaign_id = ANY($1::bigint[])
            GROUP BY b.id
            """,
            [c for _, c in small],
        )
    finally:
        await conn.close()
        admin = await asyncpg.connect(admin_dsn)
        await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        await admin.close()
    firsts = sorted(float(r["first"]) for r in rows)
    lasts = sorted(float(r["last"]) for r in rows)
    return {
        "p50": statistics.median(firsts),
        "p95": firsts[int(0.95 * (len(firsts) - 1))],
        "max": firsts[-1],
        "last_p95": lasts[int(0.95 * (len(lasts) - 1))],
        "all_out": all_out,
    }


async def time_to_first_message(admin_dsn: str, args: argparse.Namespace, state: Path) -> None:
    sim, port = start_simulator(args.loop)
    try:
        alone = await first_messages(admin_dsn, port, args, state, big=0)
        beside = await first_messages(admin_dsn, port, args, state, big=args.big)
    finally:
        stop_simulator(sim)
    print(
        f"\ntime to first message: {args.small} campaigns of {args.small_size} recipients, "
        f"each its own account, started once {args.head:,} messages of a {args.big:,}-message "
        f"campaign were out (window {args.window}); baseline: the same with no big campaign"
    )
    print("                      with the big one   alone (baseline)   ratio")
    for key, label in (
        ("p50", "first message p50"),
        ("p95", "first message p95"),
        ("max", "first message max"),
        ("last_p95", "last message p95"),
    ):
        print(
            f"  {label:<19} {beside[key] * 1000:>12,.0f} ms   {alone[key] * 1000:>12,.0f} ms"
            f"   {beside[key] / alone[key]:>6.2f}"
        )


# --- claim cost against the number of batches sending ----------------------------------------


def plan_nodes(plan: Any) -> list[dict]:
    nodes, todo = [], [plan[0]["Plan"]]
    while todo:
        node = todo.pop()
        nodes.append(node)
        todo.extend(node.get("Plans", []))
    return nodes


async def measure(
    conn: asyncpg.Connection, sql: str, args: tuple[Any, ...], repeat: int
) -> dict[str, float]:
    """A claim's median time over `repeat` runs, then its rows locked and buffers, each run
    in a transaction rolled back (the batches keep their messages queued)."""
    times = []
    for i in range(repeat + 1):  # the first warms the cache, untimed
        tr = conn.transaction()
        await tr.start()
        started = time.perf_counter()
        rows = await conn.fetch(sql, *args)
        if i:
            times.append(time.perf_counter() - started)
        await tr.rollback()
    tr = conn.transaction()
    await tr.start()
    plan = await conn.fetchval("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, *args)
    await tr.rollback()
    if isinstance(plan, str):
        plan = json.loads(plan)
    nodes = plan_nodes(plan)
    top = plan[0]["Plan"]
    return {
        "ms": statistics.median(times) * 1000,
        "claimed": len({r["id"] for r in rows}),
        "locked": sum(
            n["Actual Rows"] * n["Actual Loops"] for n in nodes if n["Node Type"] == "LockRows"
        ),
        "buffers": top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0),
    }


async def claim_cost(admin_dsn: str, args: argparse.Namespace) -> None:
    from herald.delivery.claims import Claimer
    from herald.store.queries import queries

    name = f"herald_fair_claims_{os.getpid()}"
    dsn = await create_database(admin_dsn, name)
    async with Database(dsn) as db:
        await db.migrate()
    conn = await asyncpg.connect(dsn)
    lease = NOW + timedelta(minutes=5)
    results = []
    try:
        await conn.execute(OLD_INDEX)
        await sending_batches(conn, 1, args.big, "big")
        sending = 1
        for size in SIZES:
            await sending_batches(conn, size - sending, 12, f"s{size}-")
            sending = size
            await conn.execute("VACUUM ANALYZE")
            claimer = Claimer("bench", starvation_limit=10.0)
            reads = []
            for _ in range(args.repeat):  # the first also reads who owns each campaign
                started = time.perf_counter()
                await claimer.refresh(conn, NOW)
                reads.append(time.perf_counter() - started)
            refresh_ms = statistics.median(reads[1:] or reads) * 1000
            picks = claimer.share.take("all", CLAIM, NOW)
            new = await measure(
                conn,
                queries.claim_due_messages,
                (
                    "bench",
                    [p.batch_id for p in picks],
                    [p.route for p in picks],
                    [p.messages for p in picks],
                    NOW,
                    lease,
                ),
                args.repeat,
            )
            old = await measure(conn, OLD_CLAIM, ("bench", CLAIM, NOW, lease), args.repeat)
            read_plan = await conn.fetchval(
                "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + queries.due_queues, 0
            )
            if isinstance(read_plan, str):
                read_plan = json.loads(read_plan)
            read_buffers = read_plan[0]["Plan"].get("Shared Hit Blocks", 0) + read_plan[0][
                "Plan"
            ].get("Shared Read Blocks", 0)
            results.append((size, len(picks), refresh_ms, read_buffers, new, old))
            print(
                f"  {size:>6,} batches: fair share {new['ms']:.1f} ms, {new['locked']:,.0f} "
                f"rows locked; before {old['ms']:.1f} ms, {old['locked']:,.0f} locked",
                flush=True,
            )
    finally:
        await conn.close()
        admin = await asyncpg.connect(admin_dsn)
        await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        await admin.close()
    print(
        f"\nclaim cost: one claim of {CLAIM} (one batch of {args.big:,} messages, the others "
        f"12 each), median of {args.repeat}; baseline: the claim before the fair share"
    )
    print(
        "  batches | fair share: queues claimed locked buffers     ms"
        " | before: claimed  locked  buffers     ms | ratio: ms locked"
        " | due-queue read: buffers     ms"
    )
    for size, queues, refresh_ms, read_buffers, new, old in results:
        print(
            f"  {size:>7,} | {queues:>18,} {new['claimed']:>7,} {new['locked']:>6,.0f}"
            f" {new['buffers']:>7,.0f} {new['ms']:>6.1f} | {old['claimed']:>15,}"
            f" {old['locked']:>7,.0f} {old['buffers']:>8,.0f} {old['ms']:>6.1f}"
            f" | {old['ms'] / new['ms']:>9.1f} {old['locked'] / new['locked']:>6.1f}"
            f" | {read_buffers:>23,} {refresh_ms:>6.1f}"
        )
    print(
        "  (a claim takes what its picks find: at 10 batches the small ones have 12 each, so"
        " that claim\n   brings fewer than 500 and the next one takes the rest from the big"
        " batch)"
    )


# --- the run ---------------------------------------------------------------------------------


async def bench(args: argparse.Namespace) -> None:
    async with bench_server() as server:
        if args.part in ("ttfm", "both"):
            await time_to_first_message(server.admin_dsn, args, server.state)
        if args.part in ("claims", "both"):
            await claim_cost(server.admin_dsn, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=300)
    parser.add_argument("--small-size", type=int, default=12)
    parser.add_argument("--head", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--part", choices=["ttfm", "claims", "both"], default="both")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(bench(args))
    else:
        asyncio.run(bench(args))


if __name__ == "__main__":
    main()
