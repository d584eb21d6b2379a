"""Framing: chunks split anywhere, several PDUs per chunk, and every malformed case named."""

from __future__ import annotations

import pytest

from herald.errors import RemoteProtocolError
from herald.smpp.codec import encode
from herald.smpp.framing import DEFAULT_MAX_COMMAND_LENGTH, PduReader
from herald.smpp.layouts import CommandId, Tag
from herald.smpp.pdu import Pdu


def h(*chunks: str) -> bytes:
    return bytes.fromhex("".join(chunks))


def stream() -> tuple[list[Pdu], bytes]:
    pdus = [Pdu(CommandId.SUBMIT_SM_RESP, sequence_number=i, message_id=f"m{i}") for i in (1, 2)]
    pdus.append(Pdu(CommandId.ENQUIRE_LINK, sequence_number=3))
    pdus.append(
        Pdu(
            CommandId.DELIVER_SM,
            sequence_number=4,
            esm_class=4,
            short_message=b"id:m1 stat:DELIVRD",
            tlvs={Tag.RECEIPTED_MESSAGE_ID: "m1", Tag.MESSAGE_STATE: 2, 0x1401: b"\x00\x01"},
        )
    )
    return pdus, b"".join(map(encode, pdus))


@pytest.mark.parametrize("size", [1, 2, 3, 5, 16, 17, 64, 10_000])
def test_any_chunking_gives_the_same_pdus(size: int) -> None:
    pdus, data = stream()
    reader = PduReader()
    got: list[Pdu] = []
    for i in range(0, len(data), size):
        reader.feed(data[i : i + size])
        got.extend(reader)
    assert got == pdus
    assert reader.buffered == 0


def test_partial_pdu_waits_for_the_rest() -> None:
    _, data = stream()
    reader = PduReader()
    reader.feed(data[:20])  # the first PDU is 19 octets: one whole, one started
    assert reader.next_pdu() is not None
    assert reader.next_pdu() is None
    assert reader.buffered == 1
    reader.feed(data[20:])
    assert len(list(reader)) == 3


def test_memoryview_and_bytearray_chunks_are_copied_not_aliased() -> None:
    _, data = stream()
    chunk = bytearray(data)
    reader = PduReader()
    reader.feed(chunk)
    chunk[:] = b"\xff" * len(chunk)  # the caller reuses its buffer
    assert len(list(reader)) == 4


def raises(data: bytes, **kwargs: object) -> RemoteProtocolError:
    reader = PduReader(**kwargs)  # type: ignore[arg-type]
    reader.feed(data)
    with pytest.raises(RemoteProtocolError) as info:
        reader.next_pdu()
    return info.value


def test_command_length_below_header_is_fatal_with_the_sequence_number() -> None:
    err = raises(h("0000000f", "00000004", "00000000", "0000002a"))
    assert err.fatal
    assert "command_length 15 is less than the 16-octet header" in str(err)
    assert "cannot be resynchronised" in str(err)
    assert err.sequence_number == 42
    assert (err.reply_command_id, err.reply_status) == (0x80000000, 0x02)  # RINVCMDLEN


def test_command_length_over_the_maximum_is_fatal() -> None:
    err = raises(h("00010000", "00000004", "00000000", "00000007"), max_command_length=4096)
    assert err.fatal
    assert "command_length 65536 is over the maximum 4096" in str(err)
    assert err.sequence_number == 7


def test_length_error_is_reported_as_soon_as_the_length_is_read() -> None:
    err = raises(h("00000002"))
    assert err.fatal and err.sequence_number is None and err.reply_command_id is None


def test_after_a_fatal_error_the_reader_stays_broken() -> None:
    reader = PduReader()
    reader.feed(h("00000001"))
    with pytest.raises(RemoteProtocolError):
        reader.next_pdu()
    reader.feed(encode(Pdu(CommandId.ENQUIRE_LINK, sequence_number=1)))
    with pytest.raises(RemoteProtocolError) as info:
        reader.next_pdu()
    assert info.value.fatal


def test_default_maximum_admits_a_full_message_payload() -> None:
    pdu = Pdu(
        CommandId.DATA_SM,
        sequence_number=1,
        source_addr="1" * 64,
        destination_addr="2" * 64,
        tlvs={Tag.MESSAGE_PAYLOAD: b"x" * 0xFFFF, Tag.SAR_MSG_REF_NUM: 1},
    )
    data = encode(pdu)
    assert len(data) <= DEFAULT_MAX_COMMAND_LENGTH
    reader = PduReader()
    reader.feed(data)
    assert reader.next_pdu() == pdu


