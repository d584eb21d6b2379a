"""A background task that dies (dispatcher, writer, a worker) must not leave herald up and not
working: the daemon stops, draining what it can, and exits with status 1 for its supervisor
(docs/operations.md, the faults table)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from herald.daemon import Daemon
from herald.delivery.completion import Completion
from herald.simulator import Simulator
from herald.store.db import Database
from tests.support.gateway import bind_to, gateway_config


async def test_a_task_that_dies_stops_herald_with_status_1(
    database: Database,
    db_dsn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    started = asyncio.Event()

    async def broken(self: Completion, stop: asyncio.Event) -> None:
        await started.wait()
        raise RuntimeError("a bug in the completion worker")

    monkeypatch.setattr(Completion, "run", broken)  # the one fault this test injects
    async with Simulator() as sim:
        daemon = Daemon(gateway_config(db_dsn, tmp_path, [bind_to(sim)]))
        run = asyncio.ensure_future(daemon.run())
        await daemon.running.started.wait()
        started.set()
        async with asyncio.timeout(60):
            await run  # returns on its own: no signal was sent
    assert daemon.exit_code == 1
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert any("the completion task stopped with an error" in r.getMessage() for r in critical)
    assert "a bug in the completion worker" in caplog.text
