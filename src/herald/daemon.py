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
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn

from herald import __version__, logs
from herald.campaigns.clicks import ClickRecorder
from herald.campaigns.idempotency import Answer, Idempotency
from herald.campaigns.lifecycle import enqueue_campaigns_completed
from herald.campaigns.links import links_base_url
from herald.campaigns.messages import MessageService
from herald.campaigns.runs import CampaignRunner
from herald.campaigns.service import scheduled_run_failed
from herald.config import Config
from herald.delivery.backlog import read_backlog
from herald.delivery.callbacks import CallbackGate, CallbackWorker
from herald.delivery.completion import Completion
from herald.delivery.dispatcher import Dispatcher
from herald.delivery.inbound import AutoReply, AutoReplyRequest, Inbound
from herald.delivery.maintenance import Maintenance, OnScheduledRunFailed
from herald.delivery.nodes import NodeRegistry, SharedBind
from herald.delivery.replies import Keywords
from herald.delivery.retention import Retention
from herald.delivery.router import Router
from herald.delivery.shares import AccountTerms
from herald.delivery.tracker import Tracker
from herald.delivery.writer import Writer
from herald.errors import StartupError, StoreError
from herald.listeners import listen, server_tls
from herald.metrics import Metrics, PoolUsage
from herald.smpp.session import Session
from herald.store import accounts as account_store
from herald.store import balance as balance_store
from herald.store import callbacks as callback_store
from herald.store import health
from herald.store import nodes as node_store
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
    metrics_url: str = ""
    demo_key: str | None = None
    demo_webhook_secret: str | None = None
    sessions: dict[str, Session] = field(default_factory=dict)
    db: Database | None = None
    runner: CampaignRunner | None = None
    maintenance: Maintenance | None = None
    metrics: Metrics | None = None
    registry: NodeRegistry | None = None
    clicks: ClickRecorder | None = None
    dispatcher: Dispatcher | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)


