"""The composition root: the only place that builds herald's object graph.

`Daemon(config).run()` starts, in order: the database (embedded PostgreSQL when no DSN is
configured), the built-in simulator if enabled, one session per bind, the writer, tracker,
runner, dispatcher, maintenance and callback worker, then the HTTP API with /metrics,
/healthz and /readyz. SIGTERM or SIGINT stops it in the reverse order that loses nothing:
stop claiming, drain the windows (bounded), flush every buffer, unbind, stop the API, the
simulator and the database. Leases left by a drain that timed out are taken back at the
next start (Maintenance.recover). A second signal exits at once.

The database is watched (store.db.DatabaseWatch): an embedded server that dies is restarted;
/healthz fails once it has been unreachable for `database.unreachable_seconds`, and if an
embedded server cannot be restarted within that time herald stops and exits with status 1.
With the database gone a stop does not wait for in-flight submits to be stored: the writer
retries its last flush for `database.stop_flush_seconds`, then says what it left unstored
(receipts not acknowledged are delivered again by the carrier; unstored results leave their
messages leased, taken back at the next start), and herald exits with status 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import sys
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
from herald.config import Config
from herald.delivery.callbacks import CallbackGate, CallbackWorker
from herald.delivery.completion import Completion
from herald.delivery.dispatcher import Dispatcher
from herald.delivery.maintenance import Maintenance, OnScheduledRunFailed
from herald.delivery.replies import handle_mobile_originated
from herald.delivery.router import Router
from herald.delivery.tracker import OnMobileOriginated, Tracker
from herald.delivery.writer import Writer
from herald.metrics import Metrics
from herald.smpp import InboundMessage
from herald.smpp.session import Session
from herald.store import accounts as account_store
from herald.store import balance as balance_store
from herald.store import callbacks as callback_store
from herald.store.db import Database, DatabaseWatch, redact_dsn
from herald.store.notify import DISPATCH_CHANNEL, Listener, notify

log = logging.getLogger("herald")

DRAIN_SECONDS = 15.0  # bounded wait for in-flight submits on shutdown
# The send path allocates a few container objects per PDU and frees them within milliseconds;
# collecting every 700 allocations (CPython's default) cost ~20% of herald's CPU in
# bench/e2e.py, mostly in passes over the startup heap. See settle_heap().
GC_THRESHOLDS = (50_000, 20, 100)


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
    demo_webhook_secret: str | None = None
    sessions: dict[str, Session] = field(default_factory=dict)
    db: Database | None = None
    runner: CampaignRunner | None = None
    maintenance: Maintenance | None = None
    metrics: Metrics | None = None
    clicks: ClickRecorder | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)


class Daemon:
    def __init__(self, config: Config, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.config = config
        self.clock = clock
        self.metrics = Metrics()
        self.stop = asyncio.Event()
        self.running = Running(metrics=self.metrics)
        self.exit_code = 0  # 1 when herald stopped because of the database, or lost rows
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
            listener = Listener(db, DISPATCH_CHANNEL)
            watch = DatabaseWatch(
                db,
                interval=config.database.check_interval,
                bound=config.database.unreachable_seconds,
                on_lost=self._database_lost,
                on_restored=listener.restore,
                on_restarted=self._database_restarted,
            )
            self.metrics.database_unreachable = lambda: watch.unreachable_for

            if config.simulator.enabled:
                simulator = await _start_simulator(config)
                stack.push_async_callback(simulator.stop)

            completion = Completion(db, on_completed=enqueue_campaigns_completed)
            writer = Writer(
                db,
                metrics=self.metrics,
                flush_size=config.dispatcher.flush_size,
                flush_interval=config.dispatcher.flush_interval,
                receipt_flush_interval=config.dispatcher.receipt_flush_interval,
                receipt_window=config.tracker.receipt_window,
                stop_timeout=config.database.stop_flush_seconds,
                on_changes=CallbackGate(),
                on_final=completion.note,
            )
            groups = {b.name: config.receipt_group(b.name) for b in config.binds}
            tracker = Tracker(
                writer,
                metrics=self.metrics,
                clock=self.clock,
                id_modes={b.name: b.session.id_mode for b in config.binds},
                receipt_groups=groups,
                on_mobile_originated=_opt_out_handler(db, config, self.metrics),
            )
            sessions = {
                b.name: Session(
                    b.session,
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
                {n: s for n, s in sessions.items() if config.bind(n).session.bind_type != "rx"},
                windows={b.name: b.session.window for b in config.binds},
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
            await listener.start(dispatcher.wake)
            stack.push_async_callback(listener.stop)

            background = _Tasks(on_failure=self._task_died)
            stop_writer = asyncio.Event()
            background.spawn("writer", writer.run(stop_writer))
            stack.callback(self._check_writer, writer)  # once the writer has returned
            stack.push_async_callback(background.wait, "writer")
            # Registered after the sessions: unwinds before them, so the writer has flushed
            # every result and receipt before the binds go.
            stack.push_async_callback(_set, stop_writer)

            background.spawn("database", watch.run(self.stop))
            background.spawn("dispatcher", dispatcher.run(self.stop))
            background.spawn("maintenance", maintenance.run(self.stop))
            background.spawn("completion", completion.run(self.stop))
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
                api_socket,
                db,
                config,
                runner,
                wake,
                sessions,
                background,
                _liveness(watch),
                clicks,
            )
            if config.database.dsn is None and self.config.simulator.enabled:
                demo = await _demo_account(db)
                self.running.demo_key, self.running.demo_webhook_secret = demo
            settle_heap()
            self.running.started.set()
            log.info("herald is running: API %s", self.running.api_url)

            await self.stop.wait()
            await background.wait("database", within=DRAIN_SECONDS)  # a restart under way
            if await watch.check(restart=False):
                log.info(
                    "stopping: no more claims; draining in-flight submits (up to %.0fs)",
                    DRAIN_SECONDS,
                )
                await background.wait("dispatcher", within=DRAIN_SECONDS)
            else:
                # Nothing in flight could be stored: the writer keeps what comes back and
                # gives up on it after database.stop_flush_seconds.
                log.warning("stopping with the database unreachable: not draining")
                await background.wait("dispatcher", within=0)
            await background.wait("maintenance", "completion", "callbacks", within=DRAIN_SECONDS)
            if server is not None:
                server.should_exit = True
                await background.wait("api", within=DRAIN_SECONDS)
        log.info("herald stopped%s", f" (exit status {self.exit_code})" if self.exit_code else "")

    def _database_lost(self, reason: str) -> None:
        """The one line that says why herald exits on its own."""
        log.critical("exiting with status 1 so that a supervisor restarts herald: %s", reason)
        self.exit_code = 1
        self.stop.set()

    def _task_died(self, name: str, error: BaseException) -> None:
        """A dispatcher, writer or worker that died leaves herald up but not working: stop
        (draining what can be) and exit 1, so that a supervisor restarts it."""
        log.critical(
            "exiting with status 1 so that a supervisor restarts herald: the %s task stopped"
            " with an error",
            name,
            exc_info=error,
        )
        self.exit_code = 1
        self.stop.set()

    def _database_restarted(self) -> None:
        self.metrics.database_restarts += 1

    def _check_writer(self, writer: Writer) -> None:
        if writer.abandoned:
            self.exit_code = 1

    def _start_api(
        self,
        sock: socket.socket | None,
        db: Database,
        config: Config,
        runner: CampaignRunner,
        wake: Callable[[], None],
        sessions: dict[str, Session],
        background: _Tasks,
        liveness: Callable[[], dict[str, object]],
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
        app.include_router(ops_router(self.metrics, _readiness(db, sessions), liveness))
        server = _Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
        background.spawn("api", server.serve(sockets=[sock]))
        return server


# --- helpers the composition uses --------------------------------------------------------------


class _Tasks:
    """Named background tasks; a task that dies with an error is handed to `on_failure`."""

    def __init__(self, on_failure: Callable[[str, BaseException], None]) -> None:
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._on_failure = on_failure

    def spawn(self, name: str, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        task.add_done_callback(self._done)
        self._tasks[name] = task

    def _done(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and (error := task.exception()) is not None:
            self._on_failure(task.get_name(), error)

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


async def _set(event: asyncio.Event) -> None:
    event.set()


def _waker(db: Database, dispatcher: Dispatcher) -> Callable[[], None]:
    """Wake the local dispatcher now and the other herald processes through NOTIFY."""

    async def notify_others() -> None:
        with contextlib.suppress(Exception):  # a hint only: polling guarantees progress
            await notify(db, DISPATCH_CHANNEL)

    pending: set[asyncio.Task[None]] = set()

    def wake() -> None:
        dispatcher.wake()
        task = asyncio.ensure_future(notify_others())
        pending.add(task)
        task.add_done_callback(pending.discard)

    return wake


def _liveness(watch: DatabaseWatch) -> Callable[[], dict[str, object]]:
    def check() -> dict[str, object]:
        if watch.alive:
            return {"status": "ok"}
        return {
            "status": "failing",
            "reason": f"the database has not answered for {watch.unreachable_for:.0f} s",
        }

    return check


def _readiness(db: Database, sessions: dict[str, Session]) -> Callable[[], Awaitable[dict]]:
    async def check() -> dict[str, object]:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(2.0):
                await db.ping()
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


async def _demo_account(db: Database) -> tuple[str, str]:
    """The demo account of the embedded setup: a fresh key, printed at each start, and its
    webhook secret (so that its signed callbacks can be checked)."""
    async with db.acquire() as conn:
        key = await account_store.ensure_demo_account(conn)
        account = await balance_store.account_by_name(conn, account_store.DEMO_ACCOUNT)
        assert account is not None  # just ensured
        secrets = await callback_store.webhook_secrets(conn, [account["id"]])
    return key, secrets[account["id"]]


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


# The demo campaign `herald run` prints: no name (herald names it, so it works every time),
# and quiet hours off, so it is delivered at any hour (the simulator is nobody's phone).
DEMO_CAMPAIGN = (
    '{"sender": "%s", "message": "Hello %%Name%%!", "respect_quiet_hours": false, '
    '"recipients": [{"phone": "+306948530920", "name": "Eleni"}]}'
)


def banner(config: Config, running: Running, cli: str = "herald") -> str:
    """What `herald run` prints once it serves. With the demo account: the two variables
    the README's examples and `herald campaign` use, its webhook secret, and a campaign to
    send to the simulator, which runs as printed after any restart and at any hour."""
    url = running.api_url
    lines = [
        "herald is running",
        f"  API      {url}/v1",
        f"  docs     {url}/docs",
        f"  metrics  {url}/metrics",
        f"  health   {url}/readyz",
    ]
    if running.demo_key:
        lines += [
            "",
            "  demo account (a new key at every start: herald keeps only its hash):",
            f"    export HERALD_URL={url} HERALD_KEY={running.demo_key}",
            f"    webhook secret (checks its callbacks' signatures): {running.demo_webhook_secret}",
            "  send a campaign to the built-in simulator (quiet hours off: it answers any time):",
            '    curl -s "$HERALD_URL/v1/campaigns" -H "Authorization: Bearer $HERALD_KEY" \\',
            "      -H 'Content-Type: application/json' \\",
            f"      -d '{DEMO_CAMPAIGN % account_store.DEMO_SENDER}'",
            f"    {cli} campaign list     # then: {cli} campaign status ID",
        ]
    lines += ["", "Stop with Ctrl-C (SIGINT) or SIGTERM; a second signal exits at once."]
    return "\n".join(lines)


def _cli() -> str:
    """How this process was started, as a command to type (`.venv/bin/herald` after make run)."""
    program = sys.argv[0] if sys.argv else ""
    return os.path.relpath(program) if os.path.basename(program) == "herald" else "herald"


async def serve(config: Config, echo: Callable[[str], None] = print) -> int:
    """Run the daemon until a signal; print the banner once it is up. Its exit status."""
    daemon = Daemon(config)
    daemon.install_signal_handlers()
    task = asyncio.ensure_future(daemon.run())
    started = asyncio.ensure_future(daemon.running.started.wait())
    await asyncio.wait([task, started], return_when=asyncio.FIRST_COMPLETED)
    if daemon.running.started.is_set():
        echo(banner(config, daemon.running, _cli()))
    started.cancel()
    await task
    return daemon.exit_code


def run_forever(config: Config) -> None:
    """The process entry point: uvloop when available, plain asyncio otherwise."""
    logging.basicConfig(
        level=config.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        import uvloop
    except ImportError:
        code = asyncio.run(serve(config))
    else:
        code = uvloop.run(serve(config))
    if code:
        raise SystemExit(code)
