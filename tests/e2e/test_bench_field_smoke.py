"""bench/field.py runs: herald run with its API against the carrier simulator, tiny (200
recipients, one window, one run, pg_stat_statements on), so the benchmark cannot rot; and its
Kannel driver's own parts (the DLR counter, the sendsms requests), with Kannel itself when it
is installed. No timing is asserted here (speed lives in `make bench`)."""

from __future__ import annotations

import asyncio
import importlib
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
MODULES = ("field", "kannel", "e2e", "simulator", "smpp")  # bench modules field imports


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    sys.path.insert(0, str(BENCH))
    try:
        # by name: bench/ is importable only from here, so mypy cannot resolve `import field`
        yield importlib.import_module("field")
    finally:
        sys.path.remove(str(BENCH))
        for name in MODULES:
            sys.modules.pop(name, None)


def test_a_tiny_run_measures_herald_and_reports(bench: ModuleType, capsys) -> None:
    argv = ["--windows", "10", "--recipients", "200", "--runs", "1", "--receipt-delay", "none"]
    cells = bench.main([*argv, "--no-kannel", "--sample-interval", "0.02", "--pg-statements"])
    (key,) = cells
    assert key == ("herald", 10, None)
    (run,) = cells[key].runs
    assert run.msg_per_s > 0
    assert run.first_submit_s >= 0 and run.intake_s > 0 and run.send_per_s >= run.msg_per_s
    assert run.cpu_us["herald"] > 0 and run.cpu_us["postgres"] > 0
    assert run.reads > 0 and run.writes > 0  # herald's system calls per message
    # (200 messages may take the simulator less than one clock tick of CPU)
    assert run.cpu_us["simulator"] >= 0 and run.peak_rss_mb > 0
    out = capsys.readouterr().out
    # the claim among PostgreSQL's statements, with its calls per message and per call its
    # time, rows and buffers; and the WAL written per message
    assert re.search(r"%\s+[\d.]+\s+[\d.]+\s+\d+\s+\d+  WITH due AS", out), out
    assert re.search(r"WAL per message: [\d.]+ records, [\d.]+ full pages, [\d,]+ bytes", out)
    for needle in ("msg/s end to end", "herald run", "window", "targets", "first submit_sm"):
        assert needle in out


def test_sendsms_requests_carry_text_and_a_dlr_url_each(bench: ModuleType) -> None:
    kannel = sys.modules["kannel"]
    messages = bench.rendered(2)
    assert messages[1] == (
        "306940000001",
        bench.TEXT.replace("%Name%", "Name1").replace("[~order]", "A1"),
    )
    first, second = kannel.sendsms_targets(messages, "Herald", 9999)
    query = parse_qs(urlsplit(second.decode()).query)
    assert query["to"] == ["306940000001"] and query["from"] == ["Herald"]
    assert query["text"] == [messages[1][1]] and query["dlr-mask"] == ["31"]
    assert query["dlr-url"] == ["http://127.0.0.1:9999/dlr?id=1&type=%d"]
    assert first != second


async def test_the_dlr_counter_counts_final_reports_once(bench: ModuleType) -> None:
    kannel = sys.modules["kannel"]
    counter = kannel.DlrCounter(expected=2)
    await counter.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{counter.port}") as client:
            for path in ("/dlr?id=0&type=8", "/dlr?id=0&type=1", "/dlr?id=0&type=1"):
                assert (await client.get(path)).status_code == 200
            assert not counter.done.is_set()  # an SMSC ack (8) and a repeat are not final ones
            await client.get("/dlr?id=1&type=16")
        await asyncio.wait_for(counter.done.wait(), 5)
        assert (counter.delivered, counter.failed, counter.requests) == ({0}, {1}, 4)
    finally:
        await counter.stop()


@pytest.mark.skipif(
    shutil.which("bearerbox") is None,
    reason="Kannel is not installed (make test installs Debian's kannel when run as root)",
)
def test_a_tiny_kannel_run(bench: ModuleType) -> None:
    args = bench.parse_args(["--windows", "10", "--recipients", "200"])
    run = asyncio.run(bench.one_cell_run("kannel", args, 10, None))
    assert run.msg_per_s > 0 and run.cpu_us["kannel"] > 0 and run.cpu_us["client"] > 0
