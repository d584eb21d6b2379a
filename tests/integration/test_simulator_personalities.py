"""Each named personality, on the wire, against a raw ESME built from the sans-I/O core."""

from __future__ import annotations

import asyncio

import pytest

from herald.simulator import Delay, Simulator, personality_settings
from herald.smpp import CommandId, IdMode, Pdu, Response, parse_receipt
from herald.smpp.status import CommandStatus as S
from tests.integration.simulator_support import RawEsme

C = CommandId


class FrozenClock:
    """The throttle's clock, moved only by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_happy_accepts_and_sends_one_receipt_per_part() -> None:
    async with Simulator(personality_settings("happy")) as sim:
        esme = await RawEsme.connect(sim.address)
        bind = await esme.bind("trx")
        assert bind.command_status == 0 and bind["system_id"] == "herald-sim"
        seqs = [esme.submit(f"message {i}".encode()) for i in range(3)]
        ids = [(await esme.response(seq))["message_id"] for seq in seqs]
        assert len(set(ids)) == 3
        receipts = [parse_receipt(pdu) for pdu in await esme.deliveries(3)]
        assert [r.message_id for r in receipts if r] == ids
        assert all(r is not None and r.state == "DELIVRD" and r.id_from_tlv for r in receipts)
        await sim.wait_for_receipts_acked(3)
        stats = sim.stats
        assert (stats.binds_trx, stats.submits, stats.accepted) == (1, 3, 3)
        assert (stats.receipts_sent, stats.receipts_acked) == (3, 3)
        await esme.close()


async def test_receipt_carries_tlvs_and_appendix_b_text() -> None:
    async with Simulator(personality_settings("happy")) as sim:
        esme = await RawEsme.connect(sim.address)
        await esme.bind()
        seq = esme.submit(b"Hello there, this is longer than twenty characters")
        message_id = (await esme.response(seq)).text("message_id")
        (pdu,) = await esme.deliveries(1)
        assert pdu["esm_class"] == 0x04
        assert (pdu["source_addr"], pdu["destination_addr"]) == ("447700900123", "Brand")
        assert pdu.tlvs[0x001E] == message_id
        assert pdu.tlvs[0x0427] == 2
        assert pdu.tlvs[0x0423] == b"\x03\x00\x00"
        text = pdu.octets("short_message").decode()
        assert text.startswith(f"id:{message_id} sub:001 dlvrd:001 submit date:")
        assert " stat:DELIVRD err:000 text:Hello there, this is" in text
        receipt = parse_receipt(pdu)
        assert receipt is not None and receipt.submit_date and len(receipt.submit_date) == 10
        await esme.close()


async def test_black_hole_never_answers_a_submit() -> None:
    async with Simulator(personality_settings("black_hole")) as sim:
        esme = await RawEsme.connect(sim.address)
        await esme.bind()
        submit = esme.submit()
        # answers go out in order: the enquire_link_resp proves the submit was read and dropped
        link = esme.send(Pdu(C.ENQUIRE_LINK))
        await esme.response(link)
        assert submit not in esme.responses()
        assert (sim.stats.submits, sim.stats.submits_unanswered) == (1, 1)
        assert sim.submits[0].status is None
        await esme.close()


@pytest.mark.parametrize(
    ("spec", "status"), [("throttling", S.ESME_RTHROTTLED), ("queue_full", S.ESME_RMSGQFUL)]
)
async def test_throttling_is_a_token_bucket_per_system_id(spec: str, status: int) -> None:
    clock = FrozenClock()
    settings = personality_settings(spec, throttle_rate=2.0, throttle_burst=3)
    async with Simulator(settings, clock=clock) as sim:
        esme = await RawEsme.connect(sim.address)
        await esme.bind()
        first = [esme.submit() for _ in range(5)]
        answers = [(await esme.response(s)).command_status for s in first]
        assert answers == [0, 0, 0, status, status]
        clock.now += 1.0  # two tokens at 2/s
        later = [esme.submit() for _ in range(3)]
        assert [(await esme.response(s)).command_status for s in later] == [0, 0, status]
        assert sim.stats.throttled == 3
        assert sim.stats.submits_by_status == {0: 5, status: 3}
        await esme.close()


async def test_throttling_can_start_at_run_time() -> None:
    clock = FrozenClock()
    async with Simulator(personality_settings("happy"), clock=clock) as sim:
        esme = await RawEsme.connect(sim.address)
        await esme.bind()
        assert (await esme.response(esme.submit())).command_status == 0
        sim.set_personality("throttling", throttle_rate=1.0, throttle_burst=1)
        seqs = [esme.submit() for _ in range(2)]
        assert [(await esme.response(s)).command_status for s in seqs] == [0, S.ESME_RTHROTTLED]
        sim.configure(throttle_rate=None)
        assert (await esme.response(esme.submit())).command_status == 0
        await esme.close()


async def test_generic_nack_answers_submits() -> None:
    async with Simulator(personality_settings("generic_nack")) as sim:
        esme = await RawEsme.connect(sim.address)
        await esme.bind()
        seq = esme.submit()
        pdu = await esme.response(seq)
        assert pdu.command_id == C.GENERIC_NACK and pdu.command_status == S.ESME_RINVCMDID
        assert sim.stats.generic_nacks == 1
        await esme.close()


async def test_unbind_on_submit_sends_unbind_after_n_submits() -> None:
    async with Simulator(personality_settings("unbind_on_submit", unbind_after=2)) as sim:
        esme = await RawEsme.connect(sim.address)
        await esme.bind()
        seqs = [esme.submit(), esme.submit()]
        for seq in seqs:
            assert (await esme.response(seq)).command_status == 0
        unbind = await esme.until(
            lambda: [e for e in esme.log if isinstance(e, Pdu) and e.command_id == C.UNBIND]
        )
        assert unbind
        await esme.closed()  # we answered unbind_resp; the simulator then closed TCP
        await sim.wait_for_disconnects(1)
        assert sim.stats.unbinds_sent == 1
        await esme.close()


async def test_vendor_status_is_seeded_and_reproducible() -> None:
    async def statuses(seed: int) -> list[int]:
        async with Simulator(personality_settings("vendor_status", seed=seed)) as sim:
            esme = await RawEsme.connect(sim.address)
            await esme.bind()
            seqs = [esme.submit() for _ in range(20)]
            result = [(await esme.response(s)).command_status for s in seqs]
            await esme.close()
            return result

    first = await statuses(7)
    assert set(first) == {0, 0x401}
    assert await statuses(7) == first


async def test_injected_errors_take_their_share() -> None:
    settings = personality_settings("happy", errors=((S.ESME_RSUBMITFAIL, 1.0),))
    async with Simulator(settings) as sim:
        esme = await RawEsme.connect(sim.address)
        await esme.bind()
        pdu = await esme.response(esme.submit())
        assert pdu.command_status == S.ESME_RSUBMITFAIL and pdu["message_id"] == ""
        assert sim.stats.receipts_sent == 0
        await esme.close()


async def test_early_receipt_is_on_the_wire_before_its_response() -> None:
    async with Simulator(personality_settings("early_receipt")) as sim:
        esme = await RawEsme.connect(sim.address)
        await esme.bind()
        seq = esme.submit()
        response = await esme.response(seq)
        kinds = [
            "receipt" if isinstance(e, Pdu) else "response"
            for e in esme.log
            if isinstance(e, Pdu) or (isinstance(e, Response) and e.request_id == C.SUBMIT_SM)
        ]
        assert kinds == ["receipt", "response"]
        receipt = parse_receipt(esme.delivered()[0])
        assert receipt is not None and receipt.message_id == response["message_id"]
        await esme.close()


async def test_flaky_link_closes_after_n_pdus() -> None:
    async with Simulator(personality_settings("happy", drop_after_pdus=3)) as sim:
        esme = await RawEsme.connect(sim.address)
        await esme.bind()
        seqs = [esme.submit() for _ in range(3)]
        await esme.closed()
        answered = [s for s in seqs if s in esme.responses()]
        assert len(answered) == 2  # bind + 2 submits answered, then TCP closed
        await sim.wait_for_disconnects(1)
        assert sim.stats.drops == 1
        await esme.close()


async def test_flaky_link_drops_at_random_reproducibly() -> None:
    async def answered(seed: int) -> int:
        settings = personality_settings("flaky_link", drop_probability=0.2, seed=seed)
        async with Simulator(settings) as sim:
            esme = await RawEsme.connect(sim.address)
            seq = esme.send(Pdu(C.ENQUIRE_LINK))  # stays unbound: only enquire_links
            count = 0
            while not esme.eof:

                def settled(s: int = seq) -> bool:  # s: bound now, seq changes in the loop
                    return s in esme.responses() or esme.eof

                await esme.until(settled)
                if esme.eof:
                    break
                count += 1
                seq = esme.send(Pdu(C.ENQUIRE_LINK))
            await sim.wait_for_disconnects(1)
            assert sim.stats.drops == 1
            await esme.close()
            return count

    assert await answered(3) == await answered(3)


async def test_slow_answers_after_its_latency() -> None:
    settings = personality_settings("happy", latency=Delay.fixed(0.05))
    async with Simulator(settings) as sim:
        esme = await RawEsme.connect(sim.address)
        await esme.bind()
        loop = asyncio.get_running_loop()
        started = loop.time()
        await esme.response(esme.submit())
        assert loop.time() - started >= 0.05
        await esme.close()


async def test_held_answers_go_out_in_order_with_their_receipts_on_release() -> None:
    async with Simulator(personality_settings("happy")) as sim:
        esme = await RawEsme.connect(sim.address)
        await esme.bind("trx")
        sim.hold_answers()
        seqs = [esme.submit(f"held {i}".encode()) for i in range(3)]
        # answered in order otherwise: the enquire_link_resp proves the submits were read
        await esme.response(esme.send(Pdu(C.ENQUIRE_LINK)))
        assert not set(seqs) & set(esme.responses())
        assert (sim.stats.submits, sim.stats.receipts_sent) == (3, 0)
        assert sim.release_answers() == 3
        ids = [(await esme.response(seq))["message_id"] for seq in seqs]
        receipts = [parse_receipt(pdu) for pdu in await esme.deliveries(3)]
        assert [r.message_id for r in receipts if r] == ids
        # answered at once again
        assert (await esme.response(esme.submit(b"after")))["message_id"]
        assert sim.release_answers() == 0
        await esme.close()


async def test_nexmo_ids_differ_in_base_between_response_and_receipt() -> None:
    async with Simulator(personality_settings("nexmo")) as sim:
        esme = await RawEsme.connect(sim.address)
        await esme.bind()
        message_id = (await esme.response(esme.submit())).text("message_id")
        assert message_id == message_id.upper() and not message_id.isdigit()
        (pdu,) = await esme.deliveries(1)
        text_id = pdu.octets("short_message").split()[0].decode()[3:]
        assert text_id.isdigit() and len(text_id) == 10
        assert int(text_id) == int(message_id, 16)
        receipt = parse_receipt(pdu)
        assert receipt is not None
        assert receipt.canonical_id(IdMode.SUBMIT_HEX_DLR_DEC) == str(int(message_id, 16))
        await esme.close()


async def test_text_receipts_carry_no_tlvs() -> None:
    async with Simulator(personality_settings("text_receipts")) as sim:
        esme = await RawEsme.connect(sim.address)
        await esme.bind()
        message_id = (await esme.response(esme.submit()))["message_id"]
        (pdu,) = await esme.deliveries(1)
        assert pdu.tlvs == {}
        receipt = parse_receipt(pdu)
        assert receipt is not None and not receipt.id_from_tlv
        assert (receipt.message_id, receipt.state) == (message_id, "DELIVRD")
        await esme.close()


async def test_nack_per_message_nacks_some_submits_by_their_own_sequence() -> None:
    async with Simulator(personality_settings("nack_per_message", seed=5)) as sim:
        esme = await RawEsme.connect(sim.address)
        await esme.bind()
        seqs = [esme.submit() for _ in range(30)]
        answers = {seq: await esme.response(seq) for seq in seqs}
        nacks = [s for s, pdu in answers.items() if pdu.command_id == C.GENERIC_NACK]
        assert 0 < len(nacks) < 30 and sim.stats.generic_nacks == len(nacks)
        assert {answers[s].command_status for s in nacks} == {S.ESME_RINVCMDID}
        assert all(answers[s].sequence_number == s for s in seqs)  # each its own
        assert sim.stats.accepted == 30 - len(nacks) and not esme.strays()
        await esme.close()


async def test_unbind_mid_window_sends_its_unbind_before_the_answers_it_owes() -> None:
    async with Simulator(personality_settings("unbind_mid_window", receipts=False)) as sim:
        esme = await RawEsme.connect(sim.address)
        await esme.bind()
        seqs = [esme.submit() for _ in range(10)]  # one write: the whole window at once
        answers = [await esme.response(seq) for seq in seqs]
        assert [a.command_status for a in answers] == [0] * 10  # all taken
        kinds = [e.pdu.sequence_number if isinstance(e, Response) else e.name for e in esme.log]
        assert kinds[kinds.index("unbind") - 5 :] == [*seqs[:5], "unbind", *seqs[5:]]
        await esme.closed()  # we answered its unbind; it then closed TCP
        assert sim.stats.unbinds_sent == 1
        await esme.close()
