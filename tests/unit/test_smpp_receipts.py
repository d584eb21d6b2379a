"""Receipts: esm_class classification, TLV-first parsing, the text variants of
docs/protocol.md §5.4, message-id canonicalisation (§5.5), and MO messages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from herald.errors import TextError
from herald.smpp.codec import decode
from herald.smpp.inbound import Concat, inbound_message
from herald.smpp.layouts import CommandId, Tag
from herald.smpp.message_ids import (
    IdMode,
    canonical_id,
    canonical_receipt_id,
    canonical_submit_id,
)
from herald.smpp.pdu import Pdu
from herald.smpp.receipts import (
    MessageType,
    NetworkError,
    _scan_labels,
    is_receipt,
    message_type,
    parse_receipt,
    split_receipt_date,
    standard_receipt_values,
)


def receipt_pdu(text: str, tlvs: dict | None = None, **fields: object) -> Pdu:
    return Pdu(
        CommandId.DELIVER_SM,
        esm_class=0x04,
        short_message=text.encode("latin-1"),
        tlvs=tlvs,
        **fields,  # type: ignore[arg-type]
    )


# --- esm_class ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("esm_class", "kind"),
    [
        (0x00, MessageType.MOBILE_ORIGINATED),
        (0x40, MessageType.MOBILE_ORIGINATED),  # MO with a UDH
        (0x80, MessageType.MOBILE_ORIGINATED),  # reply path
        (0x04, MessageType.RECEIPT),
        (0x44, MessageType.RECEIPT),  # receipt + UDHI: "some SMSCs send 0x44" (Kannel)
        (0x84, MessageType.RECEIPT),
        (0x08, MessageType.SME_ACK),
        (0x10, MessageType.USER_ACK),
        (0x18, MessageType.CONVERSATION_ABORT),
        (0x20, MessageType.INTERMEDIATE),
        (0x0C, MessageType.RECEIPT),  # undefined: Kannel's bit test
        (0x24, MessageType.RECEIPT),
        (0x28, MessageType.INTERMEDIATE),
        (0x38, MessageType.INTERMEDIATE),
    ],
)
def test_message_type_by_mask(esm_class: int, kind: MessageType) -> None:
    assert message_type(esm_class) is kind


def test_is_receipt_covers_receipts_and_intermediate_notifications() -> None:
    assert is_receipt(0x04) and is_receipt(0x44) and is_receipt(0x20)
    assert not is_receipt(0x00) and not is_receipt(0x40) and not is_receipt(0x08)


@given(st.integers(0, 255))
def test_every_esm_class_has_a_type(esm_class: int) -> None:
    assert isinstance(message_type(esm_class), MessageType)


# --- text variants (docs/protocol.md §5.4, the cloudhopper DeliveryReceiptTest cases) -------

SPEC = (
    "id:0123456789 sub:002 dlvrd:001 submit date:1005232039 done date:1005242339 "
    "stat:DELIVRD err:012 text:This is a sample mes"
)


def test_spec_appendix_b_format() -> None:
    r = parse_receipt(receipt_pdu(SPEC))
    assert r is not None
    assert (r.message_id, r.state, r.final, r.success) == ("0123456789", "DELIVRD", True, True)
    assert (r.submitted, r.delivered) == (2, 1)
    assert (r.submit_date, r.done_date) == ("1005232039", "1005242339")
    assert r.submit_date is not None
    assert split_receipt_date(r.submit_date) == (2010, 5, 23, 20, 39, 0)
    assert (r.error, r.text, r.id_from_tlv) == ("012", "This is a sample mes", False)


def test_twelve_digit_dates_with_seconds_and_uuid_id() -> None:
    r = parse_receipt(
        receipt_pdu(
            "id:74e02ee1-4e2f-4a6e-a78b-4b247d756a22 sub:001 dlvrd:001 "
            "submit date:110206193041 done date:110206193110 stat:DELIVRD err:000 text:"
        )
    )
    assert r is not None
    assert r.message_id == "74e02ee1-4e2f-4a6e-a78b-4b247d756a22"
    assert split_receipt_date(r.submit_date or "") == (2011, 2, 6, 19, 30, 41)
    assert split_receipt_date(r.done_date or "") == (2011, 2, 6, 19, 31, 10)
    assert r.text is None


def test_fields_in_any_order_with_empty_text_before_stat() -> None:
    r = parse_receipt(
        receipt_pdu(
            "sub:001 id:74e02ee1-4e2f-4a6e-a78b-4b247d756a22 err:000 dlvrd:001 "
            "done date:110206193110 submit date:110206193041 text: stat:DELIVRD"
        )
    )
    assert r is not None
    assert (r.message_id, r.state, r.submitted, r.delivered) == (
        "74e02ee1-4e2f-4a6e-a78b-4b247d756a22",
        "DELIVRD",
        1,
        1,
    )
    assert (r.submit_date, r.done_date, r.text) == ("110206193041", "110206193110", None)


def test_fourteen_digit_dates_hex_id_missing_sub_dlvrd_one_digit_err() -> None:
    r = parse_receipt(
        receipt_pdu(
            "id:2E179B310EDE971B2760C72B7F026E1B submit date:20110314181534 "
            "done date:20110314181741 stat:DELIVRD err:0"
        )
    )
    assert r is not None
    assert r.message_id == "2E179B310EDE971B2760C72B7F026E1B"
    assert (r.submitted, r.delivered, r.error) == (None, None, "0")
    assert split_receipt_date(r.submit_date or "") == (2011, 3, 14, 18, 15, 34)


def test_capitalised_text_label_and_non_numeric_err() -> None:
    r = parse_receipt(
        receipt_pdu(
            "id:4 sub:001 dlvrd:001 submit date:1006020051 done date:1006020051 "
            "stat:UNDELIV err:21b Text:Hello"
        )
    )
    assert r is not None
    assert (r.message_id, r.state, r.final, r.success) == ("4", "UNDELIV", True, False)
    assert (r.error, r.text) == ("21b", "Hello")


def test_labels_in_upper_case() -> None:
    fields = _scan_labels("ID:77 SUB:001 DLVRD:001 SUBMIT DATE:2401011200 STAT:EXPIRED")
    assert fields == {
        "id": "77",
        "sub": "001",
        "dlvrd": "001",
        "submitdate": "2401011200",
        "stat": "EXPIRED",
    }


def test_text_containing_labels_keeps_them_as_text() -> None:
    r = parse_receipt(receipt_pdu("id:9 sub:001 dlvrd:001 stat:DELIVRD err:000 text:my id:5 stat"))
    assert r is not None
    assert (r.message_id, r.text) == ("9", "my id:5 stat")


def test_body_in_message_payload() -> None:
    pdu = Pdu(
        CommandId.DELIVER_SM,
        esm_class=0x04,
        tlvs={Tag.MESSAGE_PAYLOAD: b"id:abc sub:001 dlvrd:001 stat:REJECTD err:001"},
    )
    r = parse_receipt(pdu)
    assert r is not None and (r.message_id, r.state, r.final) == ("abc", "REJECTD", True)


def test_data_sm_receipt_from_tlvs_only() -> None:
    pdu = Pdu(
        CommandId.DATA_SM,
        esm_class=0x04,
        tlvs={Tag.RECEIPTED_MESSAGE_ID: "X1", Tag.MESSAGE_STATE: 5},
    )
    r = parse_receipt(pdu)
    assert r is not None
    assert (r.message_id, r.state, r.message_state, r.final, r.id_from_tlv) == (
        "X1",
        "UNDELIV",
        5,
        True,
        True,
    )


@pytest.mark.parametrize(
    ("stat", "final", "success"),
    [
        ("DELIVRD", True, True),
        ("EXPIRED", True, False),
        ("DELETED", True, False),
        ("UNDELIV", True, False),
        ("REJECTD", True, False),
        ("UNKNOWN", True, False),
        ("ACCEPTD", False, False),  # not final (docs/protocol.md §5.3)
        ("ENROUTE", False, False),
        ("BUFFRED", False, False),
        ("delivrd", True, True),
        ("FAILED", True, False),  # unknown names are final failures, as in Kannel
    ],
)
def test_states(stat: str, final: bool, success: bool) -> None:
    r = parse_receipt(receipt_pdu(f"id:1 stat:{stat}"))
    assert r is not None
    assert (r.state, r.final, r.success) == (stat.upper(), final, success)


@pytest.mark.parametrize("text", ["sub:001 dlvrd:001 stat:DELIVRD", "id:1 sub:001", "", "hello"])
def test_without_id_and_stat_it_is_not_a_receipt(text: str) -> None:
    assert parse_receipt(receipt_pdu(text)) is None


# --- TLVs first --------------------------------------------------------------------------------


def test_tlvs_take_precedence_over_the_text() -> None:
    pdu = receipt_pdu(
        "id:0059113978 sub:001 dlvrd:001 stat:ENROUTE err:000",
        tlvs={
            Tag.RECEIPTED_MESSAGE_ID: "38601fa",
            Tag.MESSAGE_STATE: 2,
            Tag.NETWORK_ERROR_CODE: b"\x03\x00\x22",
        },
    )
    r = parse_receipt(pdu)
    assert r is not None
    assert (r.message_id, r.id_from_tlv, r.state, r.final, r.message_state) == (
        "38601fa",
        True,
        "DELIVRD",
        True,
        2,
    )
    assert r.network_error == NetworkError(3, 0x22)
    assert (r.submitted, r.error) == (1, "000")  # fields only the text has still come from it


def test_real_world_receipt_pdu() -> None:
    # A deliver_sm captured from an SMSC (cloudhopper DeliveryReceiptTest.parseRealWorldReceipt0):
    # the TLV carries the id in hex, the text in decimal.
    wire = bytes.fromhex(
        "000000BA00000005000000000000000200010134343935313336313932300001013430343034000400"
        "000000000000006E69643A30303539313133393738207375623A30303120646C7672643A3030312073"
        "75626D697420646174653A3130303231303137333020646F6E6520646174653A313030323130313733"
        "3120737461743A44454C49565244206572723A30303020746578743A4024232125262F3A000E000101"
        "0006000101001E000833383630316661000427000102"
    )
    pdu = decode(wire)
    assert message_type(pdu["esm_class"]) is MessageType.RECEIPT  # type: ignore[arg-type]
    r = parse_receipt(pdu)
    assert r is not None
    assert (r.message_id, r.state, r.text) == ("38601fa", "DELIVRD", "@$#!%&/:")
    assert r.canonical_id("submit_hex_dlr_dec") == "59113978"
    short_message = pdu["short_message"]
    assert isinstance(short_message, bytes)
    values = standard_receipt_values(short_message.decode())
    assert values is not None and values[0] is not None
    assert canonical_receipt_id(values[0], "submit_hex_dlr_dec") == "59113978"


def test_network_error_code_ascii_form_tolerated_like_kannel() -> None:
    r = parse_receipt(receipt_pdu("id:1 stat:UNDELIV", tlvs={Tag.NETWORK_ERROR_CODE: b"034"}))
    assert r is not None and r.network_error == NetworkError(None, 34)
    r = parse_receipt(receipt_pdu("id:1 stat:UNDELIV", tlvs={Tag.NETWORK_ERROR_CODE: b"\x03"}))
    assert r is not None and r.network_error is None


def test_a_blank_tlv_id_falls_back_to_the_text_and_no_id_at_all_is_no_receipt() -> None:
    tlvs = {Tag.RECEIPTED_MESSAGE_ID: "  ", Tag.MESSAGE_STATE: 2}
    r = parse_receipt(receipt_pdu("id:77 stat:ENROUTE", tlvs=tlvs))
    assert r is not None and (r.message_id, r.id_from_tlv, r.state) == ("77", False, "DELIVRD")
    assert parse_receipt(receipt_pdu("stat:DELIVRD", tlvs=tlvs)) is None
    assert parse_receipt(receipt_pdu("id:77", tlvs={Tag.RECEIPTED_MESSAGE_ID: "77"})) is None


@pytest.mark.parametrize("value", [0x030022, "034", True])
def test_a_network_error_code_that_is_not_octets_is_left_out(value: object) -> None:
    # Decoding always gives octets; a Pdu built in code may hold anything: never a crash.
    r = parse_receipt(receipt_pdu("id:1 stat:UNDELIV", tlvs={Tag.NETWORK_ERROR_CODE: value}))
    assert r is not None and (r.message_id, r.state, r.network_error) == ("1", "UNDELIV", None)


def test_unknown_message_state_value_is_unknown() -> None:
    r = parse_receipt(receipt_pdu("", tlvs={Tag.RECEIPTED_MESSAGE_ID: "1", Tag.MESSAGE_STATE: 42}))
    assert r is not None and (r.state, r.final, r.message_state) == ("UNKNOWN", True, 42)


def test_ucs2_receipt_text() -> None:
    pdu = Pdu(
        CommandId.DELIVER_SM,
        esm_class=0x04,
        data_coding=0x08,
        short_message="id:5 stat:DELIVRD".encode("utf-16-be"),
    )
    r = parse_receipt(pdu)
    assert r is not None and (r.message_id, r.state) == ("5", "DELIVRD")


@given(st.binary(max_size=254), st.integers(0, 255))
def test_parse_receipt_never_raises(body: bytes, data_coding: int) -> None:
    pdu = Pdu(CommandId.DELIVER_SM, esm_class=4, data_coding=data_coding, short_message=body)
    parse_receipt(pdu)


# --- dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "parts"),
    [
        ("1005232039", (2010, 5, 23, 20, 39, 0)),
        ("110206193041", (2011, 2, 6, 19, 30, 41)),
        ("20110314181534", (2011, 3, 14, 18, 15, 34)),
        ("0000000000", None),  # month 0
        ("1013010000", None),  # month 13
        ("10052324390", None),  # 11 digits
        ("100523203a", None),
        ("", None),
        ("１００５２３２０３９", None),  # full-width digits are not receipt dates
    ],
)
def test_split_receipt_date(value: str, parts: tuple | None) -> None:
    assert split_receipt_date(value) == parts


# --- message-id canonicalisation (docs/protocol.md §5.5) ---------------------------------------


def test_worked_example_hex_submit_decimal_receipt() -> None:
    mode = IdMode.SUBMIT_HEX_DLR_DEC
    assert canonical_submit_id("C085E0", mode) == canonical_receipt_id("0012617184", mode)
    assert canonical_submit_id("c085e0", mode) == "12617184"


def test_jasmin_643_case_and_leading_zeros() -> None:
    assert canonical_submit_id("0e999f21") == canonical_receipt_id("E999F21")
    assert canonical_submit_id("0e999f21", "hex") == canonical_receipt_id("E999F21", "hex")


def test_decimal_submit_hex_receipt() -> None:
    mode = "submit_dec_dlr_hex"
    assert canonical_submit_id("12617184", mode) == canonical_receipt_id("00C085E0", mode)


def test_receipted_message_id_tlv_is_read_in_the_submit_base() -> None:
    mode = IdMode.SUBMIT_HEX_DLR_DEC
    assert canonical_receipt_id("C085E0", mode, from_tlv=True) == "12617184"
    r = parse_receipt(
        receipt_pdu("", tlvs={Tag.RECEIPTED_MESSAGE_ID: "C085E0", Tag.MESSAGE_STATE: 2})
    )
    assert r is not None and r.canonical_id(mode) == canonical_submit_id("C085E0", mode)


@pytest.mark.parametrize(
    ("raw", "mode", "canonical"),
    [
        ("74e02ee1-4e2f", "hex", "74E02EE1-4E2F"),  # not hex: as_is form, no exception
        ("abc", "dec", "ABC"),
        ("0x1F", "hex", "X1F"),  # int() would accept it; the digit check does not
        ("1_000", "dec", "1_000"),
        (" 0042 ", "dec", "42"),
        ("000", "as_is", "0"),
        ("000", "hex", "0"),
        ("", "hex", ""),
        ("٣", "dec", "٣"),  # a non-ASCII digit stays as it is
    ],
)
def test_ids_that_do_not_fit_the_mode_fall_back_to_as_is(
    raw: str, mode: str, canonical: str
) -> None:
    assert canonical_submit_id(raw, mode) == canonical


def test_unknown_mode_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown message id mode 'octal'"):
        canonical_submit_id("1", "octal")


@given(st.text(max_size=70), st.sampled_from([None, 10, 16]))
def test_canonical_id_never_raises(raw: str, base: int | None) -> None:
    canonical_id(raw, base)


@given(st.integers(0, 2**64))
def test_hex_and_decimal_forms_of_one_number_meet(number: int) -> None:
    hex_id = f"{number:X}".zfill(10)
    dec_id = f"{number:010d}"
    assert canonical_submit_id(hex_id, "submit_hex_dlr_dec") == canonical_receipt_id(
        dec_id, "submit_hex_dlr_dec"
    )
    assert canonical_submit_id(dec_id, "submit_dec_dlr_hex") == canonical_receipt_id(
        hex_id.lower(), "submit_dec_dlr_hex"
    )


# --- MO messages -------------------------------------------------------------------------------


def test_mo_message_with_concatenation_udh() -> None:
    pdu = Pdu(
        CommandId.DELIVER_SM,
        source_addr_ton=1,
        source_addr_npi=1,
        source_addr="447700900123",
        destination_addr="55555",
        esm_class=0x40,
        short_message=bytes.fromhex("0500030a0201") + b"Hello",
    )
    assert message_type(0x40) is MessageType.MOBILE_ORIGINATED
    mo = inbound_message(pdu)
    assert (mo.source_addr, mo.destination_addr, mo.data_coding) == ("447700900123", "55555", 0)
    assert mo.udh == bytes.fromhex("0003 0a0201")
    assert mo.body == b"Hello"
    assert mo.concat == Concat(10, 2, 1)
    assert mo.text() == "Hello"


def test_mo_message_16_bit_reference_and_ucs2() -> None:
    body = "Καλημέρα".encode("utf-16-be")
    pdu = Pdu(
        CommandId.DELIVER_SM,
        esm_class=0x40,
        data_coding=0x08,
        short_message=bytes.fromhex("060804 1234 0302") + body,
    )
    mo = inbound_message(pdu)
    assert mo.concat == Concat(0x1234, 3, 2)
    assert mo.text() == "Καλημέρα"


def test_mo_message_with_sar_tlvs_and_payload() -> None:
    pdu = Pdu(
        CommandId.DATA_SM,
        tlvs={
            Tag.MESSAGE_PAYLOAD: b"Hi",
            Tag.SAR_MSG_REF_NUM: 7,
            Tag.SAR_TOTAL_SEGMENTS: 2,
            Tag.SAR_SEGMENT_SEQNUM: 2,
        },
    )
    mo = inbound_message(pdu)
    assert (mo.user_data, mo.body, mo.concat) == (b"Hi", b"Hi", Concat(7, 2, 2))


@pytest.mark.parametrize("user_data", ["05000302", "", "0300", "04000301"])
def test_malformed_udh_keeps_the_message_whole(user_data: str) -> None:
    raw = bytes.fromhex(user_data)
    mo = inbound_message(Pdu(CommandId.DELIVER_SM, esm_class=0x40, short_message=raw))
    assert mo.udh_malformed and mo.body == raw and mo.udh == b""


def test_mo_text_hook_and_8bit_data() -> None:
    pdu = Pdu(CommandId.DELIVER_SM, data_coding=0x04, short_message=b"\x01\x02")
    mo = inbound_message(pdu)
    with pytest.raises(TextError, match="8-bit data"):
        mo.text()
    assert mo.text(lambda body, dcs: f"{dcs}:{body.hex()}") == "4:0102"


TOKEN = st.text(
    st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=":"), max_size=12
)


@given(
    st.tuples(TOKEN.filter(bool), TOKEN, TOKEN, st.text("0123456789", max_size=14)),
    st.text("0123456789", max_size=14),
    TOKEN.filter(bool),
    TOKEN,
    st.none() | st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=30),
    st.sampled_from([" ", "  ", "\t"]),
)
def test_standard_layout_fast_path_agrees_with_the_label_scanner(
    head: tuple[str, str, str, str],
    done: str,
    stat: str,
    err: str,
    text: str | None,
    gap: str,
) -> None:
    from herald.smpp.receipts import scanned_receipt_values

    message_id, sub, dlvrd, submit = head
    receipt = gap.join(
        [
            f"id:{message_id}",
            f"sub:{sub}",
            f"dlvrd:{dlvrd}",
            f"submit date:{submit}",
            f"done date:{done}",
            f"stat:{stat}",
            f"err:{err}",
        ]
        + ([] if text is None else [f"text:{text}"])
    )
    # parse_receipt's fast path gives the same values as the tolerant label scanner
    assert standard_receipt_values(receipt) == scanned_receipt_values(receipt)
