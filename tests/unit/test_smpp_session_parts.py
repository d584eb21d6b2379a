"""The session's parts through the small interfaces between them (herald.smpp.session).

The link is driven over a real socket pair by a peer speaking SMPP through herald's own
Connection in the SMSC role; what the link tells the submit and delivery sides is recorded by
`Sides`, an implementation of `SubmitSide`, `DeliverySide` and the owner's `OnLost`. The
keepalive runs on fake time (tests/integration/session_support.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import struct
import time
from collections.abc import AsyncIterator, Callable, Collection
from typing import Any

import pytest

from herald.errors import BindError, SessionClosedError
from herald.smpp.codec import SubmitSmTemplate
from herald.smpp.connection import Connection, Event, Response, Role
from herald.smpp.framing import DEFAULT_MAX_COMMAND_LENGTH
from herald.smpp.layouts import CommandId
from herald.smpp.pdu import Pdu
from herald.smpp.session import SessionSettings
from herald.smpp.session.keepalive import Keepalive, tick
from herald.smpp.session.link import Link
from herald.smpp.session.pending import PendingSubmit
from herald.smpp.session.state import BindState
from herald.smpp.session.submits import RESULT_FIELDS, accepted_result
from herald.smpp.submit import SubmitOutcome, SubmitResult
from tests.integration.session_support import FakeTime, settle

C = CommandId
HEADER = struct.Struct(">IIII")
TEMPLATE = SubmitSmTemplate(source_addr="Brand", source_addr_ton=5, source_addr_npi=0)


class Sides:
    """The submit side, the delivery side and the owner, recording what the link says."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.changed = asyncio.Event()

    def answered(self, link: Link, pdu: Pdu, item: PendingSubmit) -> None:
        self._record("answered", (pdu, item, pdu.sequence_number in link.in_flight))

    def unanswered(self, items: Collection[PendingSubmit]) -> None:
        self._record("unanswered", list(items))

    def unwritten(self, items: Collection[PendingSubmit]) -> None:
        self._record("unwritten", list(items))

    def stray_nack(self, link: Link, pdu: Pdu) -> None:
        self._record("stray_nack", pdu)

    def pump(self) -> None:
        self.calls.append(("pump", None))  # not a change worth waking for

    def deliver(self, link: Link, pdu: Pdu) -> None:
        self._record("deliver", pdu)

    def on_lost(self, link: Link, exc: Exception | None, in_flight: int) -> None:
        self._record("lost", in_flight)

    def on_unbound(self, link: Link) -> None:
        self._record("unbound", len(link.in_flight))

    def _record(self, what: str, detail: Any) -> None:
        self.calls.append((what, detail))
        self.changed.set()

    def of(self, what: str) -> list[Any]:
        return [detail for name, detail in self.calls if name == what]

    async def wait(self, what: str, count: int = 1) -> list[Any]:
        async with asyncio.timeout(5):
            while len(self.of(what)) < count:
                self.changed.clear()
                await self.changed.wait()
        return self.of(what)


