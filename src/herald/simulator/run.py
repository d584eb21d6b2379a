"""`herald simulate`: the simulator in its own process, for benchmarks and manual testing.

It prints its listening address once it is ready, serves until SIGINT or SIGTERM, then
stops cleanly, prints its counters as one JSON object and exits 0. uvloop is used when it is
installed (`--loop asyncio` to compare). With `--control-port` it also serves its HTTP hook
(herald/simulator/control.py): mobile-originated messages on demand, the counters.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from herald.simulator.personalities import personality_settings
from herald.simulator.server import Simulator
from herald.simulator.settings import (
    Delay,
    SimulatorSettings,
    parse_error,
    parse_outcomes,
    parse_status,
)
from herald.simulator.stats import SimulatorStats

# command-line option -> (settings field, converter); None values are left to the personality
_OPTIONS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "host": ("host", str),
    "port": ("port", int),
    "system_id": ("system_id", str),
    "password": ("password", str),
    "accept_any": ("accept_any_credentials", bool),
    "receipts": ("receipts", bool),
    "receipt_delay": ("receipt_delay", Delay.parse_ms),
    "receipt_format": ("receipt_format", str),
    "outcomes": ("outcomes", parse_outcomes),
    "intermediate": ("intermediate", str.upper),
    "early_receipt": ("early_receipt", bool),
    "deliver_window": ("deliver_window", int),
    "id_format": ("id_format", str),
    "id_case": ("id_case", str),
    "id_width": ("id_width", int),
    "receipt_id_format": ("receipt_id_format", str),
    "receipt_id_width": ("receipt_id_width", int),
    "latency": ("latency", Delay.parse_ms),
    "throttle_rate": ("throttle_rate", float),
    "throttle_burst": ("throttle_burst", int),
    "throttle_status": ("throttle_status", parse_status),
    "errors": ("errors", lambda items: tuple(parse_error(i) for i in items)),
    "unbind_after": ("unbind_after", int),
    "drop_after": ("drop_after_pdus", int),
    "drop_probability": ("drop_probability", float),
    "bind_status": ("bind_status", parse_status),
    "seed": ("seed", int),
    "record": ("record_path", Path),
    "track_duplicates": ("track_duplicates", bool),
    "tls_cert": ("tls_cert", Path),
    "tls_key": ("tls_key", Path),
    "tls_client_ca": ("tls_client_ca", Path),
}


def settings_from_options(personality: str, options: Mapping[str, Any]) -> SimulatorSettings:
    """Settings from `herald simulate`'s options: the personality, then every option given.
    Nothing is kept in memory (no one could read it); ValueError names a bad value."""
    overrides: dict[str, Any] = {"keep_submits": 0, "track_duplicates": False}
    for option, value in options.items():
        if value is None or value == ():
            continue
        if option not in _OPTIONS:
            raise ValueError(f"unknown option {option!r}")
        field, convert = _OPTIONS[option]
        try:
            overrides[field] = convert(value)
        except ValueError as exc:
            raise ValueError(f"--{option.replace('_', '-')}: {exc}") from None
    return personality_settings(personality, **overrides)


def loop_factory(kind: str = "auto") -> tuple[Callable[[], asyncio.AbstractEventLoop] | None, str]:
    """(factory for asyncio.Runner, its name): uvloop when installed unless `asyncio`."""
    if kind in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if kind == "uvloop":
                raise ValueError("--loop uvloop: uvloop is not installed") from None
        else:
            return uvloop.new_event_loop, "uvloop"
    return None, "asyncio"


async def serve(
    settings: SimulatorSettings,
    banner: str,
    echo: Callable[[str], None],
    control_port: int | None = None,
) -> SimulatorStats:
    sim = Simulator(settings)
    host, port = await sim.start()
    tls = ", TLS" if settings.tls_cert is not None else ""
    echo(f"herald simulator listening on {host}:{port} ({banner}{tls})")
    control = None
    if control_port is not None:
        control, control_address = await _start_control(sim, settings.host, control_port)
        echo(f"control hook on http://{control_address[0]}:{control_address[1]}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if control is not None:
            await control.stop()
        await sim.stop()
    return sim.stats


class _Control:
    """The HTTP hook served by uvicorn inside the simulator's loop."""

    def __init__(self, server: Any, task: asyncio.Task[None]) -> None:
        self._server, self._task = server, task

    async def stop(self) -> None:
        self._server.should_exit = True
        await self._task


async def _start_control(sim: Simulator, host: str, port: int) -> tuple[_Control, tuple[str, int]]:
    import contextlib

    import uvicorn

    from herald.listeners import tcp_server
    from herald.simulator.control import control_app

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Any:  # the simulator owns SIGINT and SIGTERM
            yield

    sock = tcp_server(host, port)
    address = sock.getsockname()[:2]
    server = _Server(
        uvicorn.Config(control_app(sim), log_level="warning", lifespan="off", access_log=False)
    )
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    return _Control(server, task), (address[0], address[1])


def _echo(line: str) -> None:
    print(line, flush=True)  # a benchmark reads the address through a pipe: no buffering


def main(
    personality: str,
    loop: str,
    options: Mapping[str, Any],
    echo: Callable[[str], None] = _echo,
    control_port: int | None = None,
) -> SimulatorStats:
    """Run until a signal; echo the address first and the counters last."""
    settings = settings_from_options(personality, options)
    factory, loop_name = loop_factory(loop)
    banner = f"personality {personality}, loop {loop_name}"
    with asyncio.Runner(loop_factory=factory) as runner:
        stats = runner.run(serve(settings, banner, echo, control_port))
    echo("counters: " + json.dumps(stats.as_dict()))
    return stats
