"""bench/spy_summary.py puts py-spy stacks in the send path's components, first rule first."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "spy_summary.py"
LOOP = "run (herald/daemon.py:483);Runner.run (asyncio/runners.py:118)"


@pytest.fixture(scope="module")
def spy():
    spec = importlib.util.spec_from_file_location("bench_spy_summary", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def test_stacks_go_to_the_first_matching_component(spy, tmp_path: Path) -> None:
    claim = f"{LOOP};Dispatcher._claim_and_send (herald/delivery/dispatcher.py:197);"
    poll = f"{LOOP};FastAPI.__call__ (fastapi/applications.py:1);get_campaign (herald/api/routes/"
    profile = tmp_path / "p.txt"
    profile.write_text(
        f"{claim}claim_due_messages (herald/store/dispatch.py:1);fetch (asyncpg/c.py:1) 6\n"
        f"{poll}campaigns.py:110);campaign_progress (herald/campaigns/progress.py:33) 2\n"
        f"{LOOP};Session._received (herald/smpp/session.py:470) 1\n"
        f"{LOOP} 1\n"
        "not a stack line\n"
    )
    samples, in_asyncpg, total = spy.summarise(profile.read_text().splitlines())
    assert total == 10
    assert samples == {
        "dispatcher claim (query, rows, contexts)": 6,
        "progress polls (GET /v1/campaigns/{id})": 2,
        "SMPP session (read, write, encode)": 1,
        "event loop in C (uvloop, asyncpg protocol)": 1,
    }
    assert in_asyncpg == {"dispatcher claim (query, rows, contexts)": 6}
    lines = spy.report(profile, cpu_us=100.0)
    assert lines[0] == "p.txt: 10 samples"
    assert "60.0%" in lines[1] and "60 µs" in lines[1]
