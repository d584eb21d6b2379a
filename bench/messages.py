"""Messages one by one: requests per second through the message service (POST /v1/messages
without HTTP), each request its own campaign of kind 'message' (herald's design) against the
design not taken, every request a run of one shared campaign per account
(docs/decisions/0013-messages-as-runs-of-one-campaign.md).

A run locks its campaign's row for its transaction (herald/campaigns/runs.py): with one shared
campaign per account, an account's requests would take turns. The baseline here is that turn:
the same requests, each first taking a lock per account held to the end of its transaction, as
the shared row's lock would be. Every request carries an Idempotency-Key, as a careful caller's
does; each sends to one number. An embedded PostgreSQL (or the server in HERALD_BENCH_DSN).

Run: .venv/bin/python bench/messages.py [--requests 2000] [--concurrency 16] [--accounts 1]
     [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg

from herald.campaigns.idempotency import Answer, Idempotency
from herald.campaigns.messages import MessageService
from herald.campaigns.runs import CampaignRunner
from herald.config import BindConfig, Config, RouteConfig
from herald.delivery.router import Router
from herald.metrics import Metrics
from herald.store.accounts import create_account
from herald.store.db import Database
from herald.store.queries import queries
from pg import bench_server, create_database

CONFIG = Config(
    binds=(
        BindConfig.model_validate(
            {"name": "a", "host": "127.0.0.1", "port": 2775, "system_id": "x"}
        ),
    ),
    routes=(RouteConfig(name="all", binds=("a",)),),
)


def now() -> datetime:
    return datetime.now(UTC)


async def one_run(
    admin_dsn: str, args: argparse.Namespace, *, shared: bool, requests: int | None = None
) -> tuple[float, list[float]]:
    """(requests per second, each request's seconds) for one design in a fresh database."""
    name = f"herald_messages_{os.getpid()}_{int(time.time() * 1000)}"
    dsn = await create_database(admin_dsn, name)
    async with Database(dsn, min_size=args.concurrency, max_size=args.concurrency + 2) as db:
        await db.migrate()
        accounts = []
        async with db.acquire() as conn:
            for i in range(args.accounts):
                account = await create_account(conn, f"bench-{i}", 10**9)
                await conn.execute(
                    queries.create_sender, account.id, "Herald", "alphanumeric", 5, 0
                )
                accounts.append(account.id)
        runner = CampaignRunner(
            db, CONFIG, Router(CONFIG.routes, healthy=lambda _: True), clock=now, metrics=Metrics()
        )
        messages = MessageService(db, CONFIG, clock=now, runner=runner)
        keys = Idempotency(db, clock=now)
        total = requests or args.requests
        numbers = iter(range(total))
        latencies: list[float] = []

        async def request(i: int) -> None:
            account = accounts[i % len(accounts)]
            spec = {
                "to": [f"+30694{i % 10**7:07d}"],
                "sender": "Herald",
                "text": f"Your code is {i:06d}",
            }

            async def work(conn: Any) -> Answer:
                if shared:  # the shared campaign's row, locked for the run's transaction
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", account)
                return Answer(202, await messages.send(conn, account, spec))

            started = time.perf_counter()
            await keys.perform(account, f"bench-{i}", "POST /v1/messages", lambda: spec, work)
            latencies.append(time.perf_counter() - started)

        async def worker() -> None:
            for i in numbers:
                await request(i)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        elapsed = time.perf_counter() - started
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f"DROP DATABASE {name}")
    await admin.close()
    return total / elapsed, latencies


def describe(rate: float, latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    return (
        f"{rate:8.0f} requests/s, median {statistics.median(ordered) * 1000:6.1f} ms, "
        f"p99 {p99 * 1000:6.1f} ms"
    )


async def bench(args: argparse.Namespace) -> None:
    async with bench_server() as server:
        print(
            f"{args.requests} requests of one number each, {args.concurrency} at a time, "
            f"{args.accounts} account(s)"
        )
        warm_up = min(200, args.requests)
        await one_run(server.admin_dsn, args, shared=False, requests=warm_up)
        runs: dict[bool, list[tuple[float, list[float]]]] = {False: [], True: []}
        for _ in range(args.rounds):  # alternated: a busy machine weighs on both alike
            for shared in (False, True):
                runs[shared].append(await one_run(server.admin_dsn, args, shared=shared))
        chosen, baseline = (max(runs[shared], key=lambda r: r[0]) for shared in (False, True))
        print(f"  (best of {args.rounds} rounds each, alternated)")
        print(f"  a campaign per request (herald):       {describe(*chosen)}")
        print(f"  runs of one campaign per account:      {describe(*baseline)}")
        print(f"  ratio: {chosen[0] / baseline[0]:.2f}x the requests per second")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--accounts", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(bench(args))
    else:
        asyncio.run(bench(args))


if __name__ == "__main__":
    main()
