"""The PDU value and the encoder's refusals (our mistakes raise LocalProtocolError)."""

from __future__ import annotations

from typing import Any

import pytest

from herald.errors import LocalProtocolError, RemoteProtocolError
from herald.smpp.codec import SubmitSmTemplate, decode, encode, encode_tlvs
from herald.smpp.layouts import LAYOUTS, CommandId, Tag, command_name, tag_name
from herald.smpp.pdu import Pdu, TlvValue


def test_every_request_has_a_response_layout_except_outbind_and_alert() -> None:
    requests = [cid for cid in LAYOUTS if not cid & 0x80000000]
    missing = {command_name(c) for c in requests if c | 0x80000000 not in LAYOUTS}
    assert missing == {"outbind", "alert_notification"}


def test_names_for_known_and_unknown_ids() -> None:
    assert command_name(0x80000004) == "submit_sm_resp"
    assert command_name(0x21) == "command_0x00000021"
    assert tag_name(0x0427) == "message_state"
    assert tag_name(0x1401) == "tag_0x1401"


def test_pdu_rejects_fields_its_command_does_not_have() -> None:
    with pytest.raises(LocalProtocolError, match="submit_sm_resp has no field short_message"):
        Pdu(CommandId.SUBMIT_SM_RESP, short_message=b"x")
    with pytest.raises(LocalProtocolError, match="no PDU layout for command_id 0x00000021"):
        Pdu(0x21)


def test_pdu_fields_default_and_reply_keeps_the_sequence_number() -> None:
    pdu = Pdu(CommandId.DELIVER_SM, sequence_number=77, esm_class=4)
    assert pdu["esm_class"] == 4
    assert pdu["short_message"] == b""
    assert pdu["source_addr"] == ""
    with pytest.raises(KeyError):
        pdu["message_id"]
    assert (pdu.text("source_addr"), pdu.octets("short_message")) == ("", b"")
    with pytest.raises(TypeError, match="deliver_sm field esm_class is int, not str"):
        pdu.text("esm_class")
    with pytest.raises(TypeError, match="deliver_sm field source_addr is str, not bytes"):
        pdu.octets("source_addr")
    reply = pdu.reply()
    assert (reply.command_id, reply.sequence_number, reply.command_status) == (0x80000005, 77, 0)
    assert encode(reply) == bytes.fromhex("00000011 80000005 00000000 0000004d 00")
    with pytest.raises(LocalProtocolError, match="responses are not answered"):
        reply.reply()


def test_repr_names_the_command_fields_and_tlvs() -> None:
    pdu = Pdu(
        CommandId.SUBMIT_SM_RESP,
        command_status=0x58,
        sequence_number=3,
        message_id="",
        tlvs={Tag.ADDITIONAL_STATUS_INFO_TEXT: "slow down"},
    )
    assert repr(pdu) == (
        "<submit_sm_resp seq=3 status=0x00000058 message_id='' "
        "additional_status_info_text='slow down'>"
    )


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"destination_addr": "4" * 21}, "destination_addr='44"),
        ({"destination_addr": "44\x0077"}, "no NUL"),
        ({"destination_addr": "ŵ"}, "destination_addr"),
        ({"esm_class": 256}, "esm_class=256"),
        ({"esm_class": -1}, "esm_class=-1"),
        ({"esm_class": None}, "esm_class=None"),
        ({"short_message": b"x" * 255}, "sm_length allows at most 254"),
        ({"short_message": "text"}, "expected bytes, got str"),
        ({"short_message": 5}, "expected bytes, got int"),
    ],
)
def test_values_that_cannot_be_encoded_raise_local_protocol_error(
    fields: dict[str, object], words: str
) -> None:
    with pytest.raises(LocalProtocolError, match=r"^submit_sm: cannot encode") as info:
        encode(Pdu(CommandId.SUBMIT_SM, **fields))  # type: ignore[arg-type]
    assert words in str(info.value)


