"""Cross-check the codec against an independent implementation, python-smpplib (test-only).

smpplib encodes, we decode; we encode, smpplib decodes. Its C-strings are bytes, ours str.
"""

from __future__ import annotations

import pytest
import smpplib.smpp
from hypothesis import given
from hypothesis import strategies as st

from herald.smpp.codec import SubmitSmTemplate, decode, encode, encode_tlvs
from herald.smpp.layouts import CommandId, Tag
from herald.smpp.pdu import Pdu


class _Client:
    """The bit of smpplib's client its PDU classes touch."""

    sequence = 0

    def next_sequence(self) -> int:
        return 0


def smpplib_encode(command: str, sequence: int, **fields: object) -> bytes:
    pdu = smpplib.smpp.make_pdu(command, client=_Client(), **fields)
    pdu.sequence = sequence
    return pdu.generate()


def smpplib_decode(data: bytes) -> object:
    return smpplib.smpp.parse_pdu(data, client=_Client())


ADDRESS = st.text(alphabet="0123456789", min_size=1, max_size=20)
ALNUM = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", max_size=11
)


@given(
    seq=st.integers(1, 0x7FFFFFFF),
    source=ALNUM.filter(bool),
    dest=ADDRESS,
    esm_class=st.sampled_from([0x00, 0x40]),
    data_coding=st.sampled_from([0x00, 0x08, 0xF0, 0x18]),
    short_message=st.binary(min_size=1, max_size=254),
)
def test_we_decode_smpplib_submit_sm(
    seq: int, source: str, dest: str, esm_class: int, data_coding: int, short_message: bytes
) -> None:
    data = smpplib_encode(
        "submit_sm",
        seq,
        source_addr_ton=5,
        source_addr_npi=0,
        source_addr=source,
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr=dest,
        esm_class=esm_class,
        registered_delivery=1,
        data_coding=data_coding,
        short_message=short_message,
    )
    pdu = decode(data)
    assert pdu.sequence_number == seq
    assert pdu.params["source_addr"] == source and pdu.params["destination_addr"] == dest
    assert (pdu["esm_class"], pdu["data_coding"]) == (esm_class, data_coding)
    assert pdu["short_message"] == short_message
    assert pdu["registered_delivery"] == 1


@given(
    seq=st.integers(1, 0x7FFFFFFF),
    dest=ADDRESS,
    esm_class=st.sampled_from([0x00, 0x40]),
    short_message=st.binary(max_size=254),
    reference=st.integers(0, 0xFFFF),
)
def test_smpplib_decodes_our_submit_sm(
    seq: int, dest: str, esm_class: int, short_message: bytes, reference: int
) -> None:
    template = SubmitSmTemplate(source_addr_ton=5, source_addr="Brand", registered_delivery=1)
    tlvs = encode_tlvs({Tag.SAR_MSG_REF_NUM: reference})
    parsed = smpplib_decode(template.encode(seq, dest, short_message, tlvs, esm_class, 0x08))
    assert parsed.command == "submit_sm" and parsed.sequence == seq  # type: ignore[attr-defined]
    assert parsed.destination_addr == dest.encode()  # type: ignore[attr-defined]
    assert parsed.source_addr == b"Brand"  # type: ignore[attr-defined]
    assert parsed.esm_class == esm_class  # type: ignore[attr-defined]
    assert parsed.data_coding == 0x08  # type: ignore[attr-defined]
    assert (parsed.short_message or b"") == short_message  # type: ignore[attr-defined]
    assert parsed.sar_msg_ref_num == reference  # type: ignore[attr-defined]


def test_smpplib_receipt_with_tlvs() -> None:
    data = smpplib_encode(
        "deliver_sm",
        6,
        source_addr="447700900123",
        esm_class=0x04,
        short_message=b"id:C085E0 stat:DELIVRD",
        receipted_message_id="C085E0",
        message_state=2,
    )
    pdu = decode(data)
    assert pdu.tlvs == {Tag.MESSAGE_STATE: 2, Tag.RECEIPTED_MESSAGE_ID: "C085E0"}
    assert encode(pdu) == data  # same bytes back, TLV order kept


