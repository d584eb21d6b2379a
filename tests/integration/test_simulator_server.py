"""The simulator's server side: credentials, receipt routing to receiver binds, MO messages,
malformed PDUs both ways, counters and the wait helpers."""

from __future__ import annotations

import struct

import pytest

from herald.simulator import Delay, Simulator, personality_settings
from herald.smpp import CommandId, Pdu, Tag, encode, inbound_message, parse_receipt
from herald.smpp.status import CommandStatus as S
from herald.text import decode_parts
from tests.integration.simulator_support import RawEsme

C = CommandId
HEADER = struct.Struct(">IIII")


# --- lifecycle ---------------------------------------------------------------------------------


async def test_the_address_is_known_once_listening() -> None:
    sim = Simulator()
    with pytest.raises(RuntimeError, match="not listening yet"):
        _ = sim.address
    assert await sim.start() == sim.address and sim.address[1] > 0
    await sim.stop()


# --- binds -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("system_id", "password", "status"),
    [
        ("herald", "secret", 0),
        ("herald", "wrong", S.ESME_RINVPASWD),
        ("nobody", "secret", S.ESME_RINVSYSID),
        ("other", "pw2", 0),
    ],
)
async def test_bind_checks_credentials(system_id: str, password: str, status: int) -> None:
    async with Simulator(personality_settings("happy", accounts={"other": "pw2"})) as sim:
        esme = await RawEsme.connect(sim.address)
        assert (await esme.bind("tx", system_id, password)).command_status == status
        assert (sim.stats.binds, sim.stats.bind_failures) == ((1, 0) if status == 0 else (0, 1))
        if status:  # refused: still unbound, so a submit is refused too
            esme.write_raw(encode(Pdu(C.SUBMIT_SM, sequence_number=9, destination_addr="1")))
            (stray,) = await esme.until(esme.strays)
            assert stray.pdu.command_status == S.ESME_RINVBNDSTS
        await esme.close()


async def test_bind_status_refuses_every_bind_and_accept_any_takes_anyone() -> None:
    async with Simulator(bind_status=S.ESME_RBINDFAIL) as sim:
        esme = await RawEsme.connect(sim.address)
        assert (await esme.bind()).command_status == S.ESME_RBINDFAIL
        await esme.close()
    async with Simulator(accept_any_credentials=True) as sim:
        esme = await RawEsme.connect(sim.address)
        assert (await esme.bind("trx", "anyone", "x")).command_status == 0
        assert sim.bound("anyone") == ["trx"]
        await esme.close()


async def test_a_receiver_cannot_submit_and_enquire_link_is_answered() -> None:
    async with Simulator() as sim:
        esme = await RawEsme.connect(sim.address)
        await esme.bind("rx")
        esme.write_raw(encode(Pdu(C.SUBMIT_SM, sequence_number=9, destination_addr="1")))
        (stray,) = await esme.until(esme.strays)
        assert (stray.pdu.command_id, stray.pdu.command_status) == (
            C.SUBMIT_SM_RESP,
            S.ESME_RINVBNDSTS,
        )
        await esme.response(esme.send(Pdu(C.ENQUIRE_LINK)))
        assert sim.stats.enquire_links == 1 and sim.stats.submits == 0
        await esme.close()


# --- receipts routing ----------------------------------------------------------------------------


async def test_receipts_for_a_transmitter_wait_for_a_receiver_of_that_system_id() -> None:
    async with Simulator(accounts={"other": "pw"}) as sim:
        tx = await RawEsme.connect(sim.address)
        await tx.bind("tx")
        message_id = (await tx.response(tx.submit()))["message_id"]
        await sim.wait_for(lambda s: sim.pending("herald") == 1)
        stranger = await RawEsme.connect(sim.address)  # another account's receiver gets nothing
        await stranger.bind("rx", "other", "pw")
        rx = await RawEsme.connect(sim.address)
        await rx.bind("rx")
        (pdu,) = await rx.deliveries(1)
        receipt = parse_receipt(pdu)
        assert receipt is not None and receipt.message_id == message_id
        await sim.wait_for_receipts_acked(1)
        assert sim.pending() == 0 and stranger.delivered() == [] and tx.delivered() == []
        for esme in (tx, rx, stranger):
            await esme.close()