@pytest.mark.parametrize(
    ("tlvs", "words"),
    [
        ({Tag.MESSAGE_STATE: 300}, "message_state=300"),
        ({Tag.SAR_MSG_REF_NUM: 70000}, "sar_msg_ref_num"),
        ({Tag.MESSAGE_PAYLOAD: b"x" * 65536}, "message_payload"),
        ({Tag.MESSAGE_PAYLOAD: 3}, "expected bytes, got int"),
        ({Tag.RECEIPTED_MESSAGE_ID: "a\x00b"}, "contains a NUL"),
        ({Tag.ALERT_ON_MESSAGE_DELIVERY: b"x"}, "flag TLV"),
        ({0x10000: b""}, "tag_0x10000"),
    ],
)
def test_tlvs_that_cannot_be_encoded_raise_local_protocol_error(
    tlvs: dict[int, object], words: str
) -> None:
    with pytest.raises(LocalProtocolError, match="cannot encode TLV") as info:
        encode_tlvs(tlvs)  # type: ignore[arg-type]
    assert words in str(info.value)


def test_bad_header_values_raise_local_protocol_error() -> None:
    with pytest.raises(LocalProtocolError, match="bad header value"):
        encode(Pdu(CommandId.ENQUIRE_LINK, sequence_number=-1))


def test_flag_tlv_round_trips_as_true() -> None:
    pdu = Pdu(CommandId.SUBMIT_SM, tlvs={Tag.ALERT_ON_MESSAGE_DELIVERY: True})
    data = encode(pdu)
    assert data.endswith(bytes.fromhex("130c0000"))
    assert decode(data).tlvs == {Tag.ALERT_ON_MESSAGE_DELIVERY: True}


def test_decode_checks_the_length_of_a_single_pdu() -> None:
    with pytest.raises(RemoteProtocolError, match="shorter than the 16-octet header"):
        decode(b"\x00\x00\x00\x10")
    with pytest.raises(RemoteProtocolError, match="does not match the 17 octets"):
        decode(bytes.fromhex("00000010800000150000000000000001ff"))


class TestSubmitSmTemplate:
    def test_per_part_fields_are_refused_at_construction(self) -> None:
        with pytest.raises(LocalProtocolError, match="data_coding, destination_addr vary"):
            SubmitSmTemplate(destination_addr="1", data_coding=8)
        with pytest.raises(LocalProtocolError, match="submit_sm has no field message_id"):
            SubmitSmTemplate(message_id="x")

    def test_fixed_fields_are_validated_once(self) -> None:
        with pytest.raises(LocalProtocolError, match="source_addr"):
            SubmitSmTemplate(source_addr="x" * 21)

    @pytest.mark.parametrize(
        ("args", "words"),
        [
            (("4" * 21, b""), "destination_addr must be at most 20 octets"),
            (("44\x00", b""), "without NUL"),
            (("447", b"x" * 255), "short_message at most 254 octets"),
            (("447", b"x", b"", 256), "esm_class and data_coding 0-255"),
            (("447", b"x", b"", 0, -1), "esm_class and data_coding 0-255"),
            (("447", "text"), "cannot encode part"),
            (("447", b"x", "tlvs"), "cannot encode part"),
            ((447, b"x"), "cannot encode part"),
        ],
    )
    def test_bad_parts_raise_local_protocol_error(self, args: tuple, words: str) -> None:
        template = SubmitSmTemplate(source_addr="Brand")
        with pytest.raises(LocalProtocolError, match=r"^submit_sm: cannot encode part") as info:
            template.encode(1, *args)
        assert words in str(info.value)

    def test_equals_the_generic_encoder(self) -> None:
        fixed: dict[str, Any] = {
            "service_type": "CMT",
            "source_addr_ton": 5,
            "source_addr": "Brand",
            "dest_addr_ton": 1,
            "dest_addr_npi": 1,
            "protocol_id": 0,
            "priority_flag": 1,
            "validity_period": "000001000000000R",
            "registered_delivery": 1,
        }
        template = SubmitSmTemplate(**fixed)
        tlvs: dict[int, TlvValue] = {Tag.USER_MESSAGE_REFERENCE: 7, Tag.DEST_ADDR_SUBUNIT: 1}
        data = template.encode(9, "306912345678", b"\x00\x41", encode_tlvs(tlvs), 0x40, 0x18)
        pdu = Pdu(
            CommandId.SUBMIT_SM,
            sequence_number=9,
            destination_addr="306912345678",
            short_message=b"\x00\x41",
            esm_class=0x40,
            data_coding=0x18,
            tlvs=tlvs,
            **fixed,
        )
        assert data == encode(pdu)
        assert decode(data) == pdu
