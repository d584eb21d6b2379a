"""Every PDU type round-trips with arbitrary valid fields and TLVs (known and unknown tags),
and the submit_sm hot path stays byte-equal to the generic encoder."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from herald.smpp.codec import SubmitSmTemplate, decode, encode, encode_tlvs
from herald.smpp.framing import PduReader
from herald.smpp.layouts import CSTR, FLAG, LAYOUTS, SM, TAG_KINDS, U8, U16, U32, CommandId
from herald.smpp.pdu import Pdu

LATIN1_NO_NUL = st.characters(min_codepoint=1, max_codepoint=255)


def field_value(kind: str, size: int) -> st.SearchStrategy[Any]:
    if kind is CSTR:
        return st.text(LATIN1_NO_NUL, max_size=size - 1)
    if kind is SM:
        return st.binary(max_size=size)
    return st.integers(0, 255)


def tlv_value(kind: str) -> st.SearchStrategy[Any]:
    return {
        U8: st.integers(0, 0xFF),
        U16: st.integers(0, 0xFFFF),
        U32: st.integers(0, 0xFFFFFFFF),
        CSTR: st.text(LATIN1_NO_NUL, max_size=80),
        FLAG: st.just(True),
    }.get(kind, st.binary(max_size=300))


KNOWN_TAG = st.sampled_from(sorted(TAG_KINDS)).flatmap(
    lambda tag: st.tuples(st.just(tag), tlv_value(TAG_KINDS[tag]))
)
UNKNOWN_TAG = st.tuples(
    st.integers(0, 0xFFFF).filter(lambda t: t not in TAG_KINDS), st.binary(max_size=40)
)
TLVS = st.lists(st.one_of(KNOWN_TAG, UNKNOWN_TAG), max_size=6).map(dict)


@st.composite
def pdus(draw: st.DrawFn, command_id: int | None = None) -> Pdu:
    if command_id is None:
        command_id = draw(st.sampled_from(sorted(LAYOUTS)))
    params = {f.name: draw(field_value(f.kind, f.size)) for f in LAYOUTS[command_id]}
    return Pdu(
        command_id,
        command_status=draw(st.integers(0, 0xFFFFFFFF)),
        sequence_number=draw(st.integers(0, 0xFFFFFFFF)),
        tlvs=draw(TLVS),
        **params,
    )


@given(pdus())
def test_encode_decode_round_trip(pdu: Pdu) -> None:
    data = encode(pdu)
    assert int.from_bytes(data[:4], "big") == len(data)
    decoded = decode(data)
    assert decoded == pdu
    assert encode(decoded) == data


@given(st.lists(pdus(), min_size=1, max_size=8), st.data())
def test_stream_round_trip_with_any_chunking(items: list[Pdu], data: st.DataObject) -> None:
    stream = b"".join(map(encode, items))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    reader = PduReader()
    got: list[Pdu] = []
    for lo, hi in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        reader.feed(stream[lo:hi])
        got.extend(reader)
    assert got == items


SUBMIT_FIXED = [
    f.name
    for f in LAYOUTS[CommandId.SUBMIT_SM]
    if f.name not in {"destination_addr", "esm_class", "data_coding", "short_message"}
]


@given(pdus(CommandId.SUBMIT_SM))
def test_submit_sm_template_equals_the_generic_encoder(pdu: Pdu) -> None:
    pdu.command_status = 0
    pdu.sequence_number %= 0x80000000
    template = SubmitSmTemplate(**{name: pdu.params[name] for name in SUBMIT_FIXED})
    data = template.encode(
        pdu.sequence_number,
        pdu.params["destination_addr"],  # type: ignore[arg-type]
        pdu.params["short_message"],  # type: ignore[arg-type]
        encode_tlvs(pdu.tlvs),
        pdu.params["esm_class"],  # type: ignore[arg-type]
        pdu.params["data_coding"],  # type: ignore[arg-type]
    )
    assert data == encode(pdu)
