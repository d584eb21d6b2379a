"""The simulator: an asyncio server of SmscProtocol connections (herald.simulator.protocol),
their switchboard (herald.simulator.switchboard: which connections there are, and the routing
of receipts and mobile-originated messages to receiver binds), and the Python API tests and
the daemon use.

    async with Simulator(personality_settings("throttling", throttle_rate=10)) as sim:
        host, port = sim.address
        ...                                    # bind and submit with any ESME
        await sim.wait_for_submits(3)
        sim.set_personality("happy")           # behaviours change at run time
        await sim.send_mo("447700900123", "Brand", "STOP")
        assert sim.stats.submits_by_status[0] == 3

Where receipts and MO messages go, and what becomes of them when a connection goes, is the
switchboard's to say (herald.simulator.switchboard).
"""

from __future__ import annotations

import asyncio
import random
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from herald.simulator.behaviour import Behaviour
from herald.simulator.ids import MessageIds
from herald.simulator.personalities import personality_settings, with_personality
from herald.simulator.protocol import SmscProtocol
from herald.simulator.receipts import ReceiptMaker, mo_pdus
from herald.simulator.recorder import Recorder, SubmitRecord
from herald.simulator.settings import Delay, SimulatorSettings
from herald.simulator.stats import Predicate, SimulatorStats, Waiters
from herald.simulator.switchboard import Switchboard, mo_delivery

if TYPE_CHECKING:
    from herald.config import SimulatorConfig

_RECORDING = ("record_path", "keep_submits", "track_duplicates")


