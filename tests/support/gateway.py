"""A whole herald (the real Daemon composition) in the test's loop, against real peers."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from herald.config import (
    ApiConfig,
    BindConfig,
    Config,
    DatabaseConfig,
    DispatcherConfig,
    RouteConfig,
    TrackerConfig,
    load_config,
)
from herald.daemon import Daemon, Running
from herald.simulator import Simulator

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_run_config(state_dir: Path) -> Config:
    """The configuration `make run` starts herald with (config/herald.toml: the embedded
    PostgreSQL, the simulator and a bind to it, the demo account), in `state_dir` and on free
    ports instead of 8080 and 2775."""
    simulator = str(free_port())
    return load_config(
        ROOT / "config" / "herald.toml",
        {
            "HERALD_STATE_DIR": str(state_dir),
            "HERALD_API_PORT": str(free_port()),
            "HERALD_SIMULATOR_PORT": simulator,
            "HERALD_BIND_SIMULATOR_PORT": simulator,
        },
    )


def gateway_config(
    dsn: str,
    state_dir: Path,
    binds: Sequence[BindConfig],
    *,
    routes: Sequence[RouteConfig] | None = None,
    dispatcher: dict[str, Any] | None = None,
    tracker: dict[str, Any] | None = None,
    **extra: Any,
) -> Config:
    return Config(
        state_dir=state_dir,
        database=DatabaseConfig(dsn=SecretStr(dsn)),
        api=ApiConfig(port=0),
        binds=tuple(binds),
        routes=tuple(routes or (RouteConfig(name="all", binds=tuple(b.name for b in binds)),)),
        dispatcher=DispatcherConfig(
            **{"poll_interval": 0.2, "flush_interval": 0.02, **(dispatcher or {})}
        ),
        tracker=TrackerConfig(**{"sweep_interval": 0.2, **(tracker or {})}),
        **extra,
    )


def bind_to(sim: Simulator, name: str = "sim", **options: Any) -> BindConfig:
    assert sim.address is not None
    host, port = sim.address
    settings = {
        "system_id": sim.settings.system_id,
        "password": sim.settings.password,
        "window": 50,
        "rate": 5000.0,
        "burst": 100,
        **options,
    }
    return BindConfig.model_validate({"name": name, "host": host, "port": port, **settings})


@contextlib.asynccontextmanager
async def running(
    config: Config, *, bound: int | None = None, clock: Callable[[], datetime] | None = None
) -> AsyncIterator[Running]:
    """Start the daemon; wait until `bound` binds (default all) are bound; stop it after."""
    daemon = Daemon(config, clock=clock) if clock is not None else Daemon(config)
    task = asyncio.ensure_future(daemon.run())
    started = asyncio.ensure_future(daemon.running.started.wait())
    await asyncio.wait([task, started], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        started.cancel()
        task.result()  # raises what stopped it
    want = len(config.binds) if bound is None else bound
    sessions = list(daemon.running.sessions.values())
    waits = [asyncio.ensure_future(s.wait_bound()) for s in sessions]
    if want:
        done = 0
        for coro in asyncio.as_completed(waits):
            with contextlib.suppress(Exception):
                await coro
                done += 1
            if done >= want:
                break
    for w in waits:
        w.cancel()
    try:
        yield daemon.running
    finally:
        daemon.stop.set()
        await task
