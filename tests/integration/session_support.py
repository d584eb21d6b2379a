"""Test support for the session: a fake clock and a scriptable SMSC on 127.0.0.1.

FakeTime: `clock()` and `sleep()` to inject; `await advance(seconds)` moves time on and wakes
every sleeper that is due, in deadline order, so timeouts, throttle pauses and reconnect
backoff happen without real waiting.

ScriptedSmsc: a real TCP server speaking SMPP through herald's sans-I/O Connection in the SMSC
role. By default it binds anyone with the right password and answers every submit_sm ESME_ROK;
tests replace `on_bind` / `on_submit` to script a peer, and await what it saw (`submits`,
`binds`, `connections`) instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import math
from collections.abc import Callable
from typing import Any

from herald.smpp.connection import Connection, Response, Role
from herald.smpp.layouts import CommandId
from herald.smpp.pdu import Pdu
from herald.smpp.session import Session, SessionSettings

C = CommandId


class FakeTime:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._n = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future = asyncio.get_running_loop().create_future()
        # a sleep always moves time on, even by less than a float step at this clock value
        deadline = max(self.now + seconds, math.nextafter(self.now, math.inf))
        heapq.heappush(self._sleepers, (deadline, next(self._n), future))
        await future

    @property
    def next_deadline(self) -> float | None:
        self._drop_cancelled()
        return self._sleepers[0][0] if self._sleepers else None

    def _drop_cancelled(self) -> None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)

    async def advance(self, seconds: float) -> None:
        """Move the clock on by `seconds`, waking sleepers in order as their time comes."""
        target = self.now + seconds
        while True:
            await settle()
            self._drop_cancelled()
            if not self._sleepers or self._sleepers[0][0] > target:
                break
            deadline, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, deadline)
            future.set_result(None)
        self.now = target
        await settle()


async def settle(turns: int = 20) -> None:
    """Let ready callbacks and tasks run (no waiting: each turn is one pass of the loop)."""
    for _ in range(turns):
        await asyncio.sleep(0)


class Peer(asyncio.Protocol):
    """One ESME connection as the scripted SMSC sees it."""

    def __init__(self, smsc: ScriptedSmsc) -> None:
        self.smsc = smsc
        self.conn = Connection(Role.SMSC)
        self.transport: asyncio.Transport | None = None
        self.outstanding: dict[int, Pdu] = {}  # submit_sm received, not yet answered
        self.max_outstanding = 0
        self.closed = asyncio.get_running_loop().create_future()
        self.requests: dict[int, asyncio.Future[Pdu]] = {}  # our requests awaiting answers
        self.received: list[Pdu] = []  # every PDU, in order

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.smsc.connections.append(self)
        self.smsc._notify()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        self.smsc._notify()

    def data_received(self, data: bytes) -> None:
        self.conn.receive_data(data)
        for event in self.conn.events():
            if isinstance(event, Pdu):
                self.received.append(event)
                self._request(event)
            elif isinstance(event, Response):
                self.received.append(event.pdu)
                future = self.requests.pop(event.pdu.sequence_number, None)
                if future is not None and not future.done():
                    future.set_result(event.pdu)
            else:
                self.smsc.violations.append(event)
        self.smsc._notify()

    def _request(self, pdu: Pdu) -> None:
        smsc = self.smsc
        cid = pdu.command_id
        if cid in (C.BIND_TRANSCEIVER, C.BIND_TRANSMITTER, C.BIND_RECEIVER):
            smsc.binds.append(pdu)
            status = smsc.on_bind(pdu)
            if status is not None:
                self.write(self.conn.send(pdu.reply(status, system_id="SCRIPTED")))
        elif cid == C.SUBMIT_SM:
            self.outstanding[pdu.sequence_number] = pdu
            self.max_outstanding = max(self.max_outstanding, len(self.outstanding))
            smsc.submits.append(pdu)
            answer = smsc.on_submit(self, pdu)
            if answer is not None:
                self.answer(pdu, *answer)
        elif cid == C.ENQUIRE_LINK:
            smsc.enquire_links.append(pdu)
            if smsc.answer_enquire_link:
                self.write(self.conn.send(pdu.reply()))
        elif cid == C.UNBIND:
            smsc.unbinds.append(pdu)
            self.write(self.conn.send(pdu.reply()))
            if self.transport is not None:
                self.transport.close()

    # actions

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def answer(self, pdu: Pdu, status: int = 0, message_id: str | None = None) -> None:
        """Answer one submit_sm (any time later, in any order)."""
        self.outstanding.pop(pdu.sequence_number, None)
        if message_id is None:
            message_id = f"{next(self.smsc.ids):X}" if status == 0 else ""
        self.write(self.conn.send(pdu.reply(status, message_id=message_id)))

    def nack(self, pdu: Pdu, status: int) -> None:
        self.outstanding.pop(pdu.sequence_number, None)
        self.write(
            self.conn.send(
                Pdu(C.GENERIC_NACK, command_status=status, sequence_number=pdu.sequence_number)
            )
        )

    def request(self, pdu: Pdu) -> asyncio.Future[Pdu]:
        """Send a request (deliver_sm, enquire_link, unbind); the future gets its answer."""
        future = asyncio.get_running_loop().create_future()
        self.write(self.conn.send(pdu))
        self.requests[pdu.sequence_number] = future
        return future

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


# What the SMSC answers a submit_sm with: (status,) or (status, message_id) now; None: never.
SubmitAnswer = tuple[int, ...] | tuple[int, str] | None


class ScriptedSmsc:
    def __init__(self, password: str = "secret") -> None:
        self.password = password
        self.connections: list[Peer] = []
        self.binds: list[Pdu] = []
        self.submits: list[Pdu] = []
        self.enquire_links: list[Pdu] = []
        self.unbinds: list[Pdu] = []
        self.violations: list[Any] = []
        self.answer_enquire_link = True
        self.ids = itertools.count(0xA000)  # message ids handed out
        self.port = 0
        self._server: asyncio.Server | None = None
        self._changed = asyncio.Event()
        # The scripts: a test assigns its own (`smsc.on_submit = lambda peer, pdu: None`).
        self.on_bind: Callable[[Pdu], int | None] = self.accept_bind
        self.on_submit: Callable[[Peer, Pdu], SubmitAnswer] = self.accept_submit

    def accept_bind(self, pdu: Pdu) -> int | None:
        return 0 if pdu["password"] == self.password else 0x0E

    def accept_submit(self, peer: Peer, pdu: Pdu) -> SubmitAnswer:
        return (0,)

    # plumbing

    async def start(self) -> ScriptedSmsc:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: Peer(self), "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for peer in self.connections:
            peer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def peer(self) -> Peer:
        return self.connections[-1]

    def _notify(self) -> None:
        self._changed.set()

    async def wait(self, predicate: Callable[[], bool], what: str, limit: float = 5.0) -> None:
        """Until `predicate()` holds: checked at every PDU or connection event the SMSC sees,
        and every few milliseconds for conditions on the session's side of the socket."""

        async def loop() -> None:
            while not predicate():
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.005)

        try:
            await asyncio.wait_for(loop(), limit)
        except TimeoutError:
            raise AssertionError(f"the scripted SMSC never saw {what}") from None

    def settings(self, **overrides: Any) -> SessionSettings:
        values: dict[str, Any] = dict(
            name="test",
            host="127.0.0.1",
            port=self.port,
            system_id="herald",
            password=self.password,
            rate=1e6,
            burst=1000,
            window=10,
            reconnect_min=1.0,
            reconnect_max=8.0,
            response_timeout=10.0,
            enquire_link_interval=30.0,
        )
        values.update(overrides)
        return SessionSettings(**values)


async def shut(session: Session, time: FakeTime) -> None:
    """Close a session whatever its peer does: fake time moves on while close() waits."""
    task = asyncio.ensure_future(session.close(drain_timeout=0))
    for _ in range(200):
        if task.done():
            break
        await asyncio.wait({task}, timeout=0.02)  # a bound on real time for socket I/O
        if not task.done():
            await time.advance(5.0)
    await task


def submit(
    session: Session, destination: str = "447700900123", text: bytes = b"hi", **fields: Any
) -> asyncio.Future:
    return session.submit(
        source_addr="Herald",
        source_ton=5,
        source_npi=0,
        destination_addr=destination,
        short_message=text,
        **fields,
    )


async def bound(session: Session) -> Session:
    await session.start()
    await session.wait_bound(5)
    return session
