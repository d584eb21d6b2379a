"""The carrier personality writes like common carrier SMSCs: each PDU in its own write, on a
socket without TCP_NODELAY; the default coalesces writes on a TCP_NODELAY socket."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from herald.simulator import Simulator, personality_settings
from herald.smpp import parse_receipt
from tests.integration.simulator_support import RawEsme


class WriteLog:
    """The server side's real transport, with each write it is given noted on the way."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


async def connected(spec: str) -> tuple[Simulator, RawEsme, Any]:
    sim = Simulator(personality_settings(spec))
    await sim.start()
    esme = await RawEsme.connect(sim.address)
    await sim.wait_for(lambda s: s.connections >= 1, what="the connection")
    (proto,) = sim.switchboard.connections
    return sim, esme, proto


@pytest.mark.parametrize(("spec", "nodelay"), [("carrier", False), ("happy", True)])
async def test_tcp_nodelay_is_off_only_for_the_carrier(spec: str, nodelay: bool) -> None:
    sim, esme, proto = await connected(spec)
    try:
        sock = proto.transport.get_extra_info("socket")
        assert bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)) is nodelay
    finally:
        await esme.close()
        await sim.stop()


async def test_carrier_writes_each_pdu_alone_receipt_after_its_response() -> None:
    sim, esme, proto = await connected("carrier")
    log = proto.transport = WriteLog(proto.transport)
    try:
        await esme.bind("trx")
        seqs = [esme.submit(f"message {i}".encode()) for i in range(3)]
        ids = [(await esme.response(seq))["message_id"] for seq in seqs]
        receipts = [parse_receipt(pdu) for pdu in await esme.deliveries(3)]
        assert [r.message_id for r in receipts if r] == ids
        # bind_transceiver_resp, then per submit its response and right after it its receipt
        assert len(log.writes) == 7
        commands = [int.from_bytes(w[4:8], "big") for w in log.writes]
        assert commands == [0x80000009, *[0x80000004, 0x00000005] * 3]
        assert all(int.from_bytes(w[:4], "big") == len(w) for w in log.writes)  # whole PDUs
    finally:
        await esme.close()
        await sim.stop()
