"""Retention under load: pruning a million messages while a campaign sends, and what it costs
that campaign.

A fresh database holds one campaign whose run of --prune messages (one part each, every one
delivered) finished 100 days ago, loaded by SQL. herald runs as `herald run` composes it
(bench/e2e.py's Daemon, API off, one bind to `herald simulate` in another process), and sends
a campaign of --recipients messages twice, alternating:

    baseline   retention off (retention.messages_days = 0)
    pruning    retention on (90 days): herald's own sweep starts at once and deletes the old
               run's messages and parts, chunk by chunk, while the campaign sends

For each: the campaign's end-to-end rate (start of the run to the last final state) and its
submit-to-receipt p99, and CPU per campaign message of herald and PostgreSQL; for the pruning
run, the messages deleted while the campaign sent and the time the whole million took. The
order alternates between runs so that neither always meets a fresher database.

Run: .venv/bin/python bench/retention.py [--prune 1000000] [--recipients 100000] [--runs 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

from e2e import Groups, config, cpu_snapshot, cpu_used, load_campaign, process_tree, start_daemon
from herald.config import RetentionConfig
from herald.store.db import Database
from herald.store.embedded import EmbeddedPostgres
from pg import create_database, fetch_one
from smpp import start_simulator, stop_simulator

OLD_RUN = """
WITH account AS (
    INSERT INTO accounts (name, webhook_secret, credit) VALUES ('old', 's', 0) RETURNING id
), sender AS (
    INSERT INTO senders (account_id, address, kind, ton, npi)
    SELECT id, 'Old', 'alphanumeric', 5, 0 FROM account RETURNING id, account_id
), campaign AS (
    INSERT INTO campaigns (account_id, name, sender_id, template, status)
    SELECT account_id, 'last quarter', id, 'Hello', 'completed' FROM sender
    RETURNING id, account_id
)
INSERT INTO batches (campaign_id, number, status, messages_expected, segments_expected,
                     credit_used, started_at, finished_at)
SELECT id, 1, 'completed', $1::integer, $1::bigint, $1::bigint, now() - interval '100 days',
       now() - interval '100 days'
