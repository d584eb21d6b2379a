"""Campaign insight on a million-message campaign: the report, the CSV export, message pages.

A campaign of N messages (default 1,000,000) is loaded with COPY as the send path leaves
them after a run: statuses and reasons, countries, two routes, a part each (a tenth have
two), carrier ids, submit and receipt times over an hour, a tracked link each and clicks
on some. Then, each beside a baseline measured in the same run on the same database:

    report     GET .../report's queries (ReportService.report), against campaign_progress
               (the one GROUP BY a campaign read already did): what the report's five
               aggregates cost over one pass
    export     GET .../messages.csv through the real HTTP API (uvicorn in this process),
               read by `herald campaign export` in another process: rows/s, and this
               process's peak RSS above what it held before (constant memory: a chunk at a
               time); against PostgreSQL's own COPY (SELECT ...) TO STDOUT of the same
               columns, with no HTTP and no Python per row
    pages      GET .../messages: the last page of 500 with `page` (OFFSET) and with `after`
               (a cursor), against the first page
    expansion  a run of --expansion recipients (CampaignRunner.start_run: render, number,
               route, encode, COPY) whose template places %Link% and %OptOutLink%, against
               the same template without them, alternately: what making and COPYing two
               codes per message costs

Run: .venv/bin/python bench/report.py [--messages 1000000] [--runs 3] [--expansion 200000]
(an embedded PostgreSQL in a temporary directory, removed at the end; or HERALD_BENCH_DSN)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn

from herald.api.app import create_app
from herald.api.context import AppContext
from herald.campaigns.reports import ReportService
from herald.campaigns.runs import CampaignRunner
from herald.config import BindConfig, Config, RouteConfig
from herald.delivery.router import Router
from herald.metrics import Metrics
from herald.store.accounts import create_account
from herald.store.db import Database
from herald.store.queries import queries
from pg import bench_server, migrated_database

CONFIG = Config(
    binds=(
        BindConfig.model_validate(
            {"name": "a", "host": "127.0.0.1", "port": 2775, "system_id": "x"}
        ),
    ),
    routes=(RouteConfig(name="all", binds=("a",)),),
)
START = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)
OUTCOMES = [  # status, reason, share
    ("delivered", None, 0.85),
    ("failed", "undeliverable", 0.06),
    ("failed", "expired", 0.02),
    ("rejected", "blacklisted", 0.02),
    ("rejected", "ESME_RINVDSTADR", 0.01),
    ("unknown", "no_final_receipt", 0.02),
    ("sent", None, 0.02),
]
COUNTRIES = [("+30694", "GR", 0.6), ("+447400", "GB", 0.25), ("+1201555", "US", 0.15)]
PART_STATE = {
    "delivered": "delivered",
    "failed": "undeliverable",
    "unknown": "unknown",
    "sent": "submitted",
}
CLICK_SHARE = 0.05


def pick(rng: random.Random, table: list[tuple]) -> tuple:
    x, acc = rng.random(), 0.0
    for row in table:
        acc += row[-1]
        if x < acc:
            return row
    return table[-1]


async def load(dsn: str, n: int) -> tuple[int, str, int]:
    """An account (its id and key), a campaign and its batch of n messages as a run leaves
    them."""
    rng = random.Random(19)
    conn = await asyncpg.connect(dsn)
    try:
        account = await create_account(conn, "bench", credit=10 * n)
        sender = await conn.fetchval(
            queries.create_sender, account.id, "Herald", "alphanumeric", 5, 0
        )
        campaign = await conn.fetchval(
            "INSERT INTO campaigns (account_id, name, sender_id, template, status,"
            " track_link_url) VALUES ($1, 'bench', $2, 'Sale %Link%', 'completed',"
            " 'https://shop.example.com') RETURNING id",
            account.id,
            sender,
        )
        first = await conn.fetchval("SELECT nextval('messages_id_seq')")
        await conn.execute("SELECT setval('messages_id_seq', $1)", first + n)
        batch = await conn.fetchval(
            "INSERT INTO batches (campaign_id, number, status, messages_expected,"
            " segments_expected, credit_used, first_message_id, last_message_id, link_url,"
            " started_at, finished_at) VALUES ($1, 1, 'completed', $2::integer, $2, $2, $3, $4,"
            " 'https://shop.example.com/?utm_source=sms', $5, $6) RETURNING id",
            campaign,
            n,
            first,
            first + n - 1,
            START,
            START + timedelta(hours=2),
        )
        messages, parts, links, clicks = [], [], [], []
        for i in range(n):
            mid = first + i
            status, reason, _ = pick(rng, OUTCOMES)
            prefix, country, _ = pick(rng, COUNTRIES)
            phone = f"{prefix}{i:07d}"[:13]
            count = 2 if i % 10 == 0 else 1
            submitted = START + timedelta(seconds=rng.uniform(0, 3600))
            receipt = submitted + timedelta(seconds=rng.uniform(0.5, 30))
            final = status in ("delivered", "failed", "unknown")
            sent = status != "rejected" or reason != "blacklisted"
            messages.append(
                (
                    mid,
                    batch,
                    campaign,
                    account.id,
                    phone,
                    "Sale https://s.example.com/l/AbCdEf012345",
                    "gsm7" if sent else "none",
                    0,
                    0,
                    count,
                    status,
                    reason,
                    START,
                    "all" if sent else None,
                    submitted if sent else None,
                    receipt if final else (submitted if status == "rejected" else None),
                    country,
                )
            )
            if sent and status != "rejected":
                for seq in range(1, count + 1):
                    parts.append(
                        (
                            mid,
                            seq,
                            b"Sale",
                            PART_STATE[status],
                            "herald@127.0.0.1:2775",
                            f"{mid:x}{seq}",
                            submitted,
                            receipt if final else None,
                        )
                    )
                links.append((f"{mid:012d}", mid, batch, "click"))
                if rng.random() < CLICK_SHARE:
                    clicks.append((mid, campaign, "click", receipt + timedelta(minutes=5)))
        await conn.copy_records_to_table(
            "messages",
            records=messages,
            columns=[
                "id",
                "batch_id",
                "campaign_id",
                "account_id",
                "phone",
                "text",
                "encoding",
                "data_coding",
                "esm_class",
                "part_count",
                "status",
                "reason",
                "not_before",
                "route",
                "sent_at",
                "done_at",
                "country",
            ],
        )
        await conn.copy_records_to_table(
            "parts",
            records=parts,
            columns=[
                "message_id",
                "seq",
                "short_message",
                "state",
                "bind",
                "smsc_id",
                "submitted_at",
                "receipt_at",
            ],
        )
        await conn.copy_records_to_table(
            "links", records=links, columns=["code", "message_id", "batch_id", "kind"]
        )
        await conn.copy_records_to_table(
            "link_events", records=clicks, columns=["message_id", "campaign_id", "kind", "at"]
        )
        for table in ("messages", "parts", "links", "link_events"):
            await conn.execute(f"VACUUM ANALYZE {table}")
    finally:
        await conn.close()
    return account.id, account.api_key, campaign


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


@contextlib.asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """The app on a free port of 127.0.0.1, in this loop; its base URL."""
    sock = socket.create_server(("127.0.0.1", 0))
    server = _Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def discard(chunk: bytes) -> None:
    return None


def peak_rss_reset() -> None:
    """Start measuring this process's peak RSS afresh (Linux: clear_refs 5 resets VmHWM)."""
    Path("/proc/self/clear_refs").write_text("5")


def rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(field)


async def timed(make: Callable[[], Awaitable[object]], runs: int) -> float:
    """Median seconds of `runs` awaits of make()."""
    took = []
    for _ in range(runs):
        started = time.perf_counter()
        await make()
        took.append(time.perf_counter() - started)
    return statistics.median(took)


async def bench(args: argparse.Namespace) -> None:
    name = f"herald_bench_report_{os.getpid()}"
    async with (
        bench_server("herald-bench-report-") as server,
        migrated_database(server, name) as (dsn, db),
    ):
        started = time.perf_counter()
        account, key, campaign = await load(dsn, args.messages)
        print(f"loaded {args.messages:,} messages in {time.perf_counter() - started:.0f} s")
        await measure(db, account, key, campaign, args)
        if args.expansion:
            await measure_expansion(db, dsn, args.expansion, args.runs)


async def measure(
    db: Database, account: int, key: str, campaign: int, args: argparse.Namespace
) -> None:
    n, runs = args.messages, args.runs
    reports = ReportService(db, clock=lambda: START)

    async def progress() -> None:
        async with db.acquire() as conn:
            await conn.fetch(queries.campaign_progress, campaign)

    await reports.report(account, campaign)  # warm the caches both read
    report_s = await timed(lambda: reports.report(account, campaign), runs)
    progress_s = await timed(progress, runs)

    runner = CampaignRunner(
        db, CONFIG, Router(CONFIG.routes, healthy=lambda _: True), clock=lambda: START,
        metrics=Metrics(),
    )  # fmt: skip
    app = create_app(AppContext(db=db, config=CONFIG, clock=lambda: START, runner=runner))
    export_rates, export_rss, copy_rates = [], [], []
    async with serve(app) as url:
        env = {**os.environ, "HERALD_API_URL": url, "HERALD_API_KEY": key}
        cli = [sys.executable, "-m", "herald", "campaign", "export", str(campaign), "-o",
               os.devnull]  # fmt: skip
        for _ in range(runs):
            before = rss_mb("VmRSS")
            peak_rss_reset()
            started = time.perf_counter()
            proc = await asyncio.create_subprocess_exec(*cli, env=env, stderr=subprocess.DEVNULL)
            assert await proc.wait() == 0
            export_rates.append(n / (time.perf_counter() - started))
            export_rss.append(rss_mb("VmHWM") - before)
            async with db.acquire() as conn:
                started = time.perf_counter()
                await conn.copy_from_query(
                    "SELECT m.id, m.batch_id, m.phone, m.country, m.status, m.reason,"
                    " m.part_count, (SELECT string_agg(p.smsc_id, ' ' ORDER BY p.seq)"
                    " FROM parts p WHERE p.message_id = m.id), m.route, m.created_at,"
                    " m.sent_at, m.done_at FROM messages m WHERE m.campaign_id = $1"
                    " ORDER BY m.id",
                    campaign,
                    output=discard,
                    format="csv",
                )
                copy_rates.append(n / (time.perf_counter() - started))
        async with httpx.AsyncClient(
            base_url=url + "/v1", headers={"Authorization": f"Bearer {key}"}, timeout=600
        ) as http:
            path = f"/campaigns/{campaign}/messages"
            last_page = (n + 499) // 500
            cursor = await last_cursor(db, campaign, n)
            first_s = await timed(lambda: http.get(path, params={"page_size": 500}), runs)
            offset_s = await timed(
                lambda: http.get(path, params={"page_size": 500, "page": last_page}), runs
            )
            after_s = await timed(
                lambda: http.get(path, params={"page_size": 500, "after": cursor}), runs
            )
    export_rate, copy_rate = statistics.median(export_rates), statistics.median(copy_rates)
    print(f"\ncampaign insight, {n:,} messages, median of {runs}")
    print(
        f"  report         {report_s * 1000:>8,.0f} ms     campaign_progress "
        f"{progress_s * 1000:,.0f} ms   ratio {report_s / progress_s:.1f}x"
    )
    print(
        f"  export         {export_rate:>8,.0f} rows/s  COPY TO STDOUT {copy_rate:,.0f} rows/s"
        f"   ratio {export_rate / copy_rate:.2f}   server peak RSS +"
        f"{max(export_rss):,.0f} MB"
    )
    print(
        f"  last page      {offset_s * 1000:>8,.0f} ms (page)   {after_s * 1000:,.0f} ms (after)"
        f"   first page {first_s * 1000:,.0f} ms"
    )


