"""The composition root: the only place that builds herald's object graph.

`Daemon(config).run()` starts, in order: the database (embedded PostgreSQL when no DSN is
configured), the built-in simulator if enabled, one session per bind, the writer, tracker,
runner, dispatcher, maintenance and callback worker, then the HTTP API with /metrics,
/healthz and /readyz. SIGTERM or SIGINT stops it in the reverse order that loses nothing:
stop claiming, drain the windows (bounded), flush every buffer, unbind, stop the API, the
simulator and the database. Leases left by a drain that timed out are taken back at the
next start (Maintenance.recover). A second signal exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import uvicorn

from herald.campaigns.clicks import ClickRecorder
from herald.campaigns.lifecycle import enqueue_campaigns_completed
from herald.campaigns.links import links_base_url
from herald.campaigns.runs import CampaignRunner
from herald.campaigns.service import scheduled_run_failed
from herald.config import BindConfig, Config
from herald.delivery.callbacks import CallbackGate, CallbackWorker
from herald.delivery.dispatcher import Dispatcher
from herald.delivery.maintenance import Maintenance, OnScheduledRunFailed
from herald.delivery.replies import handle_mobile_originated
from herald.delivery.router import Router
from herald.delivery.tracker import OnMobileOriginated, Tracker
from herald.delivery.writer import Writer
from herald.metrics import Metrics
from herald.smpp import InboundMessage
from herald.smpp.session import Session, SessionSettings
from herald.store import accounts as account_store
from herald.store.db import Database, redact_dsn

log = logging.getLogger("herald")

DRAIN_SECONDS = 15.0  # bounded wait for in-flight submits on shutdown
NOTIFY_CHANNEL = "herald_dispatch"
# The send path allocates a few container objects per PDU and frees them within milliseconds;
# collecting every 700 allocations (CPython's default) cost ~20% of herald's CPU in
# bench/e2e.py, mostly in passes over the startup heap. See settle_heap().
GC_THRESHOLDS = (50_000, 20, 100)


def session_settings(bind: BindConfig) -> SessionSettings:
    """What the bind's session needs from its `[[binds]]` entry."""
    return SessionSettings(
        name=bind.name,
        host=bind.host,
        port=bind.port,
        system_id=bind.system_id,
        password=bind.password.get_secret_value(),
        system_type=bind.system_type,
        bind_type=bind.bind_type,
        window=bind.window,
        rate=bind.rate,
        burst=bind.burst,
        enquire_link_interval=bind.enquire_link_interval,
        response_timeout=bind.response_timeout,
        reconnect_min=bind.reconnect_min,
        reconnect_max=bind.reconnect_max,
        id_mode=bind.id_mode,
        temporary_statuses=bind.temporary_statuses,
        max_pending_deliveries=bind.max_pending_deliveries,
    )


def utc_now() -> datetime:
    return datetime.now(UTC)


def settle_heap() -> None:
    """Once started: move what startup built (modules, number metadata, the app) out of the
    collector's sight, and collect the young generation less often. The hot path's garbage is
    mostly acyclic, freed by reference counting; cycles are still collected, in bigger passes."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class _Server(uvicorn.Server):
    """uvicorn inside our loop; the daemon, not uvicorn, owns SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Running:
    """What a started daemon exposes: the URLs and demo key `herald run` prints, and the
    parts benchmarks and tests drive directly."""

    api_url: str = ""
    demo_key: str | None = None
    sessions: dict[str, Session] = field(default_factory=dict)
    db: Database | None = None
    runner: CampaignRunner | None = None
    maintenance: Maintenance | None = None
    clicks: ClickRecorder | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)


