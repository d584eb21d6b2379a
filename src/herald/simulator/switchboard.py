"""The simulator's switchboard: the connections it has, and the routing of delivery receipts
and mobile-originated messages to receiver binds.

Receipts go back on the connection the submit came on when it is a transceiver, else on any
receiver or transceiver bind of the same system_id (round robin), and wait in a queue per
system_id (at most `max_pending_receipts`) until one binds. A receipt or MO the ESME never
acknowledged (its connection went down) is queued again: nothing is lost, as a real SMSC
retries. Each connection has at most `deliver_window` deliver_sm unanswered; the rest wait in
its `DeliverWindow`, which the switchboard keeps.

The connections (herald.simulator.protocol.SmscProtocol) tell the switchboard what happens
to them through its public methods: `connection_made`, `bound`, `unbound`, `connection_lost`,
`delivered`, and `receipts_for` when a submit they accepted wants receipts.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from herald.simulator.protocol import SmscProtocol
from herald.simulator.receipts import ReceiptJob, ReceiptMaker, wants_receipt
from herald.simulator.settings import SimulatorSettings
from herald.simulator.stats import SimulatorStats
from herald.smpp.pdu import Pdu

LATER_TICK = 0.001  # seconds: the resolution of receipt delays


# What travels to a receiver bind: ("receipt", ReceiptJob, stat, system_id), stat DELIVRD,
# UNDELIV, ... or the intermediate one; or ("mo", Pdu, Future[int] that gets the
# deliver_sm_resp's command_status, system_id). A plain tuple, read only in this module (a
# connection carries it as its deliver_sm's context): a NamedTuple in its place cost 2.4% more
# CPU a receipted submit_sm (bench/simulator.py's receipt round under callgrind: 136.0k
# instructions against 132.8k).
Delivery = tuple[str, Any, Any, str]


def mo_delivery(pdu: Pdu, answered: asyncio.Future[int], system_id: str) -> Delivery:
    return ("mo", pdu, answered, system_id)


class Switchboard:
    """Which connections there are, and where each receipt and MO part goes."""

    def __init__(
        self,
        settings: SimulatorSettings,
        stats: SimulatorStats,
        receipt_maker: ReceiptMaker,
        poke: Callable[[], None],
    ) -> None:
        self.settings = settings  # the simulator's: it replaces them when they change
        self.stats = stats
        self.receipt_maker = receipt_maker
        self._poke = poke  # counters changed: wake the simulator's waiters
        self.loop: asyncio.AbstractEventLoop | None = None  # the simulator's, once started
        self.connections: set[SmscProtocol] = set()
        self.all_closed = asyncio.Event()  # set when the last connection goes
        self.stopping = False  # the simulator stops: nothing is routed any more
        self._receivers: dict[str, list[SmscProtocol]] = {}
        self._turn: dict[str, int] = {}
        self._pending: dict[str, deque[Delivery]] = {}
        self._later: dict[int, list[tuple[Delivery, object]]] = {}  # due tick -> in order

    def pending(self, system_id: str | None = None) -> int:
        """Receipts and MO messages queued for want of a receiver bind."""
        if system_id is not None:
            return len(self._pending.get(system_id, ()))
        return sum(map(len, self._pending.values()))

    def open_connections(self, system_id: str | None = None) -> list[SmscProtocol]:
        """The connections not closed, optionally of one system_id."""
        return [
            p
            for p in self.connections
            if not p.closed and (system_id is None or p.system_id == system_id)
        ]

    # --- routing ----------------------------------------------------------------------------

    def receipts_for(self, job: ReceiptJob, *, early: bool) -> None:
        """Schedule (or, `early`, send now) the receipts of an accepted submit."""
        maker = self.receipt_maker
        stat = maker.outcome()
        final = wants_receipt(job.registered_delivery, stat == "DELIVRD")
        intermediate = self.settings.intermediate
        system_id = job.system_id
        if early:
            if intermediate:
                self.route(("receipt", job, intermediate, system_id), job.origin)
            if final:
                self.route(("receipt", job, stat, system_id), job.origin)
            return
        delay = maker.delay()
        if intermediate:
            self._route_later(delay / 2, ("receipt", job, intermediate, system_id), job.origin)
        if final:
            self._route_later(delay, ("receipt", job, stat, system_id), job.origin)

    def _route_later(self, delay: float, item: Delivery, origin: object) -> None:
        if delay <= 0:
            self.route(item, origin)
            return
        # Items due within the same millisecond share one timer. One timer per receipt cost
        # more than building and sending it: 31 µs of CPU per delayed receipted message
        # against 22 µs now (13 µs with immediate receipts), measured with bench/smpp.py's
        # raw client.
        assert self.loop is not None
        tick = math.ceil((self.loop.time() + delay) / LATER_TICK)
        bucket = self._later.get(tick)
        if bucket is None:
            bucket = self._later[tick] = []
            self.loop.call_at(tick * LATER_TICK, self._route_due, tick)
        bucket.append((item, origin))

    def _route_due(self, tick: int) -> None:
        bucket = self._later.pop(tick, ())
        if not self.stopping:
            for item, origin in bucket:
                self.route(item, origin)
            self._poke()

    def route(self, item: Delivery, origin: object = None) -> None:
        """Send `item` on `origin` (the connection its submit came on) if that one receives,
        else on a receiver of its system_id, else queue it until one binds."""
        system_id = item[3]
        proto = origin if isinstance(origin, SmscProtocol) and origin.receives else None
        if proto is None:
            proto = self._pick_receiver(system_id)
        if proto is not None:
            self._send(proto, item)
            return
        queue = self._pending.setdefault(system_id, deque())
        queue.append(item)
        if len(queue) > self.settings.max_pending_receipts:
            self._discard(queue.popleft())

    def _pick_receiver(self, system_id: str) -> SmscProtocol | None:
        receivers = [p for p in self._receivers.get(system_id, ()) if p.receives]
        if not receivers:
            return None
        turn = self._turn.get(system_id, 0)
        self._turn[system_id] = turn + 1
        return receivers[turn % len(receivers)]

    def _send(self, proto: SmscProtocol, item: Delivery) -> None:
        window = proto.deliver_window
        size = self.settings.deliver_window
        if size and window.in_flight >= size:
            window.held.append(item)  # until a deliver_sm_resp makes room
            return
        window.in_flight += 1
        kind, payload, extra, _ = item
        if kind == "receipt":
            proto.send_encoded(self.receipt_maker.encode(payload, extra, time.time()), item)
            self.stats.receipts_sent += 1
        else:
            proto.send_request(payload, item)
            self.stats.mo_sent += 1

    def _discard(self, item: Delivery) -> None:
        if item[0] == "receipt":
            self.stats.receipts_dropped += 1
        elif not item[2].done():
            item[2].set_exception(ConnectionError("MO dropped: too many queued for no receiver"))

    # --- what the connections say -------------------------------------------------------------

    def delivered(self, proto: SmscProtocol, item: Delivery, status: int) -> None:
        """The deliver_sm_resp for a receipt or an MO part: room for the next one held."""
        window = proto.deliver_window
        window.in_flight -= 1
        if window.held and not proto.closed:  # a closed one's are rerouted when it is lost
            self._send(proto, window.held.popleft())
        kind, _, extra, _ = item
        stats = self.stats
        if kind == "receipt":
            if status == 0:
                stats.receipts_acked += 1
            else:
                stats.receipts_nacked += 1
        else:
            if status == 0:
                stats.mo_acked += 1
            if not extra.done():
                extra.set_result(status)

    def connection_made(self, proto: SmscProtocol) -> None:
        self.connections.add(proto)
        self.stats.connections += 1

    def bound(self, proto: SmscProtocol) -> None:
        stats = self.stats
        stats.binds += 1
        setattr(stats, f"binds_{proto.bind}", getattr(stats, f"binds_{proto.bind}") + 1)
        if proto.bind == "tx":
            return
        self._receivers.setdefault(proto.system_id, []).append(proto)
        queue = self._pending.get(proto.system_id)
        while queue and proto.receives:
            self._send(proto, queue.popleft())

    def unbound(self, proto: SmscProtocol) -> None:
        receivers = self._receivers.get(proto.system_id)
        if receivers and proto in receivers:
            receivers.remove(proto)

    def connection_lost(self, proto: SmscProtocol, lost: list[Delivery]) -> None:
        """`lost`: deliveries written and unanswered, or held, on the connection."""
        self.connections.discard(proto)
        self.unbound(proto)
        self.stats.disconnects += 1
        for item in lost:
            if item[0] == "receipt":
                self.stats.receipts_requeued += 1
            if not self.stopping:
                self.route(item)
        if not self.connections:
            self.all_closed.set()
        self._poke()
