"""python-smpplib (PyPI `smpplib`, a threaded blocking client nobody here wrote) against our
simulator, which runs in the test's event loop while the client runs in a worker thread.

Configured around its known defects (docs/protocol.md §2.3): the default error handler
raises on any non-zero command_status, so one that records is installed; its GSM-7 splitting
can cut an escape pair and its table has a backtick for `§`, so the GSM texts here use neither
extension characters nor `§`; unknown TLVs raise unless allowed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm

from herald.simulator import Simulator, personality_settings

DEST = "447700900123"
UCS2_TEXT = "Καλημέρα σας! Η παραγγελία σας είναι έτοιμη για παραλαβή. " * 3
GSM_TEXT = "Your parcel is ready for collection at the depot on Main Street. " * 4


class Esme:
    """One smpplib client and what it saw; every call blocks (run it in a thread)."""

    def __init__(self, port: int) -> None:
        self.client = smpplib.client.Client(
            "127.0.0.1", port, timeout=5, allow_unknown_opt_params=True
        )
        self.sent: list[Any] = []  # submit_sm_resp
        self.received: list[Any] = []  # deliver_sm
        self.errors: list[Any] = []  # PDUs with a non-zero status
        self.client.set_message_sent_handler(lambda pdu: self.sent.append(pdu))
        self.client.set_message_received_handler(lambda pdu: self.received.append(pdu))
        self.client.set_error_pdu_handler(lambda pdu: self.errors.append(pdu))

    def bind(self, kind: str = "transceiver", password: str = "secret") -> None:
        self.client.connect()
        getattr(self.client, f"bind_{kind}")(system_id="herald", password=password)

    def send_text(self, text: str, *, use_udhi: bool = True, **extra: Any) -> int:
        parts, encoding, esm_class = smpplib.gsm.make_parts(text, use_udhi=use_udhi)
        for seq, part in enumerate(parts, 1):
            sar = (
                {}
                if use_udhi or len(parts) == 1
                else {
                    "sar_msg_ref_num": 77,
                    "sar_total_segments": len(parts),
                    "sar_segment_seqnum": seq,
                }
            )
            self.client.send_message(
                source_addr_ton=5,
                source_addr="Brand",
                dest_addr_ton=1,
                dest_addr_npi=1,
                destination_addr=DEST,
                short_message=part,
                data_coding=encoding,
                esm_class=esm_class,
                registered_delivery=1,
                **sar,
                **extra,
            )
        return len(parts)

    def read_until(self, done: Callable[[], bool], within: float = 10.0) -> None:
        deadline = time.monotonic() + within
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"smpplib: gave up; sent={self.sent} got={self.received}")
            self.client.read_once()

    def close(self) -> None:
        self.client.unbind()
        self.client.disconnect()


def receipted_ids(esme: Esme) -> list[str]:
    return sorted(p.receipted_message_id.decode() for p in esme.received)


async def test_transceiver_single_and_multipart_with_receipts() -> None:
    async with Simulator(personality_settings("happy")) as sim:
        esme = Esme(sim.address[1])

        def session() -> tuple[int, int]:
            esme.bind()
            n_ucs2 = esme.send_text(UCS2_TEXT)
            n_gsm = esme.send_text(GSM_TEXT)
            single = esme.send_text("Hello world")
            total = n_ucs2 + n_gsm + single
            esme.read_until(lambda: len(esme.sent) == total and len(esme.received) == total)
            esme.close()
            return n_ucs2, n_gsm

        n_ucs2, n_gsm = await asyncio.to_thread(session)
        assert (n_ucs2, n_gsm) == (3, 2) and esme.errors == []
        message_ids = sorted(p.message_id.decode() for p in esme.sent)
        assert receipted_ids(esme) == message_ids
        assert all(
            p.message_state == 2 and b"stat:DELIVRD" in p.short_message for p in esme.received
        )
        await sim.wait_for_disconnects(1)
        assert sim.stats.unbinds == 1 and sim.stats.receipts_acked == 6
        texts = [r.message_text for r in sim.submits if r.message_text]
        assert texts == [UCS2_TEXT, GSM_TEXT, "Hello world"]
        ucs2 = sim.submits[:3]
        assert [r.udh["concat"]["seq"] for r in ucs2 if r.udh] == [1, 2, 3]
        assert {r.data_coding for r in ucs2} == {smpplib.consts.SMPP_ENCODING_ISO10646}


async def test_sar_parts_are_reassembled() -> None:
    async with Simulator() as sim:
        esme = Esme(sim.address[1])

        def session() -> int:
            esme.bind()
            n = esme.send_text(UCS2_TEXT, use_udhi=False)
            esme.read_until(lambda: len(esme.sent) == n and len(esme.received) == n)
            esme.close()
            return n

        n = await asyncio.to_thread(session)
        assert [r.sar for r in sim.submits] == [
            {"reference": 77, "total": n, "seq": seq} for seq in range(1, n + 1)
        ]
        assert sim.submits[-1].message_text == UCS2_TEXT


async def test_receipts_for_a_transmitter_arrive_on_its_receiver() -> None:
    async with Simulator() as sim:
        tx, rx = Esme(sim.address[1]), Esme(sim.address[1])

        def session() -> None:
            tx.bind("transmitter")
            rx.bind("receiver")
            tx.send_text("Hello from the transmitter")
            tx.read_until(lambda: len(tx.sent) == 1)
            rx.read_until(lambda: len(rx.received) == 1)
            tx.close()
            rx.close()

        await asyncio.to_thread(session)
        assert receipted_ids(rx) == [tx.sent[0].message_id.decode()] and tx.received == []
        await sim.wait_for(lambda s: s.unbinds == 2)
        assert (sim.stats.binds_tx, sim.stats.binds_rx) == (1, 1)


async def test_error_statuses_reach_a_configured_handler() -> None:
    settings = personality_settings("vendor_status", errors=((0x401, 1.0),))
    async with Simulator(settings) as sim:
        esme = Esme(sim.address[1])

        def session() -> None:
            esme.bind()
            esme.send_text("one")
            esme.send_text("two")
            esme.read_until(lambda: len(esme.errors) == 2)
            esme.close()

        await asyncio.to_thread(session)
        assert [p.status for p in esme.errors] == [0x401, 0x401]
        assert sim.stats.receipts_sent == 0


async def test_wrong_password_is_refused() -> None:
    async with Simulator() as sim:
        client = smpplib.client.Client(
            "127.0.0.1", sim.address[1], timeout=5, allow_unknown_opt_params=True
        )

        def session() -> None:
            client.connect()
            try:
                client.bind_transceiver(system_id="herald", password="wrong")
            finally:
                client.disconnect()

        with pytest.raises(smpplib.exceptions.PDUError) as refused:
            await asyncio.to_thread(session)
        assert refused.value.args[1] == 0x0E
        assert sim.stats.bind_failures == 1


async def test_an_unanswered_unbind_ends_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """smpplib only logs an incoming unbind (no unbind_resp): the simulator closes anyway."""
    monkeypatch.setattr("herald.simulator.protocol.UNBIND_TIMEOUT", 0.05)
    async with Simulator(personality_settings("unbind_on_submit", unbind_after=1)) as sim:
        esme = Esme(sim.address[1])

        def session() -> None:
            esme.bind()
            esme.send_text("the only one")
            try:
                esme.read_until(lambda: False)
            except smpplib.exceptions.ConnectionError:
                return  # the simulator hung up: what we wait for
            finally:
                esme.client.disconnect()

        await asyncio.to_thread(session)
        assert len(esme.sent) == 1 and sim.stats.unbinds_sent == 1
        await sim.wait_for_disconnects(1)
