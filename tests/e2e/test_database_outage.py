"""The database going away under a running `herald run` (a real process on its own embedded
PostgreSQL): a killed postmaster is restarted; one that cannot be restarted makes herald exit
with status 1 and one clear line; a stop with the database gone ends within its bound and
says what it left unstored."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from herald.simulator import Simulator
from tests.e2e.test_daemon_process import free_port
from tests.support.factories import greek_mobiles
from tests.support.processes import HeraldProcess

# What a stop with the database gone may take in these tests: stop_flush_seconds (1), the
# watch's last ping (2) and the rest of an orderly stop, with room for a loaded machine.
STOP_BOUND = 20.0


def herald_config(
    path: Path, sim: Simulator, api_port: int, *, unreachable: float, hold_writes: bool
) -> Path:
    """herald on its own embedded PostgreSQL (no DSN) in path's folder, its demo account
    (the built-in simulator, unused, makes one), one bind to `sim`. `hold_writes`: the writer
    flushes only when asked (the dispatcher asks once every part in flight is answered)."""
    assert sim.address is not None
    host, port = sim.address
    writes = "flush_interval = 3600.0\nreceipt_flush_interval = 3600.0\nflush_size = 100000"
    path.write_text(
        f"""
node = "outage"
state_dir = {json.dumps(str(path.parent / "state"))}
log_level = "INFO"
[database]
check_interval = 0.2
unreachable_seconds = {unreachable}
stop_flush_seconds = 1.0
[api]
enabled = true
port = {api_port}
[simulator]
enabled = true
port = {free_port()}
[[binds]]
name = "carrier"
host = "{host}"
port = {port}
system_id = "herald"
password = "secret"
window = 50
rate = 5000.0
burst = 50
[[routes]]
name = "all"
binds = ["carrier"]
[dispatcher]
poll_interval = 0.2
{writes if hold_writes else "flush_interval = 0.02"}
[tracker]
sweep_interval = {3600.0 if hold_writes else 0.2}
""",
        encoding="utf-8",
    )
    return path


async def started(config: Path, port: int) -> tuple[HeraldProcess, httpx.AsyncClient]:
    herald = HeraldProcess(config)
    await herald.start()
    # The banner's `export HERALD_URL=... HERALD_KEY=hk_...` line carries the demo key.
    key = (await herald.wait_for_line("HERALD_KEY=")).rsplit("HERALD_KEY=", 1)[1].strip()
    api = httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}
    )
    return herald, api


async def send(api: httpx.AsyncClient, name: str, numbers: list[str]) -> None:
    created = await api.post(
        "/v1/campaigns",
        json={
            "name": name,
            "sender": "Herald",
            "message": "Hello",
            "respect_quiet_hours": False,
            "recipients": [{"phone": n} for n in numbers],
        },
    )
    assert created.status_code == 201, created.text


def kill_postmaster(config: Path) -> int:
    """The server dies whole, postmaster and backends: a backend left alive for a moment
    would still serve its connection, and a flush on it could be stored after all. The
    postmaster is stopped first, so that no backend forked after the list escapes it (a
    pool's new connection did, once in a full run)."""
    pgdata = config.parent / "state" / "pgdata"
    pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    postmaster = psutil.Process(pid)
    os.kill(pid, signal.SIGSTOP)
    backends = postmaster.children(recursive=True)
    os.kill(pid, signal.SIGKILL)
    for backend in backends:
        with contextlib.suppress(psutil.NoSuchProcess):
            backend.kill()
    postmaster.wait(10)
    psutil.wait_procs(backends, timeout=10)
    return pid


def sample(text: str, name: str) -> float:
    return next(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    )


async def test_a_killed_embedded_postgres_is_restarted(tmp_path: Path) -> None:
    async with Simulator() as sim:
        port = free_port()
        config = herald_config(tmp_path / "h.toml", sim, port, unreachable=60, hold_writes=False)
        herald, api = await started(config, port)
        async with api:
            await send(api, "before", greek_mobiles(5))
            await sim.wait_for_receipts_acked(5, timeout=30)
            old = kill_postmaster(config)
            await herald.wait_for_line("had stopped: restarted it")
            await herald.wait_for_line("the database answers again")
            pid = int((config.parent / "state/pgdata/postmaster.pid").read_text().split()[0])
            assert pid != old and psutil.pid_exists(pid)
            # Stored and acknowledged again: the pool's connections to the dead server went.
            await send(api, "after", greek_mobiles(5, start=5))
            await sim.wait_for_receipts_acked(10, timeout=30)
            assert (await api.get("/healthz")).status_code == 200
            assert (await api.get("/readyz")).status_code == 200
            metrics = (await api.get("/metrics")).text
        assert sample(metrics, "herald_database_restarts_total") == 1
        assert await herald.terminate() == 0


def unstartable(config: Path) -> None:
    """A postgresql.conf the server refuses: a restart fails as it would on a full disk or
    a broken data directory."""
    with (config.parent / "state" / "pgdata" / "postgresql.conf").open("a") as conf:
        conf.write("\nthis line is not a setting\n")


async def answered_after_the_kill(sim: Simulator, config: Path, count: int) -> None:
    """With the simulator holding its answers (`hold_answers()`, before the POST): the
    database dies for good between the claim of `count` parts and their answers, which then
    reach a writer that can store nothing. Answered before the kill, the parts could be
    stored: the last answer asks the writer for a flush whatever its interval
    (`Dispatcher._finish`), and a test that raced it failed once in CI."""
    await sim.wait_for_submits(count, timeout=30)
    unstartable(config)
    kill_postmaster(config)
    assert sim.release_answers() == count
    await sim.wait_for(lambda s: s.receipts_sent >= count, timeout=30)


async def test_a_database_that_cannot_be_restarted_makes_herald_exit(tmp_path: Path) -> None:
    async with Simulator() as sim:
        port = free_port()
        config = herald_config(tmp_path / "h.toml", sim, port, unreachable=2, hold_writes=True)
        herald, api = await started(config, port)
        async with api:
            sim.hold_answers()  # before the POST: its parts may be claimed before the 201
            await send(api, "lost", greek_mobiles(5))
            await answered_after_the_kill(sim, config, 5)
            await herald.wait_for_line("could not restart the embedded PostgreSQL")
            line = await herald.wait_for_line("exiting with status 1")
        code = await herald.wait()
    assert code == 1
    assert "CRITICAL" in line and "could not be restarted within 2 s" in line
    assert sum("CRITICAL" in x for x in herald.output) == 1
    lost = next(x for x in herald.output if "were not stored" in x)
    assert "5 part results, 5 message statuses" in lost
    assert "carrier delivers them again" in lost
    assert sim.stats.receipts_acked == 0  # none acknowledged without being stored


async def test_a_stop_with_the_database_gone_ends_within_its_bound(tmp_path: Path) -> None:
    async with Simulator() as sim:
        port = free_port()
        config = herald_config(tmp_path / "h.toml", sim, port, unreachable=60, hold_writes=True)
        herald, api = await started(config, port)
        async with api:
            sim.hold_answers()  # before the POST: its parts may be claimed before the 201
            await send(api, "held", greek_mobiles(5))
            await answered_after_the_kill(sim, config, 5)
            await herald.wait_for_line("could not restart the embedded PostgreSQL")
            stopping = time.monotonic()
            code = await herald.terminate(within=STOP_BOUND)
            took = time.monotonic() - stopping
    assert code == 1 and took < STOP_BOUND
    lost = next(x for x in herald.output if "were not stored" in x)
    assert "5 part results, 5 message statuses" in lost
    assert not any("exiting with status 1" in x for x in herald.output)  # SIGTERM, not the watch
    # The receipts it could not store were answered with a temporary error, not acknowledged.
    assert sim.stats.receipts_acked == 0 and sim.stats.receipts_nacked == 5