FROM campaign
RETURNING id, campaign_id, (SELECT account_id FROM campaign) AS account_id
"""


async def load_old_run(dsn: str, n: int) -> int:
    """A campaign whose run of n delivered messages finished 100 days ago; its batch id."""
    conn = await asyncpg.connect(dsn)
    try:
        batch = await fetch_one(conn, OLD_RUN, n)
        first = await conn.fetchval("SELECT nextval('messages_id_seq')")
        await conn.execute("SELECT setval('messages_id_seq', $1)", first + n - 1)
        await conn.execute(
            """
            INSERT INTO messages (id, batch_id, campaign_id, account_id, phone, text, encoding,
                                  data_coding, esm_class, part_count, status, route, bind,
                                  created_at, sent_at, done_at)
            SELECT $1 + g, $2, $3, $4, '+30695' || lpad(g::text, 7, '0'),
                   'Hello, your order has shipped. Reply STOP to opt out.', 'gsm7', 0, 0, 1,
                   'delivered', 'all', 'sim', now() - interval '101 days',
                   now() - interval '101 days', now() - interval '100 days'
            FROM generate_series(0, $5 - 1) AS g
            """,
            first,
            batch["id"],
            batch["campaign_id"],
            batch["account_id"],
            n,
        )
        await conn.execute(
            """
            INSERT INTO parts (message_id, seq, short_message, state, bind, smsc_id,
                               canonical_id, command_status, submitted_at, receipt_state,
                               receipt_at)
            SELECT $1 + g, 1, convert_to('Hello, your order has shipped.', 'UTF8'),
                   'delivered', 'herald@127.0.0.1:2775', to_hex(g), to_hex(g), 0,
                   now() - interval '101 days', 2, now() - interval '100 days'
            FROM generate_series(0, $2 - 1) AS g
            """,
            first,
            n,
        )
        await conn.execute(
            "UPDATE batches SET first_message_id = $2, last_message_id = $3 WHERE id = $1",
            batch["id"],
            first,
            first + n - 1,
        )
        await conn.execute("VACUUM ANALYZE messages")
        await conn.execute("VACUUM ANALYZE parts")
        return int(batch["id"])
    finally:
        await conn.close()


async def one_run(
    dsn: str, port: int, n: int, window: int, state: Path, groups: Groups, *, prune: bool
) -> dict[str, float]:
    account, campaign = await load_campaign(dsn, n)
    retention = RetentionConfig(messages_days=90 if prune else 0, callbacks_days=0)
    herald = config(dsn, port, window, state).model_copy(update={"retention": retention})
    listener = await asyncpg.connect(dsn)
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_event(*args: Any) -> None:
        if campaign in json.loads(args[3]).get("campaigns_completed", []) and not done.done():
            done.set_result(None)

    await listener.add_listener("herald_events", on_event)
    daemon, task = await start_daemon(herald)  # its retention sweep starts now
    pruning_started = time.perf_counter()
    cpu_before = cpu_snapshot(groups)
    started = time.perf_counter()
    assert daemon.running.runner is not None
    await daemon.running.runner.start_run(campaign_id=campaign, account_id=account)
    await asyncio.wait_for(done, timeout=max(600.0, n / 200))
    finished = time.perf_counter()
    cpu = cpu_used(cpu_before, cpu_snapshot(groups))
    assert daemon.running.metrics is not None
    deleted_while_sending = daemon.running.metrics.pruned_messages
    pruned_in = 0.0
    if prune:  # the rest of the million, with nothing else to do
        while True:  # the daemon's own sweep: the database says when it is done
            if await listener.fetchval(
                "SELECT bool_and(prune_from IS NULL AND pruned_at IS NOT NULL) FROM batches "
                "WHERE campaign_id <> $1 AND status = 'completed'",
                campaign,
            ):
                break
            await asyncio.sleep(0.5)
        pruned_in = time.perf_counter() - pruning_started
    daemon.stop.set()
    await task
    row = await fetch_one(
        listener,
        """
        SELECT percentile_cont(0.99) WITHIN GROUP (
                   ORDER BY extract(epoch FROM p.receipt_at - p.submitted_at)) AS p99
        FROM batches b JOIN parts p
          ON p.message_id BETWEEN b.first_message_id AND b.last_message_id
        WHERE b.campaign_id = $1""",
        campaign,
    )
    await listener.close()
    return {
        "end_to_end": n / (finished - started),
        "p99_ms": float(row["p99"]) * 1000,
        "deleted_while_sending": deleted_while_sending,
        "pruned_in_s": pruned_in,
        **{f"cpu_{name}_us": seconds / n * 1e6 for name, seconds in cpu.items()},
    }


async def bench(args: argparse.Namespace) -> None:
    external = os.environ.get("HERALD_BENCH_DSN")
    state = Path(tempfile.mkdtemp(prefix="herald-bench-", dir="/tmp"))
    embedded = None if external else EmbeddedPostgres(state)
    admin_dsn = external or await embedded.astart()  # type: ignore[union-attr]
    sim, port = start_simulator(args.loop)
    me = os.getpid()
    groups: Groups = {"herald": lambda: [me]}
    if embedded is not None and embedded.postmaster_pid is not None:
        groups["postgres"] = process_tree(embedded.postmaster_pid)
    results: dict[str, list[dict[str, float]]] = {"baseline": [], "pruning": []}
    try:
        for i in range(args.runs):
            order = ("baseline", "pruning") if i % 2 == 0 else ("pruning", "baseline")
            for kind in order:
                name = f"herald_bench_retention_{os.getpid()}_{i}_{kind}"
                dsn = await create_database(admin_dsn, name)
                async with Database(dsn) as db:
                    await db.migrate()
                loaded = time.perf_counter()
                await load_old_run(dsn, args.prune)
                print(
                    f"run {i + 1} {kind}: {args.prune:,} old messages loaded in "
                    f"{time.perf_counter() - loaded:.0f} s",
                    flush=True,
                )
                result = await one_run(
                    dsn, port, args.recipients, args.window, state, groups, prune=kind == "pruning"
                )
                results[kind].append(result)
                print(f"run {i + 1} {kind}: {result}", flush=True)
                admin = await asyncpg.connect(admin_dsn)
                await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
                await admin.close()
    finally:
        stop_simulator(sim)
        if embedded is not None:
            await embedded.astop()
        shutil.rmtree(state, ignore_errors=True)

    def med(kind: str, key: str) -> float:
        return statistics.median(r[key] for r in results[kind])

    base, pruning = med("baseline", "end_to_end"), med("pruning", "end_to_end")
    print(
        f"\nretention under load: {args.prune:,} old messages pruned while a campaign of "
        f"{args.recipients:,} sends, window {args.window}, median of {args.runs} "
        "(baseline and pruning runs alternated)"
    )
    print(
        f"  campaign end to end   baseline {base:,.0f} msg/s   while pruning {pruning:,.0f} "
        f"msg/s   ({pruning / base - 1:+.0%})"
    )
    print(
        f"  campaign p99          baseline {med('baseline', 'p99_ms'):,.0f} ms   while "
        f"pruning {med('pruning', 'p99_ms'):,.0f} ms"
    )
    for name in groups:
        print(
            f"  CPU per message {name:<9} baseline {med('baseline', f'cpu_{name}_us'):,.0f} µs"
            f"   while pruning {med('pruning', f'cpu_{name}_us'):,.0f} µs"
        )
    print(
        f"  pruned while sending  {med('pruning', 'deleted_while_sending'):,.0f} messages; "
        f"the whole {args.prune:,} in {med('pruning', 'pruned_in_s'):,.0f} s "
        f"({args.prune / med('pruning', 'pruned_in_s'):,.0f} messages/s with their parts)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prune", type=int, default=1_000_000)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--window", type=int, default=2000)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(bench(args))
    else:
        asyncio.run(bench(args))


if __name__ == "__main__":
    main()
