"""The simulator's switchboard and a connection's deliver window, through the interface between
them (herald.simulator.switchboard, herald.simulator.protocol.DeliverWindow).

A real SmscProtocol of a real (unstarted) Simulator, fed the bytes an ESME's Connection
encodes; its transport is a tape of what it wrote."""

from __future__ import annotations

import asyncio
from typing import Any

from herald.simulator import Simulator
from herald.simulator.protocol import SmscProtocol
from herald.simulator.receipts import ReceiptJob
from herald.simulator.switchboard import Delivery
from herald.smpp.connection import Connection, Response, Role
from herald.smpp.layouts import CommandId
from herald.smpp.pdu import Pdu

C = CommandId


class Tape(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


class Esme:
    """The ESME end: encodes what it sends, decodes what the connection wrote on its tape."""

    def __init__(self, proto: SmscProtocol, tape: Tape) -> None:
        self.conn = Connection(Role.ESME)
        self.proto, self.tape = proto, tape

    def send(self, pdu: Pdu) -> None:
        self.proto.data_received(self.conn.send(pdu))

    async def read(self) -> list[Pdu]:
        """Requests and responses the connection wrote, in order."""
        await asyncio.sleep(0)  # the connection flushes at the end of the loop turn
        self.conn.receive_data(bytes(self.tape.written))
        self.tape.written.clear()
        events = list(self.conn.events())
        return [
            e.pdu if isinstance(e, Response) else e for e in events if isinstance(e, Pdu | Response)
        ]


async def bound_transceiver(sim: Simulator) -> tuple[SmscProtocol, Esme, list[Pdu]]:
    """A connection bound as a transceiver, its ESME, and what it delivered at once."""
    proto, tape = SmscProtocol(sim), Tape()
    proto.connection_made(tape)
    esme = Esme(proto, tape)
    esme.send(Pdu(C.BIND_TRANSCEIVER, system_id="herald", password="secret"))
    bind_resp, *delivered = await esme.read()
    assert bind_resp.command_id == C.BIND_TRANSCEIVER_RESP and proto.bind == "trx"
    return proto, esme, delivered


def receipt(n: int) -> Delivery:
    job = ReceiptJob(
        system_id="herald",
        submit_id=f"{n:08x}",
        text_id=f"{n:08x}",
        source_addr="Brand",
        source_ton=5,
        source_npi=0,
        destination_addr="447700900123",
        dest_ton=1,
        dest_npi=1,
        registered_delivery=1,
        preview="hello",
        submitted_at=1.7e9,
    )
    return ("receipt", job, "DELIVRD", "herald")


async def test_an_answer_makes_room_for_the_next_held_receipt() -> None:
    sim = Simulator(deliver_window=1)
    proto, esme, _ = await bound_transceiver(sim)
    for n in range(2):
        sim.switchboard.route(receipt(n))
    [first] = await esme.read()
    assert first.command_id == C.DELIVER_SM and len(proto.deliver_window.held) == 1
    esme.send(first.reply())
    [second] = await esme.read()
    assert second.command_id == C.DELIVER_SM and second.params != first.params
    assert sim.stats.receipts_acked == 1 and sim.stats.receipts_sent == 2


async def test_receipts_written_or_held_on_a_lost_connection_wait_for_the_next_receiver() -> None:
    sim = Simulator(deliver_window=1)
    proto, esme, _ = await bound_transceiver(sim)
    for n in range(3):
        sim.switchboard.route(receipt(n))
    assert len(await esme.read()) == 1 and len(proto.deliver_window.held) == 2
    proto.connection_lost(None)
    assert sim.pending("herald") == 3 and sim.stats.receipts_requeued == 3
    assert not sim.switchboard.connections and sim.stats.disconnects == 1
    again, esme, delivered = await bound_transceiver(sim)  # the next receiver gets them
    assert len(delivered) == 1 and len(again.deliver_window.held) == 2
    assert sim.pending("herald") == 0