async def test_receipts_go_back_on_the_transceiver_that_submitted() -> None:
    async with Simulator() as sim:
        first, second = await RawEsme.connect(sim.address), await RawEsme.connect(sim.address)
        await first.bind("trx")
        await second.bind("trx")
        seqs = [first.submit() for _ in range(4)]
        for seq in seqs:
            await first.response(seq)
        await first.deliveries(4)
        await sim.wait_for_receipts_acked(4)
        assert second.delivered() == []
        await first.close()
        await second.close()


async def test_an_unacknowledged_receipt_is_delivered_again_after_a_disconnect() -> None:
    async with Simulator() as sim:
        esme = await RawEsme.connect(sim.address)
        esme.auto_ack = False
        await esme.bind("trx")
        await esme.response(esme.submit())
        (first,) = await esme.deliveries(1)
        await esme.close()
        await sim.wait_for_disconnects(1)
        assert sim.stats.receipts_requeued == 1 and sim.pending("herald") == 1
        again = await RawEsme.connect(sim.address)
        await again.bind("rx")
        (second,) = await again.deliveries(1)
        assert second.tlvs[Tag.RECEIPTED_MESSAGE_ID] == first.tlvs[Tag.RECEIPTED_MESSAGE_ID]
        await sim.wait_for_receipts_acked(1)
        await again.close()


async def test_registered_delivery_selects_which_receipts_come() -> None:
    settings = personality_settings("happy", outcomes=(("UNDELIV", 1.0),), intermediate="ENROUTE")
    async with Simulator(settings) as sim:
        esme = await RawEsme.connect(sim.address)
        await esme.bind()
        none = esme.submit(registered_delivery=0)
        failure_only = esme.submit(registered_delivery=2)
        with_intermediate = esme.submit(registered_delivery=0x11)
        ids = {
            seq: (await esme.response(seq))["message_id"]
            for seq in (none, failure_only, with_intermediate)
        }
        pdus = await esme.deliveries(4)
        got = [
            (parse_receipt(p).message_id, parse_receipt(p).state, p["esm_class"])  # type: ignore[union-attr]
            for p in pdus
        ]
        assert sorted(got) == sorted(
            [
                (ids[failure_only], "ENROUTE", 0x04),
                (ids[failure_only], "UNDELIV", 0x04),
                (ids[with_intermediate], "ENROUTE", 0x20),
                (ids[with_intermediate], "UNDELIV", 0x04),
            ]
        )
        assert pdus[-1].tlvs[Tag.NETWORK_ERROR_CODE] == b"\x03\x00\x01"
        await esme.close()


async def submitted_and_delivered(sim: Simulator, n: int, deliveries: int) -> tuple[list, list]:
    """n submits on a fresh transceiver: their message ids in order, then the first
    `deliveries` deliver_sm it got back."""
    esme = await RawEsme.connect(sim.address)
    await esme.bind()
    seqs = [esme.submit() for _ in range(n)]
    ids = [(await esme.response(s))["message_id"] for s in seqs]
    pdus = await esme.deliveries(deliveries)
    await esme.close()
    return ids, pdus


async def test_outcome_mix_and_delay_follow_the_seed() -> None:
    settings = personality_settings(
        "mixed_outcomes", receipt_delay=Delay.uniform(0.0, 0.01), seed=5
    )

    async def states() -> list[str]:
        async with Simulator(settings) as sim:
            order, pdus = await submitted_and_delivered(sim, 30, 60)
            final = {r.message_id: r.state for p in pdus if (r := parse_receipt(p)) and r.final}
            return [final[i] for i in order]

    first = await states()
    assert set(first) <= {"DELIVRD", "UNDELIV", "EXPIRED", "REJECTD", "DELETED", "UNKNOWN"}
    assert "DELIVRD" in first and len(set(first)) > 1
    assert await states() == first