class Simulator:
    def __init__(
        self,
        settings: SimulatorSettings | None = None,
        *,
        clock: Callable[[], float] | None = None,
        **overrides: Any,
    ) -> None:
        """`clock` (monotonic seconds) drives the throttle's token bucket; default the loop's."""
        settings = settings or SimulatorSettings()
        if overrides:
            settings = settings.replace(**overrides)
        self.settings = settings
        self.stats = SimulatorStats()
        self.rng = random.Random(settings.seed)
        self._clock = clock
        self.behaviour = Behaviour(settings, self.rng, self._now)
        self.ids = MessageIds(settings)
        self.receipt_maker = ReceiptMaker(settings, self.rng)
        self.recorder = self._recorder(settings)
        self.decode_submits = settings.receipts or self.recorder is not None
        self._address: tuple[str, int] | None = None
        self.switchboard = Switchboard(settings, self.stats, self.receipt_maker, self.poke)
        self._waiters = Waiters(self.stats)
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._mo_reference = 0
        # Answers to submits kept back by hold_answers(), in arrival order; None: not holding.
        self.held: list[Callable[[], None]] | None = None

    @classmethod
    def from_config(cls, config: SimulatorConfig, **overrides: Any) -> Simulator:
        """The daemon's demo simulator from the [simulator] section: nothing kept in memory
        and no duplicate tracking (it runs for days); `overrides` win."""
        low, high = config.receipt_delay_ms
        settings = personality_settings(
            config.personality,
            host=config.host,
            port=config.port,
            system_id=config.system_id,
            password=config.password.get_secret_value(),
            receipt_delay=Delay.uniform(low / 1000, high / 1000),
            keep_submits=0,
            track_duplicates=False,
        )
        return cls(settings.replace(**overrides) if overrides else settings)

    @staticmethod
    def _recorder(settings: SimulatorSettings) -> Recorder | None:
        if not settings.records:
            return None
        return Recorder(settings.record_path, settings.keep_submits, settings.track_duplicates)

    def _now(self) -> float:
        if self._clock is not None:
            return self._clock()
        assert self._loop is not None
        return self._loop.time()

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> tuple[str, int]:
        """Listen; returns (host, port), the port the OS chose when settings.port is 0."""
        if self._server is not None:
            raise RuntimeError("the simulator is already started")
        self._loop = self.switchboard.loop = asyncio.get_running_loop()
        self.switchboard.stopping = False
        s = self.settings
        self._server = await self._loop.create_server(
            lambda: SmscProtocol(self), s.host, s.port, reuse_address=True, ssl=tls_context(s)
        )
        host, port = self._server.sockets[0].getsockname()[:2]
        self._address = (host, port)
        return self._address

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) it listens on, once started."""
        if self._address is None:
            raise RuntimeError("the simulator is not listening yet: start() it first")
        return self._address

    async def stop(self) -> None:
        """Stop listening, close every connection (no unbind), flush the record file."""
        if self._server is None:
            return
        switchboard = self.switchboard
        switchboard.stopping = True
        self._server.close()
        for proto in list(switchboard.connections):
            if self.settings.tls_cert is None:
                proto.close()
            else:  # a TLS close waits for the peer's close_notify, which may never come
                proto.abort()
        await self._server.wait_closed()
        if switchboard.connections:
            switchboard.all_closed.clear()
            try:
                async with asyncio.timeout(5):
                    await switchboard.all_closed.wait()
            except TimeoutError:  # pragma: no cover - a transport that never reports lost
                pass
        self._server = None
        if self.recorder is not None:
            self.recorder.close()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- changing behaviour at run time ---------------------------------------------------

    def configure(self, **changes: Any) -> SimulatorSettings:
        """Change knobs now (e.g. `throttle_rate=5`); returns the new settings."""
        return self._apply(self.settings.replace(**changes))

    def set_personality(self, spec: str, **overrides: Any) -> SimulatorSettings:
        """Switch every behaviour to `spec`'s (socket, accounts and recording kept)."""
        return self._apply(with_personality(self.settings, spec, **overrides))

    def _apply(self, settings: SimulatorSettings) -> SimulatorSettings:
        old = self.settings
        self.settings = settings
        self.behaviour.configure(settings)
        self.ids.configure(settings)
        self.receipt_maker.configure(settings)
        self.switchboard.settings = settings
        if any(getattr(old, f) != getattr(settings, f) for f in _RECORDING):
            if self.recorder is not None:
                self.recorder.close()
            self.recorder = self._recorder(settings)
        self.decode_submits = settings.receipts or self.recorder is not None
        return settings

    def hold_answers(self) -> None:
        """Keep every submit's answer, and the receipts behind it, until release_answers():
        an SMSC that stalls with the submits taken, or a test that must act between a
        submit's arrival and its answer without racing the client."""
        if self.held is None:
            self.held = []

    def release_answers(self) -> int:
        """Send what hold_answers() kept, in order, and answer at once again; the count."""
        held, self.held = self.held or [], None
        for answer in held:
            answer()
        return len(held)

    # --- what it saw ----------------------------------------------------------------------

    @property
    def submits(self) -> list[SubmitRecord]:
        """The submits recorded in memory, oldest first (bounded by keep_submits)."""
        if self.recorder is None or self.recorder.kept is None:
            return []
        return list(self.recorder.kept)

    def duplicates(self) -> dict[tuple[str, str], int]:
        """(destination, message text) accepted more than once, with the count."""
        return {} if self.recorder is None else self.recorder.duplicates()

    def flush_record(self) -> None:
        if self.recorder is not None:
            self.recorder.flush()

    def pending(self, system_id: str | None = None) -> int:
        """Receipts and MO messages queued for want of a receiver bind."""
        return self.switchboard.pending(system_id)

    def bound(self, system_id: str | None = None) -> list[str]:
        """Bind types (tx, rx, trx) of the connections bound now, optionally of one system_id."""
        return sorted(p.bind for p in self.switchboard.open_connections(system_id) if p.bind)

    # --- waiting (event-based) --------------------------------------------------------------

    def poke(self) -> None:
        """Counters changed: wake the waiters whose condition now holds."""
        if self._waiters:
            self._waiters.check()

    async def wait_for(
        self,
        predicate: Predicate,
        timeout: float | None = 10.0,  # noqa: ASYNC109 - a deadline belongs to the test API
        what: str = "a condition",
    ) -> SimulatorStats:
        """Until `predicate(stats)` holds; TimeoutError (with the counters) after `timeout`."""
        await self._waiters.wait(predicate, timeout, what)
        return self.stats

    async def wait_for_submits(
        self,
        n: int,
        timeout: float | None = 10.0,  # noqa: ASYNC109
    ) -> SimulatorStats:
        return await self.wait_for(lambda s: s.submits >= n, timeout, f"{n} submits")

    async def wait_for_receipts_acked(
        self,
        n: int,
        timeout: float | None = 10.0,  # noqa: ASYNC109
    ) -> SimulatorStats:
        return await self.wait_for(
            lambda s: s.receipts_acked >= n, timeout, f"{n} acknowledged receipts"
        )

    async def wait_for_binds(
        self,
        n: int,
        timeout: float | None = 10.0,  # noqa: ASYNC109
    ) -> SimulatorStats:
        return await self.wait_for(lambda s: s.binds >= n, timeout, f"{n} binds")

    async def wait_for_disconnects(
        self,
        n: int,
        timeout: float | None = 10.0,  # noqa: ASYNC109
    ) -> SimulatorStats:
        return await self.wait_for(lambda s: s.disconnects >= n, timeout, f"{n} disconnects")

    # --- driving it -------------------------------------------------------------------------

    async def send_mo(
        self,
        source: str,
        destination: str,
        text: str,
        *,
        system_id: str | None = None,
        concat: str = "udh8",
        timeout: float | None = 10.0,  # noqa: ASYNC109 - a deadline belongs to the test API
    ) -> list[int]:
        """A mobile-originated message from handset `source` to `destination` (the address a
        campaign sent from), delivered to a receiver bind of `system_id` (default: the main
        account), queued until one binds. GSM-7 or UCS-2 as the text needs, in parts joined
        by `concat` (udh8, udh16, sar) when long. Returns each part's deliver_sm_resp status."""
        futures = self.queue_mo(source, destination, text, system_id=system_id, concat=concat)
        async with asyncio.timeout(timeout):
            return [await f for f in futures]

    def queue_mo(
        self,
        source: str,
        destination: str,
        text: str,
        *,
        system_id: str | None = None,
        concat: str = "udh8",
    ) -> list[asyncio.Future[int]]:
        """`send_mo` without waiting: the parts go (or wait for a receiver) in the
        background; each future resolves to its part's deliver_sm_resp status."""
        loop = asyncio.get_running_loop()
        system_id = system_id or self.settings.system_id
        self._mo_reference = (self._mo_reference + 1) & 0xFFFF
        futures = []
        for pdu in mo_pdus(source, destination, text, self._mo_reference, concat=concat):
            future: asyncio.Future[int] = loop.create_future()
            futures.append(future)
            self.switchboard.route(mo_delivery(pdu, future, system_id))
        self.poke()
        return futures

    def disconnect(self, system_id: str | None = None, *, unbind: bool = False) -> int:
        """Cut (or, with `unbind`, politely unbind) every connection, or those of one
        system_id; returns how many."""
        targets = self.switchboard.open_connections(system_id)
        for proto in targets:
            if unbind:
                proto.send_unbind()
            else:
                proto.abort()
        return len(targets)


def tls_context(settings: SimulatorSettings) -> ssl.SSLContext | None:
    """The server side of SMPP over TLS, from the settings' certificate (None: plain TCP)."""
    if settings.tls_cert is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    if settings.tls_client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(settings.tls_client_ca)
    return context


async def start_from_config(config: SimulatorConfig, **overrides: Any) -> Simulator:
    """The daemon's simulator, started (see `Simulator.from_config`); stop it with `stop()`."""
    simulator = Simulator.from_config(config, **overrides)
    await simulator.start()
    return simulator
