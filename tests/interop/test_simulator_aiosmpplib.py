"""aiosmpplib (PyPI, an asyncio ESME nobody here wrote) against our simulator, in one loop.

Configured around its known defects
(docs/decisions/0004-smpp-libraries-as-production-client.md): its SAR path crashes the ESME
(`auto_message_payload=False` without UDHI), so long messages go by UDH or by its default
message_payload; its UDH splitter counts characters, not septets, so the GSM text has no
extension characters; a vendor status drops its bind, so the simulator stays happy here. Its
default correlator scans everything per call (O(N)): harmless for a handful of messages.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmpplib import (
    ESME,
    NPI,
    TON,
    AbstractHook,
    BindMode,
    DeliverSm,
    PhoneNumber,
    SubmitSm,
    SubmitSmResp,
)
from aiosmpplib.broker import SimpleBroker

from herald.simulator import Simulator, personality_settings

SOURCE = PhoneNumber("Brand", TON.ALPHANUMERIC)
DEST = PhoneNumber("447700900123", TON.INTERNATIONAL, NPI.ISDN)
UCS2_TEXT = "Καλημέρα σας! Η παραγγελία σας είναι έτοιμη για παραλαβή. " * 3
PAYLOAD_TEXT = "A long notice sent in one message_payload TLV, no splitting at all. " * 5


class Hook(AbstractHook):
    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.errors: list[tuple[Any, Exception]] = []

    async def sending(self, smpp_message: Any, pdu: bytes, client_id: str) -> None:
        pass

    async def received(self, smpp_message: Any, pdu: bytes, client_id: str) -> None:
        if smpp_message is not None:
            self.messages.append(smpp_message)

    async def send_error(self, smpp_message: Any, error: Exception, client_id: str) -> None:
        self.errors.append((smpp_message, error))

    def receipts(self) -> list[DeliverSm]:
        return [m for m in self.messages if isinstance(m, DeliverSm) and m.is_receipt()]

    def responses(self) -> list[SubmitSmResp]:
        return [m for m in self.messages if isinstance(m, SubmitSmResp)]


class Client:
    """One aiosmpplib ESME running as a task, with its broker and hook."""

    def __init__(self, address: tuple[str, int], mode: BindMode = BindMode.TRANSCEIVER) -> None:
        self.hook, self.broker = Hook(), SimpleBroker()
        self.esme = ESME(
            address[0],
            address[1],
            "herald",
            "secret",
            bind_mode=mode,
            hook=self.hook,
            broker=self.broker,
            log_level=logging.WARNING,
        )
        self.task = asyncio.create_task(self.esme.start())

    async def submit(self, text: str, log_id: str, **options: Any) -> None:
        message = SubmitSm(
            short_message=text, source=SOURCE, destination=DEST, log_id=log_id, **options
        )
        await self.broker.enqueue(message)

    async def stop(self) -> None:
        await self.esme.stop()
        await self.task


async def test_single_udh_multipart_and_payload_messages_with_receipts() -> None:
    async with Simulator(personality_settings("happy")) as sim:
        client = Client(sim.address)
        await client.submit("Hello from aiosmpplib", "single")
        await client.submit(
            UCS2_TEXT, "udh", esm_class=0x40, auto_message_payload=False, encoding="ucs2"
        )
        await client.submit(PAYLOAD_TEXT, "payload")
        await sim.wait_for_receipts_acked(5)
        await client.stop()
        await sim.wait_for(lambda s: s.unbinds == 1)
        assert client.hook.errors == []

        single, *udh, payload = sim.submits
        assert (single.text, single.message_text, single.udh) == (
            "Hello from aiosmpplib",
            "Hello from aiosmpplib",
            None,
        )
        assert [r.udh["concat"]["seq"] for r in udh if r.udh] == [1, 2, 3]
        assert {r.data_coding for r in udh} == {0x08} and udh[-1].message_text == UCS2_TEXT
        assert payload.payload and payload.message_text == PAYLOAD_TEXT
        assert (single.source_addr, single.source_addr_ton) == ("Brand", TON.ALPHANUMERIC)

        # one receipt per part on the wire; aiosmpplib hands its hook one per message (a
        # part's, chosen by its segment correlator) and holds the others back
        assert sim.stats.receipts_acked == 5
        ids = [r.parse_receipt()["id"] for r in client.hook.receipts()]
        assert len(ids) == 3 and (ids[0], ids[2]) == (single.message_id, payload.message_id)
        assert ids[1] in {r.message_id for r in udh}
        assert {r.parse_receipt()["stat"] for r in client.hook.receipts()} == {"DELIVRD"}


async def test_receiver_bind_gets_the_receipts_of_a_transmitter() -> None:
    async with Simulator() as sim:
        receiver = Client(sim.address, BindMode.RECEIVER)
        transmitter = Client(sim.address, BindMode.TRANSMITTER)
        await sim.wait_for_binds(2)
        await transmitter.submit("Hello via two binds", "tx")
        await sim.wait_for_receipts_acked(1)
        (receipt,) = receiver.hook.receipts()
        assert receipt.parse_receipt()["id"] == sim.submits[0].message_id
        assert transmitter.hook.receipts() == []
        await transmitter.stop()
        await receiver.stop()


async def test_mobile_originated_message_reaches_its_hook() -> None:
    async with Simulator() as sim:
        client = Client(sim.address)
        await sim.wait_for_binds(1)
        assert await sim.send_mo("447700900123", "Brand", "STOP") == [0]
        (mo,) = [m for m in client.hook.messages if isinstance(m, DeliverSm)]
        assert not mo.is_receipt() and mo.short_message == "STOP"
        assert mo.source.number == "447700900123"
        await client.stop()
