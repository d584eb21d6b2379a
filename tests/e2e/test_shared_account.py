"""Several `herald run` processes on one carrier account: the carrier never sees more than the
account's rate (plus one burst) in any second, the processes share it, a process that dies
gives its share back within a few seconds, and max_binds holds across processes."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from herald.simulator import Simulator
from herald.store.db import Database
from tests.e2e.test_processes import start_campaign
from tests.support.processes import HeraldProcess, write_config

pytestmark = pytest.mark.slow

RATE = 60.0  # the account's, submit_sm per second, every process together
BURST = 10
HEARTBEAT, TIMEOUT = 0.25, 1.5


def account_config(
    tmp_path: Path, db_dsn: str, sim: Simulator, node: str, max_binds: int = 0
) -> Path:
    return write_config(
        tmp_path / f"{node}.toml",
        dsn=db_dsn,
        node=node,
        sim=sim,
        system_id="acme",
        password="pw",
        window=20,
        rate=1000.0,  # each bind alone could send far more than the account may
        bind_extra='account = "acme"',
        extra=(
            f'[[carrier_accounts]]\nname = "acme"\nrate = {RATE}\nburst = {BURST}\n'
            f"max_binds = {max_binds}\n"
            f"[nodes]\nheartbeat_interval = {HEARTBEAT}\ntimeout = {TIMEOUT}\n"
        ),
    )


@contextlib.asynccontextmanager
async def processes(configs: list[Path]) -> AsyncIterator[list[HeraldProcess]]:
    started = [HeraldProcess(c) for c in configs]
    await asyncio.gather(*(p.start() for p in started))
    try:
        yield started
    finally:
        for p in started:
            if p.proc is not None and p.proc.returncode is None:
                await p.terminate()


def arrivals(sim: Simulator) -> list[float]:
    """When the simulator received each submit_sm, in seconds."""
    return sorted(datetime.fromisoformat(r.time).timestamp() for r in sim.submits)


def most_in_a_second(times: list[float]) -> int:
    most, first = 0, 0
    for last, t in enumerate(times):
        while t - times[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def rate_between(times: list[float], start: float, end: float) -> float:
    return sum(1 for t in times if start <= t < end) / (end - start)


async def sent_more(sim: Simulator, n: int) -> list[float]:
    """Once `n` more submits have arrived, every arrival time so far. (Rates are measured
    from the arrival times of a number of submits, not over a time the test waits.)"""
    await sim.wait_for_submits(sim.stats.submits + n, timeout=n / RATE * 4 + 30)
    return arrivals(sim)


def rate_of_last(times: list[float], n: int) -> float:
    last = times[-n:]
    return (len(last) - 1) / (last[-1] - last[0])


async def test_two_and_three_processes_share_the_accounts_rate(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    async with Simulator(password="pw", system_id="acme") as sim:
        configs = [account_config(tmp_path, db_dsn, sim, f"n{i}") for i in range(3)]
        async with processes(configs[:2]) as two:
            await sim.wait_for_binds(2)
            await start_campaign(database, 4000)
            await sent_more(sim, int(RATE))  # under way
            times = await sent_more(sim, int(5 * RATE))
            assert most_in_a_second(times) <= RATE + BURST
            assert rate_of_last(times, int(5 * RATE)) > 0.8 * RATE  # used, not wasted
            assert [share(p) for p in two] == [RATE / 2] * 2
            # A third process joins: the three share the same rate.
            async with processes(configs[2:]) as third:
                await sim.wait_for_binds(3)
                await sent_more(sim, int(2 * TIMEOUT * RATE))  # settled
                times = await sent_more(sim, int(5 * RATE))
                assert most_in_a_second(times) <= RATE + BURST
                assert rate_of_last(times, int(5 * RATE)) > 0.8 * RATE
                assert [share(p) for p in (*two, *third)] == [RATE / 3] * 3
                # ...and one dies: the others take its share back within a few seconds.
                third[0].kill()
                await third[0].wait()
                killed = arrivals(sim)[-1]
                times = await sent_more(sim, int((TIMEOUT + 6) * RATE * 0.6))
                assert most_in_a_second(times) <= RATE + BURST
                back = [t for t in times if t >= killed + TIMEOUT + 2.0]
                assert len(back) > RATE and rate_of_last(back, len(back)) > 0.8 * RATE
                assert [share(p) for p in two] == [RATE / 2] * 2


def share(process: HeraldProcess) -> float:
    """The process's latest share of account acme, as it logged it."""
    said = re.findall(
        r"carrier account acme: this process may send ([0-9.]+)", "".join(process.output)
    )
    return float(said[-1])


async def test_max_binds_holds_across_processes_and_a_dead_ones_slot_is_taken(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    async with Simulator(password="pw", system_id="acme") as sim:
        configs = [account_config(tmp_path, db_dsn, sim, f"m{i}", max_binds=2) for i in range(3)]
        async with processes(configs) as three:
            await sim.wait_for_binds(2)
            await start_campaign(database, 4000)
            # Sending for a few time-outs' worth of submits: every process has read the
            # registry many times, and the third has not bound.
            await sent_more(sim, int(3 * TIMEOUT * RATE))
            assert sim.stats.binds == 2 and len(sim.bound("acme")) == 2
            holders = [p for p in three if "is free: starting it" in "".join(p.output)]
            waiting = [p for p in three if p not in holders]
            assert len(holders) == 2 and len(waiting) == 1
            holders[0].kill()
            await holders[0].wait()
            await waiting[0].wait_for_line("a slot of carrier account acme is free", 30)
            await sim.wait_for_binds(3, timeout=30)
            assert len(sim.bound("acme")) == 2
