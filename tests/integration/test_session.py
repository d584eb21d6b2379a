"""The SMPP session against a scripted SMSC on 127.0.0.1: binding, submitting, the window,
receipts, closing. Time is fake (timeouts and throttling happen when the test says so)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from herald.errors import LocalProtocolError, SessionClosedError
from herald.metrics import BindStats
from herald.smpp.layouts import CommandId, Tag
from herald.smpp.pdu import Pdu
from herald.smpp.session import Session, SessionSettings
from herald.smpp.submit import SubmitOutcome

from .session_support import FakeTime, ScriptedSmsc, bound, settle, submit

C = CommandId
ACCEPTED, REJECTED, RETRY = SubmitOutcome.ACCEPTED, SubmitOutcome.REJECTED, SubmitOutcome.RETRY
UNKNOWN, NOT_SENT = SubmitOutcome.UNKNOWN, SubmitOutcome.NOT_SENT


def receipt(message_id: str, seq_text: str = "DELIVRD") -> Pdu:
    return Pdu(
        C.DELIVER_SM,
        source_addr="447700900123",
        destination_addr="Herald",
        esm_class=4,
        short_message=f"id:{message_id} sub:001 dlvrd:001 stat:{seq_text} err:000".encode(),
        tlvs={Tag.RECEIPTED_MESSAGE_ID: message_id, Tag.MESSAGE_STATE: 2},
    )


# --- binding and submitting -------------------------------------------------------------------


async def test_binds_transceiver_and_resolves_accepted_and_rejected(
    make: Callable[..., Session], smsc: ScriptedSmsc, fake: FakeTime
) -> None:
    states: list[str] = []
    stats = BindStats("test")
    session = await bound(make(on_state=states.append, stats=stats, system_type="CMT"))
    bind = smsc.binds[0]
    assert bind.command_id == C.BIND_TRANSCEIVER
    assert (bind["system_id"], bind["password"], bind["system_type"]) == ("herald", "secret", "CMT")
    assert bind["interface_version"] == 0x34

    smsc.on_submit = lambda peer, pdu: (
        (0x0B,) if pdu.text("destination_addr").endswith("0") else (0, "00c085e0")
    )
    ok = await submit(session, "447700900123", b"hello", registered_delivery=1)
    bad = await submit(session, "447700900120")
    assert ok.outcome is ACCEPTED and ok.message_id == "00c085e0" and ok.canonical_id == "C085E0"
    assert ok.command_status == 0 and ok.status_name == "ESME_ROK" and ok.sent_at == fake.now
    assert bad.outcome is REJECTED and bad.command_status == 0x0B
    assert bad.status_name == "ESME_RINVDSTADR" and bad.message_id == ""

    first = smsc.submits[0]
    assert (first["source_addr"], first["source_addr_ton"], first["source_addr_npi"]) == (
        "Herald",
        5,
        0,
    )
    assert first["short_message"] == b"hello" and first["registered_delivery"] == 1
    assert dict(stats.submits) == {"ok": 1, "permanent": 1} and stats.segments_sent == 1
    assert (stats.state(), stats.window_in_use(), stats.rate()) == ("bound", 0, 1e6)
    assert states == ["connecting", "bound"]
    await session.close()
    assert states == ["connecting", "bound", "unbinding", "closed"]
    assert len(smsc.unbinds) == 1 and stats.state() == "closed"


async def test_message_ids_are_canonicalised_per_the_bind_id_mode(
    make: Callable[..., Session], smsc: ScriptedSmsc
) -> None:
    session = await bound(make(id_mode="submit_hex_dlr_dec"))
    smsc.on_submit = lambda peer, pdu: (0, "C085E0")
    result = await submit(session)
    assert (result.message_id, result.canonical_id) == ("C085E0", "12617184")


async def test_every_submit_field_reaches_the_smsc(
    make: Callable[..., Session], smsc: ScriptedSmsc
) -> None:
    session = await bound(make(service_type="WAP"))
    udh = bytes.fromhex("0500032a0201")
    result = await session.submit(
        source_addr="447700900999",
        source_ton=1,
        source_npi=1,
        destination_addr="34600000001",
        dest_ton=1,
        dest_npi=1,
        esm_class=0x40,
        data_coding=0x08,
        short_message=udh + b"\0h",
        tlvs=bytes.fromhex("020400020007"),
        registered_delivery=0,
        validity_period="000001000000R",
        priority_flag=1,
    )
    assert result.outcome is ACCEPTED
    pdu = smsc.submits[0]
    assert pdu.fields() | {"sm_length": 0} == {
        "service_type": "WAP",
        "source_addr_ton": 1,
        "source_addr_npi": 1,
        "source_addr": "447700900999",
        "dest_addr_ton": 1,
        "dest_addr_npi": 1,
        "destination_addr": "34600000001",
        "esm_class": 0x40,
        "protocol_id": 0,
        "priority_flag": 1,
        "schedule_delivery_time": "",
        "validity_period": "000001000000R",
        "registered_delivery": 0,
        "replace_if_present_flag": 0,
        "data_coding": 8,
        "sm_default_msg_id": 0,
        "short_message": udh + b"\0h",
        "sm_length": 0,
    }
    assert pdu.tlvs == {Tag.USER_MESSAGE_REFERENCE: 7}


async def test_a_part_that_cannot_be_encoded_fails_its_caller_at_once(
    make: Callable[..., Session],
) -> None:
    session = await bound(make())
    with pytest.raises(LocalProtocolError, match="destination_addr"):
        submit(session, "4" * 30)
    with pytest.raises(LocalProtocolError, match="short_message"):
        submit(session, text=b"x" * 255)
    assert session.queued == 0 and session.in_flight == 0


async def test_not_bound_means_not_sent_at_once(make: Callable[..., Session]) -> None:
    session = make()
    assert (await submit(session)).outcome is NOT_SENT  # never started
    await session.start()
    early = submit(session)  # still connecting
    assert early.done() and early.result().outcome is NOT_SENT
    await session.wait_bound(5)
    assert (await submit(session)).outcome is ACCEPTED


# --- the window and FIFO order ----------------------------------------------------------------


async def test_window_is_never_exceeded_and_parts_go_out_in_order(
    make: Callable[..., Session], smsc: ScriptedSmsc
) -> None:
    session = await bound(make(window=3))
    smsc.on_submit = lambda peer, pdu: None  # hold every answer
    futures = [submit(session, f"4477009{i:05d}") for i in range(12)]
    await smsc.wait(lambda: len(smsc.submits) == 3, "3 submits")
    await settle()
    assert len(smsc.submits) == 3 and session.in_flight == 3 and session.queued == 9
    peer = smsc.peer

    def more_than(seen: int) -> Callable[[], bool]:
        return lambda: len(smsc.submits) > seen

    # answer out of order, one or two at a time; the session refills the window each time
    while len(smsc.submits) < 12:
        held = sorted(peer.outstanding.values(), key=lambda p: -p.sequence_number)
        for pdu in held[:2]:
            peer.answer(pdu)
        await smsc.wait(more_than(len(smsc.submits)), "the window refilled")
        await settle()
        assert len(peer.outstanding) <= 3
    for pdu in list(peer.outstanding.values()):
        peer.answer(pdu)
    await asyncio.gather(*futures)
    assert peer.max_outstanding == 3
    assert [p["destination_addr"] for p in smsc.submits] == [f"4477009{i:05d}" for i in range(12)]
    assert all(f.result().outcome is ACCEPTED for f in futures)
    assert len({f.result().message_id for f in futures}) == 12


async def test_a_cancelled_queued_submit_is_skipped(
    make: Callable[..., Session], smsc: ScriptedSmsc
) -> None:
    session = await bound(make(window=1))
    smsc.on_submit = lambda peer, pdu: None
    first, second, third = (submit(session, f"44770090000{i}") for i in range(3))
    await smsc.wait(lambda: len(smsc.submits) == 1, "the first submit")
    second.cancel()
    smsc.peer.answer(smsc.submits[0])
    await smsc.wait(lambda: len(smsc.submits) == 2, "the next submit")
    assert smsc.submits[1]["destination_addr"] == "447700900002"
    smsc.peer.answer(smsc.submits[1])
    assert (await first).outcome is ACCEPTED and (await third).outcome is ACCEPTED


# --- receipts and inbound messages ------------------------------------------------------------


async def test_deliver_sm_is_answered_only_once_on_deliver_is_done(
    make: Callable[..., Session], smsc: ScriptedSmsc
) -> None:
    kept: list[Pdu] = []
    loop = asyncio.get_running_loop()
    called, release = loop.create_future(), loop.create_future()

    async def on_deliver(pdu: Pdu) -> int:
        kept.append(pdu)
        called.set_result(None)
        return await release

    session = await bound(make(on_deliver=on_deliver))
    answer = smsc.peer.request(receipt("C085E0"))
    await called
    # the reader is not blocked while on_deliver waits: submits still complete
    assert (await submit(session)).outcome is ACCEPTED
    await settle()
    assert not answer.done()
    release.set_result(0)
    response = await answer
    assert response.command_id == C.DELIVER_SM_RESP and response.command_status == 0
    assert kept[0].tlv(Tag.RECEIPTED_MESSAGE_ID) == "C085E0" and kept[0]["esm_class"] == 4


async def test_on_deliver_may_return_a_future_answered_when_it_resolves(
    make: Callable[..., Session], smsc: ScriptedSmsc
) -> None:
    loop = asyncio.get_running_loop()
    pending: list[asyncio.Future[int | None]] = []

    def on_deliver(pdu: Pdu) -> asyncio.Future[int | None]:
        pending.append(loop.create_future())  # e.g. "stored" from a batched writer
        return pending[-1]

    await bound(make(on_deliver=on_deliver))
    stored, failed = smsc.peer.request(receipt("A1")), smsc.peer.request(receipt("A2"))
    await smsc.wait(lambda: len(pending) == 2, "both receipts handed over")
    await settle()
    assert not stored.done() and not failed.done()
    pending[0].set_result(None)  # None answers ESME_ROK
    pending[1].set_exception(RuntimeError("database down"))
    assert (await stored).command_status == 0
    assert (await failed).command_status == 0x64  # ESME_RX_T_APPN: the SMSC will redeliver


async def test_on_deliver_status_and_failures_decide_the_answer(
    make: Callable[..., Session], smsc: ScriptedSmsc
) -> None:
    async def on_deliver(pdu: Pdu) -> int:
        text = pdu.params.get("short_message")  # data_sm has none
        if text == b"boom":
            raise RuntimeError("database down")
        return 0x45 if text == b"refuse" else 0

    await bound(make(on_deliver=on_deliver))
    peer = smsc.peer

    def mo(text: bytes) -> asyncio.Future[Pdu]:
        return peer.request(
            Pdu(
                C.DELIVER_SM,
                source_addr="447700900123",
                destination_addr="12345",
                short_message=text,
            )
        )

    ok, refused, failed = mo(b"STOP"), mo(b"refuse"), mo(b"boom")
    data = peer.request(Pdu(C.DATA_SM, source_addr="447700900123", destination_addr="12345"))
    assert (await ok).command_status == 0
    assert (await refused).command_status == 0x45
    assert (await failed).command_status == 0x64  # ESME_RX_T_APPN: the SMSC will redeliver
    response = await data
    assert response.command_id == C.DATA_SM_RESP and response.command_status == 0


async def test_without_on_deliver_receipts_are_acknowledged(
    make: Callable[..., Session], smsc: ScriptedSmsc
) -> None:
    await bound(make())
    response = await smsc.peer.request(receipt("1"))
    assert response.command_id == C.DELIVER_SM_RESP and response.command_status == 0


async def test_receiver_bind_receives_and_never_submits(
    make: Callable[..., Session], smsc: ScriptedSmsc
) -> None:
    got: list[Pdu] = []

    async def on_deliver(pdu: Pdu) -> int:
        got.append(pdu)
        return 0

    session = await bound(make(bind_type="rx", on_deliver=on_deliver))
    assert smsc.binds[0].command_id == C.BIND_RECEIVER and session.bound
    assert (await submit(session)).outcome is NOT_SENT
    assert (await smsc.peer.request(receipt("7"))).command_status == 0 and len(got) == 1
    assert smsc.submits == []


# --- closing ----------------------------------------------------------------------------------


async def test_graceful_close_drains_the_window_then_unbinds(
    make: Callable[..., Session], smsc: ScriptedSmsc
) -> None:
    session = await bound(make(window=3))
    smsc.on_submit = lambda peer, pdu: None
    futures = [submit(session, f"44770090000{i}") for i in range(5)]
    await smsc.wait(lambda: len(smsc.submits) == 3, "3 submits")
    closing = asyncio.ensure_future(session.close(drain_timeout=10))
    await settle()
    assert session.state == "unbinding"
    assert [f.result().outcome for f in futures[3:]] == [NOT_SENT, NOT_SENT]  # queued: requeue
    assert (await submit(session)).outcome is NOT_SENT  # no longer accepting
    assert smsc.unbinds == []  # the window drains first
    for pdu in list(smsc.peer.outstanding.values()):
        smsc.peer.answer(pdu)
    await closing
    assert [f.result().outcome for f in futures[:3]] == [ACCEPTED] * 3
    assert len(smsc.unbinds) == 1 and session.state == "closed"
    assert smsc.peer.closed.done()
    await session.close()  # idempotent
    with pytest.raises(SessionClosedError):
        await session.wait_bound()


async def test_close_gives_up_draining_after_the_timeout(
    make: Callable[..., Session], smsc: ScriptedSmsc, fake: FakeTime
) -> None:
    session = await bound(make(window=2))
    smsc.on_submit = lambda peer, pdu: None
    futures = [submit(session, f"44770090000{i}") for i in range(2)]
    await smsc.wait(lambda: len(smsc.submits) == 2, "2 submits")
    closing = asyncio.ensure_future(session.close(drain_timeout=5))
    await fake.advance(4.9)
    assert not closing.done() and smsc.unbinds == []
    await fake.advance(0.2)
    await smsc.wait(lambda: len(smsc.unbinds) == 1, "the unbind")
    await closing
    assert [f.result().outcome for f in futures] == [UNKNOWN, UNKNOWN]
    assert session.state == "closed"


async def test_stats_callables_and_counts(make: Callable[..., Session], smsc: ScriptedSmsc) -> None:
    stats = BindStats("test")
    session = await bound(make(stats=stats, window=4))
    smsc.on_submit = lambda peer, pdu: None
    for i in range(6):
        submit(session, f"44770090000{i}")
    await smsc.wait(lambda: len(smsc.submits) == 4, "4 submits")
    assert (stats.window_in_use(), session.in_flight, session.queued) == (4, 4, 2)
    assert SessionSettings.__dataclass_params__.frozen  # type: ignore[attr-defined]


async def test_close_waits_for_receipts_being_kept_then_unbinds(
    make: Callable[..., Session], smsc: ScriptedSmsc
) -> None:
    loop = asyncio.get_running_loop()
    called, release = loop.create_future(), loop.create_future()

    async def on_deliver(pdu: Pdu) -> int:
        called.set_result(None)
        await release
        return 0

    session = await bound(make(on_deliver=on_deliver))
    smsc.on_submit = lambda peer, pdu: None
    part = submit(session)
    await smsc.wait(lambda: len(smsc.submits) == 1, "the submit")
    answer = smsc.peer.request(receipt("1"))
    await called
    closing = asyncio.ensure_future(session.close(drain_timeout=10))
    await settle()
    assert session.state == "unbinding"  # waiting for the window and the receipt
    smsc.peer.answer(smsc.submits[0])  # the window drains; the receipt is still being kept
    assert (await part).outcome is ACCEPTED
    await settle()
    release.set_result(None)
    assert (await asyncio.wait_for(answer, 5)).command_status == 0
    await closing
    kinds = [p.command_id for p in smsc.peer.received]
    assert kinds.index(C.DELIVER_SM_RESP) < kinds.index(C.UNBIND)  # kept, acknowledged, then unbind
    assert session.state == "closed"