PLAIN = "Hello %Name%, your order [~order] has shipped. Reply STOP to opt out."
LINKED = "Hello %Name%, your order [~order] has shipped: %Link% Opt out: %OptOutLink%"


async def expansion_campaign(dsn: str, n: int, template: str, links: bool) -> tuple[int, int]:
    """A campaign of n recipients (loaded as bench/e2e.py loads them), as a run finds it."""
    conn = await asyncpg.connect(dsn)
    try:
        account = await create_account(conn, f"expansion-{time.monotonic_ns()}", credit=10 * n)
        sender = await conn.fetchval(
            queries.create_sender, account.id, "Herald", "alphanumeric", 5, 0
        )
        campaign = await conn.fetchval(
            "INSERT INTO campaigns (account_id, name, sender_id, template, status,"
            " respect_quiet_hours, track_link_url, opt_out_link) VALUES ($1, 'bench', $2, $3,"
            " 'scheduled', false, $4, $5) RETURNING id",
            account.id,
            sender,
            template,
            "https://shop.example.com/spring" if links else None,
            links,
        )
        await conn.copy_records_to_table(
            "campaign_recipients",
            columns=["campaign_id", "source", "phone_raw", "name", "labels"],
            records=(
                (campaign, "recipient", f"+30694{i:07d}", f"Name{i}", f'{{"order": "A{i}"}}')
                for i in range(n)
            ),
        )
    finally:
        await conn.close()
    return account.id, campaign


async def measure_expansion(db: Database, dsn: str, n: int, runs: int) -> None:
    runner = CampaignRunner(
        db, CONFIG, Router(CONFIG.routes, healthy=lambda _: True), clock=lambda: START,
        metrics=Metrics(), links_base_url="https://s.example.com",
    )  # fmt: skip
    rates: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(runs):
        for links in (False, True):
            account, campaign = await expansion_campaign(dsn, n, LINKED if links else PLAIN, links)
            started = time.perf_counter()
            result = await runner.start_run(campaign_id=campaign, account_id=account)
            rates[links].append(n / (time.perf_counter() - started))
            assert result.count == n
    with_links, without = statistics.median(rates[True]), statistics.median(rates[False])
    print(
        f"  expansion      {with_links:>8,.0f} recipients/s with two links each   without "
        f"{without:,.0f}/s   ratio {with_links / without:.2f}   ({n:,} recipients)"
    )


async def last_cursor(db: Database, campaign: int, n: int) -> int:
    """`after` for the last page of 500: the id before its first message."""
    async with db.acquire() as conn:
        first = await conn.fetchval(
            "SELECT first_message_id FROM batches WHERE campaign_id = $1", campaign
        )
    return int(first) + ((n - 1) // 500) * 500 - 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--expansion",
        type=int,
        default=200_000,
        metavar="N",
        help="recipients per run of the expansion comparison (0: skip it)",
    )
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(bench(args))
    except ImportError:
        asyncio.run(bench(args))


if __name__ == "__main__":
    main()