class Daemon:
    def __init__(self, config: Config, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.config = config
        self.clock = clock
        self.metrics = Metrics()
        self.stop = asyncio.Event()
        self.running = Running()
        self._signals = 0

    # --- signals -----------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: int) -> None:
        self._signals += 1
        if self._signals > 1:
            log.warning("second signal: exiting now without draining")
            os._exit(1)
        log.info(
            "%s received: shutting down (send it again to exit at once)", signal.Signals(sig).name
        )
        self.stop.set()

    # --- the whole life ----------------------------------------------------------------------

    async def run(self) -> None:
        config = self.config
        config.state_dir.mkdir(parents=True, exist_ok=True)
        # Secrets are SecretStr: they print as '**********' here and everywhere else.
        log.info("configuration: %s", config.model_dump_json())
        owner = config.node or f"{socket.gethostname()}:{os.getpid()}"
        async with contextlib.AsyncExitStack() as stack:
            db = Database(
                config.database.dsn.get_secret_value() if config.database.dsn else None,
                state_dir=config.state_dir,
                min_size=config.database.pool_min,
                max_size=config.database.pool_max,
            )
            await db.open()
            stack.push_async_callback(db.close)
            await db.migrate()
            log.info("database ready at %s", redact_dsn(db.dsn))

            if config.simulator.enabled:
                simulator = await _start_simulator(config)
                stack.push_async_callback(simulator.stop)

            writer = Writer(
                db,
                metrics=self.metrics,
                flush_size=config.dispatcher.flush_size,
                flush_interval=config.dispatcher.flush_interval,
                receipt_flush_interval=config.dispatcher.receipt_flush_interval,
                on_changes=CallbackGate(),
            )
            groups = {b.name: config.receipt_group(b.name) for b in config.binds}
            tracker = Tracker(
                writer,
                metrics=self.metrics,
                clock=self.clock,
                id_modes={b.name: b.id_mode for b in config.binds},
                receipt_groups=groups,
                on_mobile_originated=_opt_out_handler(db, config, self.metrics),
            )
            sessions = {
                b.name: Session(
                    session_settings(b),
                    on_deliver=tracker.handler(b.name),
                    stats=self.metrics.bind(b.name),
                )
                for b in config.binds
            }
            self.running.sessions = sessions
            router = Router(
                config.routes,
                healthy=lambda name: name in sessions and sessions[name].bound,
            )
            dispatcher = Dispatcher(
                db,
                writer,
                router,
                {name: s for name, s in sessions.items() if config.bind(name).bind_type != "rx"},
                windows={b.name: b.window for b in config.binds},
                config=config.dispatcher,
                owner=owner,
                clock=self.clock,
                metrics=self.metrics,
                validity={b.name: b.validity_period for b in config.binds},
                receipt_groups=groups,
            )
            wake = _waker(db, dispatcher)
            # The API's socket is bound now: its address is where links lead by default.
            api_socket = _api_socket(config)
            if api_socket is not None:
                stack.callback(api_socket.close)
                host, port = api_socket.getsockname()[:2]
                self.running.api_url = f"http://{host}:{port}"
            runner = CampaignRunner(
                db,
                config,
                router,
                clock=self.clock,
                metrics=self.metrics,
                wake=wake,
                links_base_url=links_base_url(config, self.running.api_url or None),
            )
            maintenance = Maintenance(
                db,
                runner,
                config=config,
                clock=self.clock,
                metrics=self.metrics,
                wake_dispatcher=dispatcher.wake,
                sweep_orphans=writer.sweep_orphans,
                on_campaigns_completed=enqueue_campaigns_completed,
                on_scheduled_run_failed=_scheduled_run_failed(db),
            )

            await maintenance.recover(owner)  # leases this node held when it last died
            for session in sessions.values():
                await session.start()
                stack.push_async_callback(session.close, DRAIN_SECONDS)
            listener = await _listen(db, dispatcher.wake)
            stack.push_async_callback(listener)

            background = _Tasks()
            stop_writer = asyncio.Event()
            background.spawn("writer", writer.run(stop_writer))
            stack.push_async_callback(background.wait, "writer")
            # Registered after the sessions: unwinds before them, so the writer has flushed
            # every result and receipt before the binds go.
            stack.push_async_callback(_set, stop_writer)

            background.spawn("dispatcher", dispatcher.run(self.stop))
            background.spawn("maintenance", maintenance.run(self.stop))
            callbacks = CallbackWorker(
                db, config=config.callbacks, metrics=self.metrics, clock=self.clock
            )
            background.spawn("callbacks", callbacks.run(self.stop))

            clicks = ClickRecorder(
                db, metrics=self.metrics, flush_interval=config.links.flush_interval
            )
            stop_clicks = asyncio.Event()
            background.spawn("clicks", clicks.run(stop_clicks))
            stack.push_async_callback(background.wait, "clicks")
            # Unwinds after the API has stopped (below): the last clicks are written, none lost.
            stack.push_async_callback(_set, stop_clicks)

            self.running.db, self.running.runner = db, runner
            self.running.maintenance, self.running.clicks = maintenance, clicks
            server = self._start_api(
                api_socket, db, config, runner, wake, sessions, background, clicks
            )
            if config.database.dsn is None and self.config.simulator.enabled:
                self.running.demo_key = await _demo_account(db)
            settle_heap()
            self.running.started.set()
            log.info("herald is running: API %s", self.running.api_url)

            await self.stop.wait()
            log.info(
                "stopping: no more claims; draining in-flight submits (up to %.0fs)", DRAIN_SECONDS
            )
            await background.wait("dispatcher", within=DRAIN_SECONDS)
            await background.wait("maintenance", "callbacks", within=DRAIN_SECONDS)
            if server is not None:
                server.should_exit = True
                await background.wait("api", within=DRAIN_SECONDS)
        log.info("herald stopped")

    def _start_api(
        self,
        sock: socket.socket | None,
        db: Database,
        config: Config,
        runner: CampaignRunner,
        wake: Callable[[], None],
        sessions: dict[str, Session],
        background: _Tasks,
        clicks: ClickRecorder,
    ) -> uvicorn.Server | None:
        if sock is None:
            return None
        from herald.api.app import create_app
        from herald.api.context import AppContext
        from herald.api.ops import ops_router

        app = create_app(
            AppContext(
                db=db,
                config=config,
                clock=self.clock,
                runner=runner,
                wake=wake,
                clicks=clicks,
                metrics=self.metrics,
                links_base_url=links_base_url(config, self.running.api_url),
            )
        )
        app.include_router(ops_router(self.metrics, _readiness(db, sessions)))
        server = _Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
        background.spawn("api", server.serve(sockets=[sock]))
        return server


# --- helpers the composition uses --------------------------------------------------------------


class _Tasks:
    """Named background tasks; a task that dies unexpectedly stops the daemon loudly."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[Any]] = {}

    def spawn(self, name: str, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        task.add_done_callback(lambda t: _report(name, t))
        self._tasks[name] = task

    async def wait(self, *names: str, within: float | None = None) -> None:
        tasks = [self._tasks[n] for n in names if n in self._tasks]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=within)
        for task in pending:
            log.warning("%s did not finish within %.0fs; cancelling", task.get_name(), within)
            task.cancel()
        if pending:
            await asyncio.wait(pending)


def _report(name: str, task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s stopped with an error", name, exc_info=task.exception())


async def _set(event: asyncio.Event) -> None:
    event.set()


def _waker(db: Database, dispatcher: Dispatcher) -> Callable[[], None]:
    """Wake the local dispatcher now and the other herald processes through NOTIFY."""

    async def notify() -> None:
        with contextlib.suppress(Exception):  # a hint only: polling guarantees progress
            async with db.acquire() as conn:
                await conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")

    pending: set[asyncio.Task[None]] = set()

    def wake() -> None:
        dispatcher.wake()
        task = asyncio.ensure_future(notify())
        pending.add(task)
        task.add_done_callback(pending.discard)

    return wake


async def _listen(db: Database, wake: Callable[[], None]) -> Callable[[], Awaitable[None]]:
    """LISTEN on a connection of its own; returns the function that stops listening."""
    conn = await db.pool.acquire()

    def on_notify(*_: Any) -> None:
        wake()

    await conn.add_listener(NOTIFY_CHANNEL, on_notify)

    async def stop() -> None:
        with contextlib.suppress(Exception):
            await conn.remove_listener(NOTIFY_CHANNEL, on_notify)
        await db.pool.release(conn)

    return stop


def _readiness(db: Database, sessions: dict[str, Session]) -> Callable[[], Awaitable[dict]]:
    async def check() -> dict[str, object]:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(2.0), db.acquire() as conn:
                await conn.fetchval("SELECT 1")
            database: dict[str, object] = {
                "ok": True,
                "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            }
        except Exception as exc:
            database = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        binds = {name: s.state for name, s in sessions.items()}
        bound = [name for name, state in binds.items() if state == "bound"]
        return {
            "ready": bool(database["ok"]) and bool(bound),
            "database": database,
            "binds": binds,
            "not_ready": ([] if database["ok"] else ["database"])
            + ([] if bound else ["no bind is bound"]),
        }

    return check


async def _demo_account(db: Database) -> str:
    """The demo account of the embedded setup, with a fresh key printed at each start."""
    async with db.acquire() as conn:
        return await account_store.ensure_demo_account(conn)


async def _start_simulator(config: Config) -> Any:
    from herald.simulator import start_from_config

    return await start_from_config(config.simulator)


def _scheduled_run_failed(db: Database) -> OnScheduledRunFailed:
    async def handle(campaign_id: int, account_id: int, exc: Exception) -> None:
        await scheduled_run_failed(db, campaign_id, account_id, exc)

    return handle


def _api_socket(config: Config) -> socket.socket | None:
    """The API's listening socket (bound, not yet served), or None with the API off."""
    if not config.api.enabled:
        return None
    return socket.create_server((config.api.host, config.api.port), reuse_port=False)


def _opt_out_handler(db: Database, config: Config, metrics: Metrics) -> OnMobileOriginated:
    keywords = config.campaigns.opt_out_keywords

    async def on_mo(bind: str, message: InboundMessage, text: str) -> None:
        accounts = await handle_mobile_originated(
            db,
            source_addr=message.source_addr,
            destination_addr=message.destination_addr,
            text=text,
            keywords=keywords,
        )
        if accounts:
            metrics.opt_outs["opt_out"] += 1
            log.info(
                "opt-out from %s on %s: blacklisted for %d account(s)",
                message.source_addr,
                bind,
                len(accounts),
            )

    return on_mo


# --- `herald run` ---------------------------------------------------------------------------------


def banner(config: Config, running: Running) -> str:
    url = running.api_url
    lines = [
        "herald is running",
        f"  API      {url}/v1",
        f"  docs     {url}/docs",
        f"  metrics  {url}/metrics",
        f"  health   {url}/readyz",
    ]
    if running.demo_key:
        sender = account_store.DEMO_SENDER
        lines += [
            "",
            f"  demo account key (new at every start): {running.demo_key}",
            "  create and send a campaign to the built-in simulator:",
            f"    curl -s -X POST {url}/v1/campaigns \\",
            f"      -H 'Authorization: Bearer {running.demo_key}' "
            "-H 'Content-Type: application/json' \\",
            f'      -d \'{{"name": "hello", "sender": "{sender}", '
            '"message": "Hello %Name%!", "recipients": '
            '[{"phone": "+306948530920", "name": "Eleni"}]}\'',
        ]
    lines += ["", "Stop with Ctrl-C (SIGINT) or SIGTERM; a second signal exits at once."]
    return "\n".join(lines)


async def serve(config: Config, echo: Callable[[str], None] = print) -> None:
    """Run the daemon until a signal; print the banner once it is up."""
    daemon = Daemon(config)
    daemon.install_signal_handlers()
    task = asyncio.ensure_future(daemon.run())
    started = asyncio.ensure_future(daemon.running.started.wait())
    await asyncio.wait([task, started], return_when=asyncio.FIRST_COMPLETED)
    if daemon.running.started.is_set():
        echo(banner(config, daemon.running))
    started.cancel()
    await task


def run_forever(config: Config) -> None:
    """The process entry point: uvloop when available, plain asyncio otherwise."""
    logging.basicConfig(
        level=config.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(config))
    else:
        uvloop.run(serve(config))