async def test_delayed_receipts_sharing_a_timer_keep_their_order() -> None:
    # Delays of 0-4 ms: hundreds of receipts share a handful of millisecond timers.
    settings = personality_settings(
        "happy", intermediate="ENROUTE", receipt_delay=Delay.uniform(0.0, 0.004), seed=3
    )
    async with Simulator(settings) as sim:
        ids, pdus = await submitted_and_delivered(sim, 200, 400)
        seen = [(r.message_id, r.state) for p in pdus if (r := parse_receipt(p))]
        assert sorted(seen) == sorted((i, s) for i in ids for s in ("ENROUTE", "DELIVRD"))
        # each intermediate notification (due at half the delay) before its final receipt
        assert all(seen.index((i, "ENROUTE")) < seen.index((i, "DELIVRD")) for i in ids)
        assert sim.stats.receipts_sent == 400


async def test_the_deliver_window_holds_receipts_until_earlier_ones_are_answered() -> None:
    async with Simulator(deliver_window=2) as sim:
        esme = await RawEsme.connect(sim.address)
        esme.auto_ack = False  # this ESME answers deliver_sm only when told to
        await esme.bind()
        for seq in [esme.submit() for _ in range(5)]:
            await esme.response(seq)

        async def settled() -> list[Pdu]:
            # An enquire_link answered means the simulator wrote what it was going to.
            await esme.response(esme.send(Pdu(C.ENQUIRE_LINK)))
            return esme.delivered()

        first = await settled()
        assert len(first) == 2 and sim.stats.receipts_sent == 2
        esme.send(first[0].reply())
        await esme.deliveries(3)
        assert len(await settled()) == 3  # one answer, room for one more
        for pdu in (await settled())[1:]:
            esme.send(pdu.reply())
        assert len(await esme.deliveries(5)) == 5
        for pdu in esme.delivered()[3:]:
            esme.send(pdu.reply())
        await sim.wait_for_receipts_acked(5)
        await esme.close()


# --- mobile-originated messages ----------------------------------------------------------------


async def test_send_mo_reaches_a_receiver_and_returns_the_acknowledgements() -> None:
    async with Simulator() as sim:
        esme = await RawEsme.connect(sim.address)
        await esme.bind("rx")
        assert await sim.send_mo("447700900123", "Brand", "STOP") == [0]
        (pdu,) = esme.delivered()
        message = inbound_message(pdu)
        assert (message.source_addr, message.destination_addr, message.text()) == (
            "447700900123",
            "Brand",
            "STOP",
        )
        assert (message.source_addr_ton, message.dest_addr_ton) == (1, 5)
        long_text = "Ünsubscribe me please — " * 5
        assert await sim.send_mo("447700900123", "55555", long_text) == [0, 0]
        parts = esme.delivered()[1:]
        assert all(p["esm_class"] == 0x40 and p["data_coding"] == 0x08 for p in parts)
        assert decode_parts([p.octets("short_message") for p in parts], 0x08) == long_text
        assert (sim.stats.mo_sent, sim.stats.mo_acked) == (3, 3)
        await esme.close()


async def test_send_mo_waits_for_a_receiver_to_bind() -> None:
    async with Simulator() as sim:
        import asyncio

        pending = asyncio.create_task(sim.send_mo("447700900123", "Brand", "STOP"))
        await sim.wait_for(lambda s: sim.pending() == 1)
        esme = await RawEsme.connect(sim.address)
        await esme.bind("trx")
        assert await pending == [0]
        await esme.close()


# --- malformed PDUs ----------------------------------------------------------------------------