def test_smpplib_decodes_our_receipt_and_responses() -> None:
    receipt = Pdu(
        CommandId.DELIVER_SM,
        sequence_number=6,
        source_addr="447700900123",
        esm_class=4,
        short_message=b"id:1 stat:DELIVRD",
        tlvs={
            Tag.RECEIPTED_MESSAGE_ID: "C085E0",
            Tag.MESSAGE_STATE: 2,
            Tag.NETWORK_ERROR_CODE: b"\x03\x00\x01",
        },
    )
    q = smpplib_decode(encode(receipt))
    assert (q.receipted_message_id, q.message_state, q.network_error_code) == (  # type: ignore[attr-defined]
        b"C085E0",
        2,
        b"\x03\x00\x01",
    )
    resp = smpplib_decode(
        encode(Pdu(CommandId.SUBMIT_SM_RESP, sequence_number=3, message_id="abc"))
    )
    assert (resp.command, resp.sequence, resp.message_id) == ("submit_sm_resp", 3, b"abc")  # type: ignore[attr-defined]
    nack = smpplib_decode(encode(Pdu(CommandId.GENERIC_NACK, command_status=3, sequence_number=8)))
    assert (nack.command, nack.status) == ("generic_nack", 3)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("command", "pdu"),
    [
        (
            "bind_transceiver",
            Pdu(CommandId.BIND_TRANSCEIVER, sequence_number=1, system_id="herald", password="pw"),
        ),
        (
            "bind_transceiver_resp",
            Pdu(
                CommandId.BIND_TRANSCEIVER_RESP,
                sequence_number=1,
                system_id="SMSC",
                tlvs={Tag.SC_INTERFACE_VERSION: 0x34},
            ),
        ),
        ("enquire_link", Pdu(CommandId.ENQUIRE_LINK, sequence_number=2)),
        ("unbind", Pdu(CommandId.UNBIND, sequence_number=3)),
        (
            "query_sm_resp",
            Pdu(CommandId.QUERY_SM_RESP, sequence_number=4, message_id="x", message_state=2),
        ),
        (
            "data_sm",
            Pdu(
                CommandId.DATA_SM,
                sequence_number=5,
                source_addr="1",
                destination_addr="2",
                tlvs={Tag.MESSAGE_PAYLOAD: b"payload" * 30},
            ),
        ),
    ],
)
def test_smpplib_parses_our_other_pdus(command: str, pdu: Pdu) -> None:
    parsed = smpplib_decode(encode(pdu))
    assert parsed.command == command and parsed.sequence == pdu.sequence_number  # type: ignore[attr-defined]
    for name, value in pdu.params.items():
        expected = value.encode() if isinstance(value, str) else value
        assert getattr(parsed, name) == expected, name
    if pdu.tlvs.get(Tag.MESSAGE_PAYLOAD):
        assert parsed.message_payload == pdu.tlvs[Tag.MESSAGE_PAYLOAD]  # type: ignore[attr-defined]
    if Tag.SC_INTERFACE_VERSION in pdu.tlvs:
        assert parsed.sc_interface_version == 0x34  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("command", "fields"),
    [
        ("bind_transmitter", {"system_id": "sys", "password": "pw", "system_type": "VMA"}),
        ("enquire_link_resp", {}),
        ("unbind_resp", {}),
        ("query_sm", {"message_id": "C085E0", "source_addr": "Brand"}),
        ("submit_sm_resp", {"message_id": "0123456789abcdef"}),
    ],
)
def test_we_decode_smpplib_session_pdus(command: str, fields: dict[str, object]) -> None:
    pdu = decode(smpplib_encode(command, 77, **fields))
    assert pdu.name == command and pdu.sequence_number == 77
    for name, value in fields.items():
        assert pdu[name] == value