class Daemon:
    def __init__(self, config: Config, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.config = config
        self.clock = clock
        self.metrics = Metrics(__version__)
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
        """Start, serve until a signal, stop. StartupError (one line, `herald run` exits 2)
        for what stops the start: a port in use, a TLS file, the database, the state dir."""
        for warning in self.config.warnings:  # HERALD_ variables that set nothing
            log.warning("%s", warning)
        sockets = self._listen()  # before anything starts: a port in use ends it at once
        try:
            await self._run(sockets)
        finally:
            for sock in sockets.values():  # uvicorn closes those it served; the rest here
                sock.close()

    def _listen(self) -> dict[str, socket.socket]:
        config = self.config
        sockets: dict[str, socket.socket] = {}
        try:
            if config.api.enabled:
                if config.api.tls_certfile is not None and config.api.tls_keyfile is not None:
                    server_tls(config.api.tls_certfile, config.api.tls_keyfile)
                sockets["api"] = listen(
                    config.api.host, config.api.port, key="api.port", variable="HERALD_API_PORT"
                )
            if config.metrics.port is not None:
                sockets["metrics"] = listen(
                    config.metrics.host,
                    config.metrics.port,
                    key="metrics.port",
                    variable="HERALD_METRICS_PORT",
                )
        except BaseException:
            for sock in sockets.values():
                sock.close()
            raise
        return sockets

    async def _run(self, sockets: dict[str, socket.socket]) -> None:
        config = self.config
        try:
            config.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StartupError(f"state_dir: {config.state_dir}: {exc.strerror or exc}") from None
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
            try:
                await db.open()
                stack.push_async_callback(db.close)
                await db.migrate()
            except StoreError as exc:
                raise StartupError(f"database: {exc}") from None
            log.info("database ready at %s", redact_dsn(db.dsn))
            self.metrics.pool = _pool_usage(db)
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
            replies = _AutoReplies()
            inbound = Inbound(
                db,
                keywords=Keywords(
                    opt_out=config.campaigns.opt_out_keywords,
                    opt_in=config.inbound.opt_in_keywords,
                    replies=config.inbound.auto_replies,
                ),
                metrics=self.metrics,
                clock=self.clock,
                parts_ttl=config.inbound.parts_ttl_seconds,
                auto_reply=replies,
            )
            tracker = Tracker(
                writer,
                metrics=self.metrics,
                clock=self.clock,
                id_modes={b.name: b.session.id_mode for b in config.binds},
                receipt_groups=groups,
                on_mobile_originated=inbound.receive,
            )
            states = _BindStates()
            sessions = {
                b.name: Session(
                    b.session,
                    on_deliver=tracker.handler(b.name),
                    on_state=states.watcher(b.name),
                    stats=self.metrics.bind(b.name),
                )
                for b in config.binds
            }
            self.running.sessions = sessions
            registry = _registry(db, config, owner, sessions, self.metrics)
            states.registry = self.running.registry = registry
            router = Router(
                config.routes,
                healthy=lambda name: name in sessions and sessions[name].routable,
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
            # The API's socket was bound at the start: its address is where links lead by
            # default.
            if "api" in sockets:
                self.running.api_url = _url(sockets["api"], config.api.tls_certfile is not None)
            runner = CampaignRunner(
                db,
                config,
                router,
                clock=self.clock,
                metrics=self.metrics,
                wake=wake,
                wake_all=_waker(db, dispatcher, full=True),
                links_base_url=links_base_url(config, self.running.api_url or None),
            )
            replies.send_with(_auto_replier(db, config, runner, self.clock, wake))
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
                expire_inbound=inbound.expire,
            )

            await maintenance.recover(owner)  # leases this node held when it last died
            background = _Tasks(on_failure=self._task_died)
            # The registry outlives the binds: it keeps this process's share claimed while
            # they drain, and gives it back once they are closed (unwound after them).
            stop_registry = asyncio.Event()
            background.spawn("nodes", registry.run(stop_registry))
            stack.push_async_callback(registry.leave)
            stack.push_async_callback(background.wait, "nodes")
            stack.push_async_callback(_set, stop_registry)
            for name, session in sessions.items():
                if config.carrier_account(config.bind(name).account).max_binds == 0:
                    await session.start()  # else the registry starts it when a slot is free
                    registry.started(name)
                stack.push_async_callback(session.close, DRAIN_SECONDS)
            await listener.start(dispatcher.wake)
            stack.push_async_callback(listener.stop)

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
            background.spawn(
                "backlog",
                read_backlog(
                    db,
                    self.metrics,
                    clock=self.clock,
                    interval=config.metrics.backlog_interval,
                    stop=self.stop,
                ),
            )
            retention = config.retention
            if retention.messages_days or retention.callbacks_days:
                pruner = Retention(
                    db,
                    metrics=self.metrics,
                    clock=self.clock,
                    receipt_window=config.tracker.receipt_window,
                    chunk=retention.chunk,
                )
                background.spawn(
                    "retention",
                    pruner.run(
                        self.stop,
                        messages_days=retention.messages_days,
                        callbacks_days=retention.callbacks_days,
                        interval=retention.interval,
                    ),
                )

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
            self.running.dispatcher = dispatcher
            ops = _Ops(self, db, sessions, registry, liveness=_liveness(watch))
            servers = self._serve(
                sockets, db, config, runner, wake, dispatcher.next_send, ops, background, clicks
            )
            if config.database.dsn is None and self.config.simulator.enabled:
                demo = await _demo_account(db)
                self.running.demo_key, self.running.demo_webhook_secret = demo
            settle_heap()
            self.running.started.set()
            log.info("herald is running: API %s", self.running.api_url or "off")

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
            await background.wait(
                "maintenance",
                "completion",
                "callbacks",
                "backlog",
                "retention",
                within=DRAIN_SECONDS,
            )
            for server in servers:
                server.should_exit = True
            await background.wait("api", "metrics", within=DRAIN_SECONDS)
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

    def _serve(
        self,
        sockets: dict[str, socket.socket],
        db: Database,
        config: Config,
        runner: CampaignRunner,
        wake: Callable[[], None],
        next_send: Callable[[float], Awaitable[None]],
        ops: _Ops,
        background: _Tasks,
        clicks: ClickRecorder,
    ) -> list[uvicorn.Server]:
        """The API (with the health routes, and /metrics unless it has a port of its own) and
        the metrics port, each on the socket opened at the start."""
        from fastapi import FastAPI

        from herald.api.app import build_route_state, create_app
        from herald.api.context import AppContext
        from herald.api.requests import RequestLog

        servers = []
        separate = "metrics" in sockets
        if "api" in sockets:
            app = create_app(
                AppContext(
                    db=db,
                    config=config,
                    clock=self.clock,
                    runner=runner,
                    wake=wake,
                    next_send=next_send,
                    clicks=clicks,
                    metrics=self.metrics,
                    links_base_url=links_base_url(config, self.running.api_url),
                )
            )
            app.include_router(ops.router(with_metrics=not separate))
            app.add_middleware(
                RequestLog, metrics=self.metrics, log_requests=config.logging.requests
            )
            build_route_state(app)
            servers.append(self._server(app, sockets.pop("api"), "api", background, config))
        if separate:
            metrics_app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
            metrics_app.include_router(ops.router(with_metrics=True))
            build_route_state(metrics_app)
            self.running.metrics_url = _url(sockets["metrics"], tls=False)
            servers.append(
                self._server(metrics_app, sockets.pop("metrics"), "metrics", background, None)
            )
        else:
            self.running.metrics_url = self.running.api_url
        return servers

    @staticmethod
    def _server(
        app: Any,
        sock: socket.socket,
        name: str,
        background: _Tasks,
        config: Config | None,
    ) -> uvicorn.Server:
        tls: dict[str, Any] = {}
        if config is not None and config.api.tls_certfile is not None:
            tls = {
                "ssl_certfile": str(config.api.tls_certfile),
                "ssl_keyfile": str(config.api.tls_keyfile),
            }
        server = _Server(
            uvicorn.Config(
                app,
                log_level="warning",
                log_config=None,  # herald's logging (herald.logs) formats uvicorn's lines too
                lifespan="off",
                access_log=False,  # herald.api.requests logs each request once
                **tls,
            )
        )
        background.spawn(name, server.serve(sockets=[sock]))
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


def _waker(db: Database, dispatcher: Dispatcher, *, full: bool = False) -> Callable[[], None]:
    """Wake the local dispatcher now (`full`: to read every queue) and the other herald
    processes through NOTIFY (they read the newest batches', and every queue within
    `queue_refresh_interval`)."""

    async def notify_others() -> None:
        with contextlib.suppress(Exception):  # a hint only: polling guarantees progress
            await notify(db, DISPATCH_CHANNEL)

    pending: set[asyncio.Task[None]] = set()

    def wake() -> None:
        dispatcher.wake(full=full)
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


class _Ops:
    """The operator routes' answers (herald.api.ops): readiness, the binds, liveness."""

    def __init__(
        self,
        daemon: Daemon,
        db: Database,
        sessions: dict[str, Session],
        registry: NodeRegistry,
        *,
        liveness: Callable[[], dict[str, object]],
    ) -> None:
        self._daemon = daemon
        self._db = db
        self._sessions = sessions
        self._registry = registry
        self._liveness = liveness

    def router(self, *, with_metrics: bool) -> Any:
        from herald.api.ops import ops_router

        return ops_router(
            self._daemon.metrics if with_metrics else None,
            self.readiness,
            self._liveness,
            self.binds,
        )

    async def readiness(self) -> dict[str, object]:
        """Can this process take requests: the database answers (within 2 s) and has every
        migration this herald knows, and herald is not stopping. Carrier links do not count
        (a carrier outage must not take the API out of a load balancer): see binds()."""
        started = time.perf_counter()
        not_ready = []
        schema: dict[str, object] | None = None
        try:
            async with asyncio.timeout(2.0), self._db.acquire() as conn:
                status = await health.schema_status(conn)
            database: dict[str, object] = {
                "ok": True,
                "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            }
            schema = {
                "current": not status.pending,
                "pending": list(status.pending),
                "unknown": list(status.unknown),
            }
            if status.pending:
                not_ready.append("migrations pending: run `herald migrate`")
        except Exception as exc:
            database = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            not_ready.append("database")
        if self._daemon.stop.is_set():
            not_ready.append("stopping")
        return {
            "ready": not not_ready,
            "database": database,
            "schema": schema,
            "not_ready": not_ready,
        }

    def binds(self) -> dict[str, object]:
        """Every bind's state, and this process's share of each carrier account. `ok` when
        every bind that may be open is bound, `degraded` when some are, `down` when none."""
        config = self._daemon.config
        slots = self._registry.status()
        binds = {}
        for name, session in self._sessions.items():
            account = config.bind(name).account
            waiting = session.state == "closed" and name not in slots[account]["started"]
            binds[name] = {
                "state": "waiting_for_slot" if waiting else session.state,
                "account": account,
                "bind_type": session.settings.bind_type,
                "rate": round(session.rate, 3) if session.bound else 0.0,
                # bound after a black hole, on trial: not yet trusted with traffic
                "in_rotation": session.in_rotation,
                "last_error": session.last_error or None,
            }
        expected = [b for b in binds.values() if b["state"] != "waiting_for_slot"]
        bound = [b for b in expected if b["state"] == "bound" and b["in_rotation"]]
        status = "ok" if len(bound) == len(expected) else ("degraded" if bound else "down")
        accounts = {
            name: {k: v for k, v in account.items() if k != "started"}
            for name, account in slots.items()
        }
        return {
            "status": status,
            "binds": binds,
            "accounts": accounts,
            "live_processes": self._registry.live_nodes,
        }


def _url(sock: socket.socket, tls: bool) -> str:
    host, port = sock.getsockname()[:2]
    host = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{host}:{port}"


def _pool_usage(db: Database) -> Callable[[], PoolUsage]:
    def usage() -> PoolUsage:
        try:
            pool = db.pool
        except StoreError:
            return PoolUsage()
        size, idle = pool.get_size(), pool.get_idle_size()
        return PoolUsage(in_use=size - idle, idle=idle, max_size=pool.get_max_size())

    return usage


class _BindStates:
    """Logs each bind's state change at INFO, and tells the node registry (a bind bound or
    lost changes this process's share of its carrier account)."""

    def __init__(self) -> None:
        self.registry: NodeRegistry | None = None
        self._states: dict[str, str] = {}

    def watcher(self, name: str) -> Callable[[str], None]:
        def changed(state: str) -> None:
            previous = self._states.get(name, "closed")
            self._states[name] = state
            log.info(
                "bind %s: %s -> %s",
                name,
                previous,
                state,
                extra={"fields": {"bind": name, "state": state, "previous": previous}},
            )
            if self.registry is not None:
                self.registry.poke()

        return changed


def _registry(
    db: Database, config: Config, owner: str, sessions: dict[str, Session], metrics: Metrics
) -> NodeRegistry:
    """This process in the registry, with the carrier accounts its binds log in to."""
    accounts = []
    for name in dict.fromkeys(b.account for b in config.binds):
        account = config.carrier_account(name)
        binds = sum(1 for b in config.binds if b.account == name)
        accounts.append(AccountTerms(name, account.rate, account.burst, account.max_binds, binds))
    registry = NodeRegistry(
        db,
        process=node_store.Process(owner, __version__, socket.gethostname(), os.getpid()),
        accounts=accounts,
        binds=[SharedBind(b.name, b.account) for b in config.binds],
        sessions=sessions,
        interval=config.nodes.heartbeat_interval,
        timeout=config.nodes.timeout,
        metrics=metrics,
    )
    registry.hold_all()  # until the first read says what each account's share is
    return registry


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

    try:
        return await start_from_config(config.simulator)
    except OSError as exc:
        where = f"{config.simulator.host}:{config.simulator.port}"
        raise StartupError(
            f"simulator.port: the built-in simulator cannot listen on {where}: "
            f"{exc.strerror or exc}; choose another in the configuration or "
            "HERALD_SIMULATOR_PORT (and the port of its bind)"
        ) from None


def _scheduled_run_failed(db: Database) -> OnScheduledRunFailed:
    async def handle(campaign_id: int, account_id: int, exc: Exception) -> None:
        await scheduled_run_failed(db, campaign_id, account_id, exc)

    return handle


class _AutoReplies:
    """The inbound service's automatic replies, sent through the message service once the
    runner exists (the tracker, built before it, already holds this)."""

    def __init__(self) -> None:
        self._send: AutoReply | None = None

    def send_with(self, send: AutoReply) -> None:
        self._send = send

    async def __call__(self, request: AutoReplyRequest) -> None:
        if self._send is None:  # pragma: no cover - wired before any bind starts
            raise RuntimeError("automatic replies are not wired yet")
        await self._send(request)


def _auto_replier(
    db: Database,
    config: Config,
    runner: CampaignRunner,
    clock: Callable[[], datetime],
    wake: Callable[[], None],
) -> AutoReply:
    """An automatic reply is a message request like any (POST /v1/messages), keyed by the
    inbound message it answers, so it goes out once whatever retries happen."""
    messages = MessageService(db, config, clock=clock, runner=runner)
    keys = Idempotency(db, clock=clock, ttl=timedelta(hours=config.api.idempotency_hours))

    async def send(request: AutoReplyRequest) -> None:
        spec = {"to": [request.phone], "sender": request.sender, "text": request.text}

        async def work(conn: Any) -> Answer:
            sent = await messages.send(
                conn, request.account_id, spec, in_reply_to=request.inbound_id
            )
            return Answer(202, {"messages": [m["id"] for m in sent["messages"]]})

        # A key no API caller can send (it has spaces): replies and API requests never meet.
        key = f"automatic reply {request.inbound_id}"
        answer = await keys.perform(request.account_id, key, "auto-reply", lambda: spec, work)
        if not answer.replayed:
            wake()

    return send


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
    lines = ["herald is running"]
    if url:
        lines.append(f"  API      {url}/v1")
        if config.ui.enabled:
            lines.append(f"  console  {url}/ui  (sign in with an API key)")
        lines.append(f"  docs     {url}/docs")
    if running.metrics_url:
        lines.append(f"  metrics  {running.metrics_url}/metrics")
    if url:
        lines.append(f"  health   {url}/readyz   binds {url}/healthz/binds")
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
    """The process entry point: uvloop when available, plain asyncio otherwise. A start-up
    error is one log line and exit status 2."""
    logs.configure(config.log_level, config.logging.format)
    try:
        import uvloop
    except ImportError:
        run = asyncio.run
    else:
        run = uvloop.run
    try:
        code = run(serve(config))
    except StartupError as exc:
        log.critical("cannot start: %s", exc)
        raise SystemExit(2) from None
    if code:
        raise SystemExit(code)