async def test_malformed_submit_is_answered_and_the_bind_survives() -> None:
    async with Simulator() as sim:
        esme = await RawEsme.connect(sim.address)
        await esme.bind()
        esme.write_raw(HEADER.pack(16 + 3, C.SUBMIT_SM, 0, 77) + b"\0\x01\x01")  # cut short
        esme.write_raw(HEADER.pack(16, 0x00000444, 0, 78))  # no such command
        await esme.until(lambda: len(esme.strays()) >= 2)
        answers = {e.pdu.sequence_number: e.pdu for e in esme.strays()}
        assert answers[77].command_id == C.SUBMIT_SM_RESP and answers[77].command_status != 0
        assert answers[78].command_id == C.GENERIC_NACK
        assert answers[78].command_status == S.ESME_RINVCMDID
        assert (await esme.response(esme.submit())).command_status == 0
        assert sim.stats.malformed_received == 2
        await esme.close()


async def test_an_unframeable_length_is_nacked_then_closed() -> None:
    async with Simulator() as sim:
        esme = await RawEsme.connect(sim.address)
        await esme.bind()
        esme.write_raw(HEADER.pack(8, C.SUBMIT_SM, 0, 99))
        await esme.closed()
        (nack,) = esme.strays()
        assert (nack.pdu.command_id, nack.pdu.command_status) == (
            C.GENERIC_NACK,
            S.ESME_RINVCMDLEN,
        )
        await esme.close()


@pytest.mark.parametrize("kind", ["unknown_command", "no_nul", "bad_length"])
async def test_malformed_answers_are_injected(kind: str) -> None:
    settings = personality_settings(
        "happy", malformed_share=1.0, malformed_kind=kind, receipts=False
    )
    async with Simulator(settings) as sim:
        esme = await RawEsme.connect(sim.address)
        await esme.bind()
        seq = esme.submit()
        if kind == "unknown_command":  # a request we must nack, then the real answer
            assert (await esme.response(seq)).command_status == 0
            (violation,) = esme.violations()
            assert violation.reply is not None and violation.reply.command_id == C.GENERIC_NACK
        elif kind == "no_nul":  # the response cannot be read: our submit's outcome is unknown
            violation = await esme.until(lambda: esme.violations() and esme.violations()[0])
            assert violation.pdu is None and seq not in esme.responses()
        else:  # the stream cannot be framed any more
            await esme.until(lambda: esme.fatal is not None)
        assert sim.stats.malformed_sent == 1
        await esme.close()


# --- the API ------------------------------------------------------------------------------------


async def test_wait_helpers_time_out_with_the_counters() -> None:
    async with Simulator() as sim:
        with pytest.raises(TimeoutError, match=r"3 submits.*'submits': 0"):
            await sim.wait_for_submits(3, timeout=0.01)


async def test_stop_closes_connections_and_disconnect_cuts_them() -> None:
    sim = Simulator()
    address = await sim.start()
    assert address[1] > 0 and sim.address == address
    first, second = await RawEsme.connect(address), await RawEsme.connect(address)
    await first.bind()
    await second.bind("rx")
    assert sim.bound() == ["rx", "trx"]
    assert sim.disconnect("herald") == 2
    await first.closed()
    await second.closed()
    third = await RawEsme.connect(address)
    await third.bind()
    await sim.stop()
    await third.closed()
    assert sim.stats.disconnects == 3 and sim.stats.drops == 2
    for esme in (first, second, third):
        await esme.close()


async def test_disconnect_with_unbind_is_polite() -> None:
    async with Simulator() as sim:
        esme = await RawEsme.connect(sim.address)
        await esme.bind()
        sim.disconnect(unbind=True)
        await esme.closed()
        assert sim.stats.unbinds_sent == 1 and sim.stats.drops == 0
        await esme.close()


async def test_data_sm_is_accepted_like_a_submit() -> None:
    async with Simulator() as sim:
        esme = await RawEsme.connect(sim.address)
        await esme.bind()
        seq = esme.send(
            Pdu(
                C.DATA_SM,
                source_addr="Brand",
                destination_addr="447700900123",
                registered_delivery=1,
                tlvs={Tag.MESSAGE_PAYLOAD: b"payload"},
            )
        )
        response = await esme.response(seq)
        assert response.command_id == C.DATA_SM_RESP and response["message_id"]
        (record,) = sim.submits
        assert (record.command, record.payload, record.text) == ("data_sm", True, "payload")
        await esme.deliveries(1)
        await esme.close()