class SmscPeer:
    """The far end of the socket pair: herald's Connection in the SMSC role."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.conn = Connection(Role.SMSC)
        self.reader, self.writer = reader, writer

    async def next(self) -> Event:
        async with asyncio.timeout(5):
            while (event := self.conn.next_event()) is None:
                data = await self.reader.read(65536)
                assert data, "the link closed"
                self.conn.receive_data(data)
        return event

    def send(self, pdu: Pdu) -> None:
        self.writer.write(self.conn.send(pdu))

    def send_bytes(self, data: bytes) -> None:
        self.writer.write(data)


async def bound_pair(clock: Callable[[], float]) -> tuple[Link, SmscPeer, Sides]:
    """A bound transceiver link and its peer."""
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    sides = Sides()
    link = Link(
        name="unit",
        loop=loop,
        clock=clock,
        max_command_length=DEFAULT_MAX_COMMAND_LENGTH,
        submits=sides,
        deliveries=sides,
        on_lost=sides.on_lost,
        on_unbound=sides.on_unbound,
    )
    await loop.create_connection(lambda: link, sock=ours)
    peer = SmscPeer(*await asyncio.open_connection(sock=theirs))
    bind = link.request(Pdu(C.BIND_TRANSCEIVER, system_id="unit", password="pw"), 5.0)
    request = await peer.next()
    assert isinstance(request, Pdu)
    peer.send(request.reply())
    response = await bind
    assert response is not None and response.command_status == 0
    return link, peer, sides


async def hang_up(link: Link, peer: SmscPeer) -> None:
    link.close()
    await link.lost
    peer.writer.close()


@pytest.fixture
async def pair() -> AsyncIterator[tuple[Link, SmscPeer, Sides]]:
    link, peer, sides = await bound_pair(time.monotonic)
    yield link, peer, sides
    await hang_up(link, peer)


def write_submit(link: Link, destination: str = "447700900123") -> PendingSubmit:
    """What the submit side's pump does for one part: numbered, in flight, handed to the
    transport at the end of this loop turn."""
    loop = asyncio.get_running_loop()
    item = PendingSubmit(loop.create_future(), TEMPLATE.encode(0, destination, b"hi"), 0)
    seq, item.data = link.conn.send_encoded_submit_sm(item.data, item)
    link.in_flight[seq] = item
    link.unflushed.append(item)
    link.flush_soon()
    return item


# --- the link and the sides it talks to ----------------------------------------------------


async def test_a_submit_answer_reaches_the_submit_side_out_of_the_in_flight_table(
    pair: tuple[Link, SmscPeer, Sides],
) -> None:
    link, peer, sides = pair
    item = write_submit(link)
    request = await peer.next()
    assert isinstance(request, Pdu) and request.command_id == C.SUBMIT_SM
    peer.send(request.reply(message_id="abc123"))
    [(pdu, answered_item, still_in_flight)] = await sides.wait("answered")
    assert answered_item is item and pdu.params["message_id"] == "abc123"
    assert not still_in_flight and not link.in_flight
    assert sides.calls[-1] == ("pump", None)  # after a read, the window is refilled


async def test_deliveries_go_to_the_delivery_side_and_link_requests_are_answered_here(
    pair: tuple[Link, SmscPeer, Sides],
) -> None:
    link, peer, sides = pair
    peer.send(Pdu(C.DELIVER_SM, source_addr="447700900123", short_message=b"STOP"))
    peer.send(Pdu(C.ENQUIRE_LINK))
    answer = await peer.next()  # the link answers enquire_link by itself
    assert isinstance(answer, Response) and answer.pdu.command_id == C.ENQUIRE_LINK_RESP
    [delivered] = await sides.wait("deliver")
    assert delivered.params["short_message"] == b"STOP"
    link.answer_delivery(delivered, 0x64)  # the delivery side answers, with its status
    answer = await peer.next()
    assert isinstance(answer, Response) and answer.pdu.command_id == C.DELIVER_SM_RESP
    assert answer.pdu.command_status == 0x64
    assert answer.pdu.sequence_number == delivered.sequence_number


async def test_a_malformed_answer_makes_that_submit_unanswered(
    pair: tuple[Link, SmscPeer, Sides],
) -> None:
    link, peer, sides = pair
    item = write_submit(link)
    request = await peer.next()
    assert isinstance(request, Pdu)
    body = b"abc"  # message_id without its NUL: the response cannot be read
    peer.send_bytes(
        HEADER.pack(16 + len(body), C.SUBMIT_SM_RESP, 0, request.sequence_number) + body
    )
    assert await sides.wait("unanswered") == [[item]]
    assert not link.in_flight and not sides.of("answered") and not link.closing


async def test_a_lost_link_settles_what_was_written_then_tells_its_owner(
    pair: tuple[Link, SmscPeer, Sides],
) -> None:
    link, peer, sides = pair
    first, second = write_submit(link), write_submit(link, "447700900124")
    unbind = link.request(Pdu(C.UNBIND), 5.0)
    await peer.next()
    peer.writer.close()
    await link.lost
    assert await unbind is None
    settled = [(name, detail) for name, detail in sides.calls if name != "pump"]
    assert settled == [("unanswered", [first, second]), ("lost", 2)]
    assert link.closing and not link.in_flight and not link.controls


async def test_submits_not_yet_handed_to_the_transport_come_back_unwritten(
    pair: tuple[Link, SmscPeer, Sides],
) -> None:
    link, peer, sides = pair
    written = [write_submit(link), write_submit(link, "447700900124")]
    first = await peer.next()
    assert isinstance(first, Pdu) and first.command_id == C.SUBMIT_SM
    await peer.next()  # both went out in the write at the end of that loop turn
    late = [write_submit(link, "447700900125"), write_submit(link, "447700900126")]
    link.close()  # in the same turn: the late ones were never handed to the transport
    await link.lost
    assert sides.of("unanswered") == [written] and sides.of("unwritten") == [late]
    assert not link.in_flight and not link.unflushed and link.conn.outstanding == 0


async def test_after_the_smscs_unbind_the_link_reads_answers_and_writes_no_submit(
    pair: tuple[Link, SmscPeer, Sides],
) -> None:
    link, peer, sides = pair
    item = write_submit(link)
    request = await peer.next()
    assert isinstance(request, Pdu)
    late = write_submit(link, "447700900124")  # still in our buffer when the unbind is read:
    # the SMSC's unbind and an answer it still owed, read in this same loop turn
    link.data_received(
        peer.conn.send(Pdu(C.UNBIND)) + peer.conn.send(request.reply(message_id="abc"))
    )
    answer = await peer.next()
    assert isinstance(answer, Response) and answer.pdu.command_id == C.UNBIND_RESP
    [(pdu, answered, _)] = await sides.wait("answered")
    assert answered is item and pdu.params["message_id"] == "abc"
    assert sides.of("unwritten") == [[late]] and sides.of("unbound") == [1]
    assert link.peer_unbound and not link.closing  # the owner closes it when it is done
    assert not link.in_flight


async def test_a_generic_nack_matching_nothing_goes_to_the_submit_side(
    pair: tuple[Link, SmscPeer, Sides],
) -> None:
    link, peer, sides = pair
    peer.send_bytes(HEADER.pack(16, C.GENERIC_NACK, 0x03, 4242))
    [nack] = await sides.wait("stray_nack")
    assert nack.sequence_number == 4242 and not link.closing


async def test_until_drained_waits_for_the_window_and_every_delivery(
    pair: tuple[Link, SmscPeer, Sides],
) -> None:
    link, peer, sides = pair
    write_submit(link)
    link.pending_deliveries = 1  # one handed to the delivery side, not yet answered
    drained = link.until_drained()
    request = await peer.next()
    assert isinstance(request, Pdu)
    peer.send(request.reply())
    await sides.wait("answered")
    assert not drained.done()
    link.pending_deliveries -= 1  # what the delivery side does once it answered
    link.check_drained()
    assert drained.done()


# --- the keepalive -------------------------------------------------------------------------


class Timeouts:
    """The submit side's half of the keepalive's scan, recorded."""

    def __init__(self) -> None:
        self.scans: list[float] = []

    def expire(self, link: Link, now: float) -> None:
        self.scans.append(now)


def test_the_scan_tick_is_a_tenth_of_the_shorter_timeout_within_bounds() -> None:
    def settings(**knobs: float) -> SessionSettings:
        return SessionSettings(name="t", host="h", port=1, system_id="s", password="p", **knobs)  # type: ignore[arg-type]

    assert tick(settings(response_timeout=10.0, enquire_link_interval=30.0)) == 1.0
    assert tick(settings(response_timeout=2.0, enquire_link_interval=30.0)) == 0.2
    assert tick(settings(response_timeout=0.01, enquire_link_interval=30.0)) == 0.005
    assert tick(settings(response_timeout=60.0, enquire_link_interval=90.0)) == 1.0


async def test_the_keepalive_scans_each_tick_and_enquires_when_the_smsc_is_quiet() -> None:
    fake = FakeTime()
    link, peer, _ = await bound_pair(fake.clock)
    settings = SessionSettings(
        name="t",
        host="h",
        port=1,
        system_id="s",
        password="p",
        response_timeout=2.0,
        enquire_link_interval=3.0,
    )
    timeouts = Timeouts()
    Keepalive(settings, clock=fake.clock, sleep=fake.sleep, submits=timeouts).watch(link)
    await settle()
    await fake.advance(1.1)  # (1.0 would leave the fifth scan a float step beyond)
    assert timeouts.scans == pytest.approx([1000.2, 1000.4, 1000.6, 1000.8, 1001.0])
    assert not link.enquiring
    await fake.advance(2.5)  # 3 s without a PDU from the SMSC
    assert link.enquiring
    request = await peer.next()
    assert isinstance(request, Pdu) and request.command_id == C.ENQUIRE_LINK
    await fake.advance(2.5)  # and no answer within response_timeout: the link is dead
    await asyncio.wait_for(link.lost, 5)
    assert link.closing
    await hang_up(link, peer)


async def test_the_keepalive_counts_nothing_while_our_reading_is_paused() -> None:
    # Reading paused for back-pressure: the SMSC's answers wait in our socket. No response
    # timeout, enquire_link or dead link counts then, nor for response_timeout after.
    fake = FakeTime()
    link, peer, _ = await bound_pair(fake.clock)
    settings = SessionSettings(
        name="t",
        host="h",
        port=1,
        system_id="s",
        password="p",
        response_timeout=2.0,
        enquire_link_interval=3.0,
    )
    timeouts = Timeouts()
    Keepalive(settings, clock=fake.clock, sleep=fake.sleep, submits=timeouts).watch(link)
    link.pause_reads()
    await settle()
    await fake.advance(60.0)
    assert timeouts.scans == [] and not link.enquiring and not link.closing
    link.resume_reads()
    await fake.advance(1.9)
    assert timeouts.scans == [] and link.reads_held(fake.now, 2.0)
    await fake.advance(0.3)
    assert timeouts.scans and not link.reads_held(fake.now, 2.0)
    assert link.enquiring  # 62 s without a PDU read: now it may ask
    await hang_up(link, peer)


# --- the bind's state ----------------------------------------------------------------------


async def test_bind_state_tells_on_state_of_changes_only_and_survives_its_errors() -> None:
    seen: list[str] = []

    def on_state(state: str) -> None:
        seen.append(state)
        raise RuntimeError("a broken callback")

    state = BindState("t", on_state)
    for step in ("connecting", "connecting", "bound", "bound", "unbinding"):
        state.set(step)
    assert seen == ["connecting", "bound", "unbinding"] and state.state == "unbinding"


async def test_bind_state_waiters_are_released_by_bound_or_failed_by_refusal_or_close() -> None:
    loop = asyncio.get_running_loop()
    state = BindState("t", None)
    waiting = asyncio.ensure_future(state.wait_bound(loop, None))
    await settle()
    state.bound()
    await waiting
    refusal = BindError("bad password", 0x0E)
    waiting = asyncio.ensure_future(state.wait_bound(loop, None))
    await settle()
    state.refused(refusal)
    with pytest.raises(BindError):
        await waiting
    assert state.refusal is refusal and state.state == "refused"
    waiting = asyncio.ensure_future(state.wait_bound(loop, None))
    await settle()
    state.closed()
    with pytest.raises(SessionClosedError):
        await waiting
    with pytest.raises(TimeoutError):
        await state.wait_bound(loop, 0.001)


# --- the accepted result, built without SubmitResult.__init__ ------------------------------


def test_the_accepted_result_shortcut_names_every_field_of_submit_result_in_order() -> None:
    assert tuple(f.name for f in dataclasses.fields(SubmitResult)) == RESULT_FIELDS


def test_the_accepted_result_shortcut_equals_the_constructor() -> None:
    built = accepted_result("0A1B", "0a1b", 12.5)
    assert built == SubmitResult(SubmitOutcome.ACCEPTED, 0, "0A1B", "0a1b", "ESME_ROK", 12.5)
    assert built.outcome is SubmitOutcome.ACCEPTED
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.message_id = "x"  # type: ignore[misc]
