"""`herald run` as a real subprocess, configured by a TOML file, for multi-process tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from herald.simulator import Simulator
from herald.store.db import Database


def write_config(
    path: Path,
    *,
    dsn: str,
    node: str,
    sim: Simulator,
    system_id: str,
    password: str,
    window: int = 50,
    rate: float = 20000.0,
    unknown_policy: str = "mark_unknown",
    lease_seconds: float = 30.0,
    bind_extra: str = "",
    extra: str = "",
) -> Path:
    """A herald config: one bind to `sim` as `system_id`, API off, a shared database;
    `bind_extra` lines go in the bind's table, `extra` (tables) at the end."""
    assert sim.address is not None
    host, port = sim.address
    path.write_text(
        f"""
node = {json.dumps(node)}
state_dir = {json.dumps(str(path.parent / ("state-" + node)))}
log_level = "INFO"
[database]
dsn = {json.dumps(dsn)}
[api]
enabled = false
[simulator]
enabled = false
[[binds]]
name = "{node}-bind"
host = "{host}"
port = {port}
system_id = "{system_id}"
password = "{password}"
window = {window}
rate = {rate}
burst = {window}
{bind_extra}
[[routes]]
name = "all"
binds = ["{node}-bind"]
[dispatcher]
poll_interval = 0.2
flush_interval = 0.02
lease_seconds = {lease_seconds}
unknown_policy = "{unknown_policy}"
[tracker]
sweep_interval = 0.2
{extra}
""",
        encoding="utf-8",
    )
    return path


class HeraldProcess:
    """One `herald run` process; `start` returns once it says it is running."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.proc: asyncio.subprocess.Process | None = None
        self.output: list[str] = []
        self._running = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._line = asyncio.Event()  # set at every line read

    async def start(self, within: float = 60.0) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "herald",
            "run",
            "--config",
            str(self.config),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
        )
        self._reader = asyncio.ensure_future(self._read())
        waiter = asyncio.ensure_future(self._running.wait())
        await asyncio.wait(
            [waiter, self._reader], timeout=within, return_when=asyncio.FIRST_COMPLETED
        )
        waiter.cancel()
        if not self._running.is_set():
            raise RuntimeError("herald did not start:\n" + "".join(self.output[-40:]))

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for line in self.proc.stdout:
            text = line.decode(errors="replace")
            self.output.append(text)
            if "herald is running" in text:
                self._running.set()
            self._line.set()
        self._line.set()  # the end of the output: waiters see there is no more

    async def wait_for_line(self, fragment: str, within: float = 60.0) -> str:
        """The first output line containing `fragment`, once the process has printed it."""
        async with asyncio.timeout(within):
            while True:
                found = next((line for line in self.output if fragment in line), None)
                if found is not None:
                    return found
                if self._reader is not None and self._reader.done():
                    raise AssertionError(f"herald exited without printing {fragment!r}")
                self._line.clear()
                await self._line.wait()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)

    async def terminate(self, within: float = 60.0) -> int:
        """SIGTERM, then the exit code (raises if it does not exit in time)."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.proc.wait(), within)
        if self._reader is not None:
            await self._reader
        return code

    async def wait(self) -> int:
        assert self.proc is not None
        code = await self.proc.wait()
        if self._reader is not None:
            await self._reader
        return code


@contextlib.asynccontextmanager
async def batch_events(database: Database) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
    """The `herald_events` notifications (batches and campaigns completed), as a queue."""
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def on_event(*args: Any) -> None:
        events.put_nowait(json.loads(args[3]))

    async with database.acquire() as conn:
        await conn.add_listener("herald_events", on_event)
        try:
            yield events
        finally:
            await conn.remove_listener("herald_events", on_event)


async def wait_for_batch(
    events: asyncio.Queue[dict[str, Any]], batch_id: int, within: float
) -> None:
    async with asyncio.timeout(within):
        while True:
            event = await events.get()
            if batch_id in event.get("batches_completed", []):
                return