def test_unknown_command_id_skips_the_pdu_and_asks_for_generic_nack() -> None:
    data = h("00000014", "00000021", "00000000", "00000009", "00000000")  # submit_multi
    data += encode(Pdu(CommandId.ENQUIRE_LINK, sequence_number=10))
    reader = PduReader()
    reader.feed(data)
    with pytest.raises(RemoteProtocolError) as info:
        reader.next_pdu()
    err = info.value
    assert not err.fatal
    assert "unknown command_id 0x00000021" in str(err)
    assert (err.reply_command_id, err.reply_status, err.sequence_number) == (0x80000000, 3, 9)
    assert reader.next_pdu() == Pdu(CommandId.ENQUIRE_LINK, sequence_number=10)  # in sync


def test_unknown_response_id_is_not_answered() -> None:
    err = raises(h("00000010", "80000021", "00000000", "00000009"))
    assert not err.fatal and err.reply_command_id is None


# submit_sm fields before sm_length, all empty: service_type, source ton/npi/addr, dest
# ton/npi/addr, esm_class, protocol_id, priority_flag, schedule, validity, registered_delivery,
# replace_if_present_flag, data_coding, sm_default_msg_id
EMPTY = "00" + "000000" + "000000" + "000000" + "0000" + "00000000"

BODY_ERRORS = [
    # (name, body hex after a submit_sm header, expected status, words in the message)
    ("missing NUL", "00" + "0101" + "343437", 0x0A, "source_addr has no NUL terminator"),
    ("string too long", "00" + "0101" + "31" * 25 + "00", 0x0A, "source_addr is longer than 20"),
    ("service_type too long", "41424344454647" + "00", 0x15, "service_type is longer than 5"),
    ("truncated body", "00" + "0101" + "3100" + "01", 0x02, "body ends before dest_addr_npi"),
    (
        "sm_length past the end",
        EMPTY + "0a" + "6162",
        0x01,
        "sm_length 10 runs past the end of the PDU (2 octets left)",
    ),
    (
        "sm_length 255",
        EMPTY + "ff" + "61" * 255,
        0x01,
        "sm_length 255 is over the maximum 254",
    ),
    (
        "trailing octets that are not a TLV",
        EMPTY + "00" + "0102",
        0xC0,
        "2 trailing octets after the mandatory fields are not a TLV",
    ),
    (
        "TLV length past the end",
        EMPTY + "00" + "04240010" + "61",
        0xC0,
        "TLV message_payload (0x0424) length 16 runs past the end of the PDU (1 octets left)",
    ),
    (
        "TLV with the wrong size for its type",
        EMPTY + "00" + "020c0001" + "01",
        0xC2,
        "TLV sar_msg_ref_num must be 2 octets, has length 1",
    ),
]


@pytest.mark.parametrize(("case", "body", "status", "words"), BODY_ERRORS)
def test_body_errors_answer_the_pdu_with_its_own_response(
    case: str, body: str, status: int, words: str
) -> None:
    raw = bytes.fromhex(body)
    data = (16 + len(raw)).to_bytes(4, "big") + h("00000004", "00000000", "0000002a") + raw
    reader = PduReader()
    reader.feed(data + encode(Pdu(CommandId.ENQUIRE_LINK, sequence_number=43)))
    with pytest.raises(RemoteProtocolError) as info:
        reader.next_pdu()
    err = info.value
    assert words in str(err), case
    assert str(err).startswith("submit_sm (seq 42): ")
    assert not err.fatal
    assert (err.command_id, err.sequence_number) == (4, 42)
    assert (err.reply_command_id, err.reply_status) == (0x80000004, status)
    assert reader.next_pdu() == Pdu(CommandId.ENQUIRE_LINK, sequence_number=43)  # still in sync


def test_body_error_in_a_response_is_not_answered() -> None:
    err = raises(h("00000013", "80000004", "00000000", "00000005", "616263"))  # no NUL
    assert "message_id has no NUL terminator" in str(err)
    assert err.reply_command_id is None and err.sequence_number == 5


def test_body_error_in_a_request_without_response_is_generic_nacked() -> None:
    err = raises(h("00000013", "0000000b", "00000000", "00000005", "616263"))  # outbind
    assert err.reply_command_id == 0x80000000


def test_cstring_tlv_without_its_nul_is_accepted() -> None:
    # Some SMSCs leave the NUL off receipted_message_id.
    data = h("0000001a", "80000004", "00000000", "00000005", "00", "001e0005", "4142434445")
    reader = PduReader()
    reader.feed(data)
    pdu = reader.next_pdu()
    assert pdu is not None and pdu.tlvs[Tag.RECEIPTED_MESSAGE_ID] == "ABCDE"


def test_reader_rejects_a_maximum_below_the_header() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        PduReader(8)
