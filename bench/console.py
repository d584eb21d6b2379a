"""The console's pages on a million-message campaign, over real HTTP as a browser gets them.

The campaign is loaded as bench/report.py loads it (statuses, reasons, countries, parts,
receipts, a tracked link each, clicks on some). Then, signed in with the account's key:

    list       GET /ui/campaigns: cold (a new app: the campaign's summary read) and warm (the
               summary reused, herald.ui.summaries)
    campaign   GET /ui/campaigns/{id}: cold (summary, report, first messages page) and warm
               (summary and report reused: what paging the messages table costs)
    refresh    GET /ui/campaigns/{id}/progress.json, warm: what a watching page polls
    pages      the messages table's last page by id (`after`), against its first page
    export     GET /ui/campaigns/{id}/export.csv read to the end: rows/s

Baselines, measured in the same run on the same database: GET /v1/campaigns/{id} (the API's
campaign read with segments and audience) for the cold pages, and GET /v1/.../report for the
report inside the campaign page.

Run: .venv/bin/python bench/console.py [--messages 1000000] [--runs 3]
(an embedded PostgreSQL in a temporary directory, removed at the end; or HERALD_BENCH_DSN)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from herald.api.app import create_app
from herald.api.context import AppContext
from herald.campaigns.runs import CampaignRunner
from herald.delivery.router import Router
from herald.metrics import Metrics
from herald.store.db import Database
from pg import bench_server, migrated_database
from report import CONFIG, START, last_cursor, load, serve  # bench/report.py


def app_of(db: Database, state: Path) -> Any:
    config = CONFIG.model_copy(update={"state_dir": state})
    runner = CampaignRunner(
        db, config, Router(config.routes, healthy=lambda _: True), clock=lambda: START,
        metrics=Metrics(),
    )  # fmt: skip
    return create_app(AppContext(db=db, config=config, clock=lambda: START, runner=runner))


async def signed_in(url: str, key: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=url, timeout=600)
    page = await client.get("/ui/sign-in")
    token = re.search(r'name="sign_in_token" value="([^"]+)"', page.text)
    assert token, page.text
    answer = await client.post(
        "/ui/sign-in", data={"api_key": key, "sign_in_token": token[1], "next": ""}
    )
    assert answer.status_code == 303, answer.text
    return client


async def seconds(get: Callable[[], Awaitable[httpx.Response]], runs: int) -> float:
    took = []
    for _ in range(runs):
        started = time.perf_counter()
        answer = await get()
        took.append(time.perf_counter() - started)
        assert answer.status_code == 200, answer.text[:500]
    return statistics.median(took)


async def cold(
    db: Database, state: Path, key: str, path: str, runs: int
) -> tuple[float, httpx.Response]:
    """Median seconds of `path` on a new app each time (nothing reused), and the last answer."""
    took, answer = [], None
    for _ in range(runs):
        async with serve(app_of(db, state)) as url:
            client = await signed_in(url, key)
            try:
                started = time.perf_counter()
                answer = await client.get(path)
                took.append(time.perf_counter() - started)
                assert answer.status_code == 200, answer.text[:500]
            finally:
                await client.aclose()
    assert answer is not None
    return statistics.median(took), answer


async def measure(db: Database, state: Path, key: str, campaign: int, args: Any) -> None:
    n, runs = args.messages, args.runs
    page = f"/ui/campaigns/{campaign}"
    list_cold, _ = await cold(db, state, key, "/ui/campaigns", runs)
    page_cold, _ = await cold(db, state, key, page, runs)
    async with serve(app_of(db, state)) as url:
        api = httpx.AsyncClient(
            base_url=url + "/v1", headers={"Authorization": f"Bearer {key}"}, timeout=600
        )
        client = await signed_in(url, key)
        async with api:
            api_get = await seconds(lambda: api.get(f"/campaigns/{campaign}"), runs)
            api_report = await seconds(lambda: api.get(f"/campaigns/{campaign}/report"), runs)
            await client.get("/ui/campaigns")
            list_warm = await seconds(lambda: client.get("/ui/campaigns"), runs)
            await client.get(page)
            page_warm = await seconds(lambda: client.get(page), runs)
            refresh = await seconds(lambda: client.get(page + "/progress.json"), runs)
            # The last page of 50: after the id before its first message.
            cursor = await last_cursor(db, campaign, n) + 450
            last = await seconds(lambda: client.get(page, params={"after": cursor}), runs)
            rates = []
            for _ in range(runs):
                started, rows = time.perf_counter(), -1
                async with client.stream("GET", page + "/export.csv") as answer:
                    async for chunk in answer.aiter_bytes():
                        rows += chunk.count(b"\n")
                assert rows == n, rows
                rates.append(n / (time.perf_counter() - started))
            await client.aclose()
    print(f"\nconsole, {n:,} messages, median of {runs}")
    print(f"  list           cold {list_cold * 1000:>7,.0f} ms   warm {list_warm * 1000:,.0f} ms")
    print(
        f"  campaign page  cold {page_cold * 1000:>7,.0f} ms   warm {page_warm * 1000:,.0f} ms"
        f"   (GET /v1/campaigns/{{id}} {api_get * 1000:,.0f} ms,"
        f" GET .../report {api_report * 1000:,.0f} ms)"
    )
    print(f"  refresh        {refresh * 1000:>12,.0f} ms (progress.json, warm)")
    print(f"  last page      {last * 1000:>12,.0f} ms (after; the warm page above is the first)")
    print(f"  export         {statistics.median(rates):>12,.0f} rows/s")


async def bench(args: argparse.Namespace) -> None:
    name = f"herald_bench_console_{os.getpid()}"
    async with (
        bench_server("herald-bench-console-", pg_dir="pg") as server,
        migrated_database(server, name) as (dsn, db),
    ):
        started = time.perf_counter()
        _, key, campaign = await load(dsn, args.messages)
        print(f"loaded {args.messages:,} messages in {time.perf_counter() - started:.0f} s")
        await measure(db, server.state, key, campaign, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
