"""The embedded PostgreSQL wrapper: start, stop, restart, sharing, adoption after a SIGKILL,
stale pid files, and an ordinary (non-root) user."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import psutil
import pytest

from herald.errors import StoreError
from herald.store import embedded
from herald.store.db import Database
from herald.store.embedded import EmbeddedPostgres

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def state_dir() -> Iterator[Path]:
    """A state dir outside pytest's tmp_path: as root the server runs as another user, and
    every pytest session start (anyone's) chmods /tmp/pytest-of-root back to 0700."""
    path = Path(tempfile.mkdtemp(prefix="herald-test-state-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def gone(pid: int) -> bool:
    """No such process any more (a zombie waiting for init to reap it counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def query_sync(dsn: str, sql: str) -> object:
    return asyncio.run(query(dsn, sql))


async def query(dsn: str, sql: str) -> object:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def test_start_stop_restart_keeps_the_data(
    state_dir: Path, record_pg_timing: Callable[[str, float], None]
) -> None:
    server = EmbeddedPostgres(state_dir / "not" / "yet" / "there")
    started = time.perf_counter()
    dsn = await server.astart()
    record_pg_timing("embedded first start (initdb)", time.perf_counter() - started)
    assert (state_dir / "not/yet/there/pgdata/PG_VERSION").exists()
    assert await server.astart() == dsn  # starting twice is harmless
    first_pid = server.postmaster_pid
    assert first_pid is not None
    await query(dsn, "CREATE TABLE kept AS SELECT 42 AS answer")
    for name, value in [
        ("synchronous_commit", "on"),
        ("unix_socket_permissions", "0700"),
        ("listen_addresses", ""),
        ("jit", "off"),
        ("TimeZone", "UTC"),
    ]:
        assert await query(dsn, f"SELECT current_setting('{name}')") == value, name

    await server.astop()
    assert gone(first_pid)
    assert server.postmaster_pid is None
    assert not (server.pgdata / "postmaster.pid").exists()
    await server.astop()  # stopping twice is harmless

    started = time.perf_counter()
    dsn = await server.astart()
    record_pg_timing("embedded restart", time.perf_counter() - started)
    assert server.postmaster_pid not in (None, first_pid)
    assert await query(dsn, "SELECT answer FROM kept") == 42
    await server.astop()

    with EmbeddedPostgres(state_dir / "not/yet/there") as again:  # a new object, same state dir
        assert await query(again.dsn, "SELECT answer FROM kept") == 42


async def test_users_share_the_server_and_the_last_one_stops_it(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = EmbeddedPostgres(state_dir), EmbeddedPostgres(state_dir)
    await first.astart()
    # The second user comes with other settings (a newer herald): the running server reloads.
    monkeypatch.setitem(embedded.SETTINGS, "jit", "on")
    dsn = await second.astart()
    assert "jit = on" in (first.pgdata / embedded.SETTINGS_FILE).read_text()
    assert await query(dsn, "SELECT current_setting('jit')") == "on"
    pid = first.postmaster_pid
    assert pid is not None and second.postmaster_pid == pid
    await first.astop()
    assert await query(dsn, "SELECT 1") == 1  # still serving the second user
    await second.astop()
    assert gone(pid)


_KILLED_OWNER = """
import sys
from pathlib import Path
from herald.store.embedded import EmbeddedPostgres
server = EmbeddedPostgres(Path(sys.argv[1]))
print(server.start(), server.postmaster_pid, flush=True)
sys.stdin.read()  # hold the server until killed
"""


def test_a_server_left_by_a_sigkilled_herald_is_adopted_and_stopped(state_dir: Path) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", _KILLED_OWNER, str(state_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert owner.stdout is not None
        dsn, pid_text = owner.stdout.readline().split()
    finally:
        owner.kill()  # SIGKILL: no atexit, no stop()
        owner.wait()
    orphan = int(pid_text)
    assert not gone(orphan), "the postmaster outlives its SIGKILLed owner"
    handles = state_dir / "pgdata" / ".handle_pids.json"
    assert owner.pid in json.loads(handles.read_text())  # the package's stale entry

    server = EmbeddedPostgres(state_dir)
    assert server.start() == dsn
    assert server.postmaster_pid == orphan  # adopted, not restarted
    assert owner.pid not in json.loads(handles.read_text())
    assert query_sync(dsn, "SELECT 1") == 1
    server.stop()
    assert gone(orphan)


def test_stale_pid_files_do_not_block_a_start(state_dir: Path) -> None:
    with EmbeddedPostgres(state_dir):
        pass
    dead = subprocess.Popen(["true"])
    dead.wait()
    pgdata = state_dir / "pgdata"
    # A postmaster.pid naming a live process that is not postgres (a recycled PID): postgres
    # itself would refuse to start while that PID exists.
    (pgdata / "postmaster.pid").write_text(f"{os.getpid()}\n{pgdata}\n0\n5432\n\n\n\n\n")
    (pgdata / ".handle_pids.json").write_text(json.dumps([dead.pid]))
    (state_dir / "embedded-owners.json").write_text(json.dumps([[dead.pid, 1.0, "gone"]]))

    server = EmbeddedPostgres(state_dir)
    dsn = server.start()
    try:
        assert server.postmaster_pid not in (None, os.getpid())
        assert query_sync(dsn, "SELECT 1") == 1
        assert dead.pid not in json.loads((pgdata / ".handle_pids.json").read_text())
    finally:
        server.stop()


async def test_database_without_a_dsn_runs_on_the_embedded_server(state_dir: Path) -> None:
    async with Database(state_dir=state_dir, max_size=2) as db:
        assert db.embedded is not None
        pid = db.embedded.postmaster_pid
        async with db.acquire() as conn:
            assert await conn.fetchval("SELECT $1::jsonb", {"a": [1, "é"]}) == {"a": [1, "é"]}
    assert pid is not None and gone(pid)


@pytest.mark.skipif(not ROOT, reason="only root triggers the root-only warning")
async def test_running_as_root_is_announced_once(
    state_dir: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded, "_warned_root", False)
    with caplog.at_level(logging.WARNING, logger="herald.store.embedded"):
        for _ in range(2):
            with EmbeddedPostgres(state_dir):
                pass
    assert caplog.text.count("running as root") == 1
    assert embedded.SYSTEM_USER in caplog.text


_AS_USER = """
import asyncio, json, os, sys
from pathlib import Path
import asyncpg, psutil
from herald.store.embedded import EmbeddedPostgres

server = EmbeddedPostgres(Path(sys.argv[1]))
dsn = server.start()
pid = server.postmaster_pid

async def query():
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval("SELECT current_setting('data_directory')")
    finally:
        await conn.close()

result = {"uid": os.getuid(), "postmaster_uid": psutil.Process(pid).uids().real,
          "data_directory": asyncio.run(query()), "pid": pid}
server.stop()
print(json.dumps(result))
"""


def _interpreter_for(user: str) -> list[str] | None:
    """A Python `user` can run with herald importable: ours, or the system's same version."""
    site = next(p for p in sys.path if p.endswith("site-packages"))
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for exe in (sys.executable, f"/usr/bin/{version}", f"/usr/local/bin/{version}"):
        if (
            Path(exe).exists()
            and subprocess.run(
                ["runuser", "-u", user, "--", exe, "-c", "pass"], capture_output=True
            ).returncode
            == 0
        ):
            return ["env", f"PYTHONPATH={SRC}:{site}", exe, "-s"]
    return None


@pytest.mark.skipif(
    not ROOT, reason="not root: every other test here already runs as an ordinary user"
)
def test_works_as_an_ordinary_user() -> None:
    if shutil.which("runuser") is None:
        pytest.skip("runuser is not installed")
    python = _interpreter_for("nobody")
    if python is None:
        pytest.skip(f"no Python {sys.version_info[:2]} the user nobody may execute")
    home = Path(tempfile.mkdtemp(prefix="herald-nobody-"))
    try:
        os.chown(home, *_ids("nobody"))
        done = subprocess.run(
            ["runuser", "-u", "nobody", "--", *python, "-c", _AS_USER, str(home / "state")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout.strip().splitlines()[-1])
        uid = _ids("nobody")[0]
        assert result["uid"] == result["postmaster_uid"] == uid  # no system user, no root
        assert result["data_directory"] == str(home / "state" / "pgdata")
        assert gone(result["pid"])
        assert "running as root" not in done.stderr
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _ids(user: str) -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


async def test_start_failure_names_the_directory(state_dir: Path) -> None:
    (state_dir / "pgdata").mkdir()
    (state_dir / "pgdata" / "PG_VERSION").write_text("9\n")  # a pgdata from another major
    server = EmbeddedPostgres(state_dir)
    with pytest.raises(StoreError, match=str(state_dir / "pgdata")):
        await server.astart()
    await asyncio.to_thread(server.stop)
