"""The simulator's pieces without a socket: ids, the submit decision, receipt PDUs, records."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from herald.simulator import SimulatorSettings, SimulatorStats
from herald.simulator.behaviour import ACCEPT, NACK, REFUSE, SILENCE, Behaviour, TokenBucket
from herald.simulator.ids import MessageIds
from herald.simulator.receipts import (
    ReceiptJob,
    ReceiptMaker,
    address_type,
    mo_pdus,
    preview,
    wants_receipt,
)
from herald.simulator.recorder import Recorder, decode_submit
from herald.smpp import CommandId, Pdu, Tag, decode, encode, parse_receipt
from herald.smpp.status import CommandStatus as S
from herald.text import encode_message

# --- message ids --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("knobs", "submit_id", "text_id"),
    [
        ({}, "a0000000", "a0000000"),
        ({"id_format": "dec"}, "2684354560", "2684354560"),
        ({"id_case": "upper", "id_width": 12}, "0000A0000000", "0000A0000000"),
        (
            {"id_case": "upper", "receipt_id_format": "dec", "receipt_id_width": 12},
            "A0000000",
            "002684354560",
        ),
        ({"id_format": "dec", "receipt_id_format": "hex"}, "2684354560", "a0000000"),
    ],
)
def test_message_id_forms(knobs: dict[str, object], submit_id: str, text_id: str) -> None:
    ids = MessageIds(SimulatorSettings(**knobs))  # type: ignore[arg-type]
    number = ids.next_number()
    assert ids.submit_id(number) == submit_id
    assert ids.receipt_text_id(number, submit_id) == text_id
    assert ids.submit_id(ids.next_number()) != submit_id


# --- the decision ---------------------------------------------------------------------------------


def test_token_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    bucket = TokenBucket(rate=10.0, burst=2, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [True, True, False]
    assert bucket.take(0.1) and not bucket.take(0.1)
    assert [bucket.take(100.0) for _ in range(3)] == [True, True, False]


def test_decision_order_silence_throttle_errors_nack() -> None:
    now = [0.0]
    rng = random.Random(0)
    settings = SimulatorSettings(throttle_rate=1.0, throttle_burst=1, errors=((0x45, 1.0),))
    behaviour = Behaviour(settings, rng, lambda: now[0])
    assert behaviour.decide("a") == (REFUSE, 0x45)  # a token, then the injected error
    assert behaviour.decide("a") == (REFUSE, S.ESME_RTHROTTLED)  # no token left
    assert behaviour.decide("b") == (REFUSE, 0x45)  # buckets are per system_id
    behaviour.configure(settings.replace(submit_answer="generic_nack"))
    assert behaviour.decide("a") == (NACK, S.ESME_RTHROTTLED)
    behaviour.configure(SimulatorSettings(submit_answer="generic_nack"))
    assert behaviour.decide("a") == (NACK, S.ESME_RINVCMDID)
    behaviour.configure(SimulatorSettings(submit_answer="none"))
    assert behaviour.decide("a") == (SILENCE, 0)
    behaviour.configure(SimulatorSettings())
    assert behaviour.trivial and behaviour.decide("a") == (ACCEPT, 0)


def test_injected_error_shares_are_honoured_roughly() -> None:
    behaviour = Behaviour(
        SimulatorSettings(errors=((0x58, 0.25), (0x400, 0.25))), random.Random(1), lambda: 0.0
    )
    outcomes = [behaviour.decide("a")[1] for _ in range(4000)]
    for status in (0, 0x58, 0x400):
        assert 0.2 < outcomes.count(status) / 4000 < 0.55


# --- receipts ---------------------------------------------------------------------------------


def job(**changes: object) -> ReceiptJob:
    fields = dict(
        system_id="herald",
        submit_id="a0000001",
        text_id="2684354561",
        source_addr="Brand",
        source_ton=5,
        source_npi=0,
        destination_addr="447700900123",
        dest_ton=1,
        dest_npi=1,
        registered_delivery=1,
        preview="Hello",
        submitted_at=1_700_000_000.0,
    )
    fields.update(changes)
    return ReceiptJob(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mode", "success", "wanted"),
    [
        (0, True, False),
        (1, True, True),
        (1, False, True),
        (2, True, False),
        (2, False, True),
        (3, True, True),
        (3, False, False),
        (0x11, True, True),
    ],
)
def test_registered_delivery_bits(mode: int, success: bool, wanted: bool) -> None:
    assert wants_receipt(mode, success) is wanted


@given(
    stat=st.sampled_from(
        ["DELIVRD", "UNDELIV", "EXPIRED", "REJECTD", "DELETED", "UNKNOWN", "ENROUTE", "ACCEPTD"]
    ),
    fmt=st.sampled_from(["both", "text", "tlv"]),
    digits=st.sampled_from([10, 12, 14]),
    registered=st.sampled_from([1, 2, 0x11]),
    submit_id=st.text("0123456789abcdefABCDEF", min_size=1, max_size=64),
    address=st.text("0123456789", min_size=1, max_size=20),
    preview_text=st.text(st.characters(codec="ascii", exclude_categories=["Cc"]), max_size=20),
)
def test_packed_receipt_equals_the_generic_encoder(
    stat: str,
    fmt: str,
    digits: int,
    registered: int,
    submit_id: str,
    address: str,
    preview_text: str,
) -> None:
    maker = ReceiptMaker(
        SimulatorSettings(receipt_format=fmt, receipt_date_digits=digits),  # type: ignore[arg-type]
        random.Random(0),
    )
    receipt_job = job(
        registered_delivery=registered,
        submit_id=submit_id,
        destination_addr=address,
        preview=preview_text,
    )
    assert maker.encode(receipt_job, stat, 1_700_000_060.0) == encode(
        maker.pdu(receipt_job, stat, 1_700_000_060.0)
    )


def test_receipt_text_follows_appendix_b() -> None:
    maker = ReceiptMaker(SimulatorSettings(), random.Random(0))
    pdu = decode(maker.encode(job(), "UNDELIV", 1_700_000_060.0))
    assert pdu["short_message"] == (
        b"id:2684354561 sub:001 dlvrd:000 submit date:2311142213 done date:2311142214 "
        b"stat:UNDELIV err:001 text:Hello"
    )
    receipt = parse_receipt(pdu)
    assert receipt is not None and (receipt.message_id, receipt.state) == ("a0000001", "UNDELIV")
    assert pdu.tlvs[Tag.NETWORK_ERROR_CODE] == b"\x03\x00\x01"


def test_outcomes_are_drawn_by_weight() -> None:
    maker = ReceiptMaker(
        SimulatorSettings(outcomes=(("DELIVRD", 3.0), ("EXPIRED", 1.0))), random.Random(4)
    )
    draws = [maker.outcome() for _ in range(4000)]
    assert 0.7 < draws.count("DELIVRD") / 4000 < 0.8 and set(draws) == {"DELIVRD", "EXPIRED"}


def test_preview_is_twenty_ascii_characters() -> None:
    message = encode_message("Ωmega € and more text beyond twenty characters " * 4)
    part = message.parts[0].short_message
    assert preview(part, message.data_coding, message.esm_class) == "?mega ? and more tex"
    assert preview(b"\x00\x01", 0x04, 0) == ""


def test_mo_pdus_use_the_text_pipeline_and_address_types() -> None:
    (pdu,) = mo_pdus("447700900123", "MyBrand", "STOP", reference=1)
    assert (pdu["source_addr_ton"], pdu["dest_addr_ton"], pdu["short_message"]) == (1, 5, b"STOP")
    assert address_type("55555") == (3, 0)
    assert len(mo_pdus("447700900123", "55555", "x" * 200, reference=2)) == 2


# --- records ---------------------------------------------------------------------------------


def submit(short_message: bytes = b"", **fields: Any) -> Pdu:
    return decode(
        encode(
            Pdu(
                CommandId.SUBMIT_SM,
                sequence_number=3,
                short_message=short_message,
                destination_addr="447700900123",
                **fields,
            )
        )
    )


def test_decode_submit_never_raises_on_a_broken_udh() -> None:
    record = decode_submit(
        submit(b"\x09\x00\x03", esm_class=0x40), system_id="a", bind="tx", status=0, message_id="1"
    )
    assert record.text is None and record.error and "UDH" in record.error


def test_recorder_reassembles_out_of_order_parts_and_keeps_open_messages_apart() -> None:
    message = encode_message("part one, part two and part three " * 8, reference=9)
    parts = [submit(p.short_message, esm_class=message.esm_class) for p in message.parts]
    recorder = Recorder(None, keep=None, track_duplicates=True)
    done = []
    for pdu in reversed(parts):
        record = decode_submit(pdu, system_id="a", bind="trx", status=0, message_id="x")
        recorder.add(record)
        done.append(record.message_text)
    assert done[:-1] == [None] * (len(parts) - 1)
    assert done[-1] == "part one, part two and part three " * 8


def test_stats_as_dict_names_statuses() -> None:
    stats = SimulatorStats(submits=3, submits_by_status={0: 2, 0x401: 1})
    data = stats.as_dict()
    assert data["submits_by_status"] == {"ESME_ROK": 2, "vendor_0x00000401": 1}
    assert stats.accepted == 2
