"""The decoder's one invariant: any bytes, fed whole or one byte at a time, either decode or
raise RemoteProtocolError, never anything else, and never hang. The connection built on it
turns the same bytes into events (or one fatal RemoteProtocolError), and every reply it
proposes can be sent."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.errors import RemoteProtocolError
from herald.smpp import codec
from herald.smpp.codec import encode
from herald.smpp.connection import Connection, Role, Violation
from herald.smpp.framing import PduReader
from herald.smpp.layouts import CSTR, LAYOUTS, SM, U8, U16, CommandId, Field, Tag
from herald.smpp.pdu import Pdu

SEEDS = [
    encode(Pdu(CommandId.SUBMIT_SM_RESP, sequence_number=2, message_id="C085E0")),
    encode(
        Pdu(
            CommandId.DELIVER_SM,
            sequence_number=3,
            esm_class=4,
            source_addr="447700900123",
            short_message=b"id:1 stat:DELIVRD",
            tlvs={Tag.RECEIPTED_MESSAGE_ID: "1", Tag.MESSAGE_STATE: 2, 0x1401: b"v"},
        )
    ),
    encode(Pdu(CommandId.BIND_TRANSCEIVER, sequence_number=1, system_id="a", password="b")),
    encode(Pdu(CommandId.ENQUIRE_LINK, sequence_number=4)),
    encode(Pdu(CommandId.DATA_SM, sequence_number=5, tlvs={Tag.MESSAGE_PAYLOAD: b"x" * 40})),
]


@st.composite
def mutated_streams(draw: st.DrawFn) -> bytes:
    """Valid PDUs with bytes flipped, cut, inserted or lengths rewritten: mostly well framed,
    so the body decoder gets exercised, not just the length check."""
    stream = bytearray(b"".join(draw(st.lists(st.sampled_from(SEEDS), min_size=1, max_size=4))))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "length"]))
        at = draw(st.integers(0, max(len(stream) - 1, 0)))
        if op == "flip" and stream:
            stream[at] = draw(st.integers(0, 255))
        elif op == "cut":
            del stream[at : at + draw(st.integers(1, 8))]
        elif op == "insert":
            stream[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "length" and len(stream) >= 4:
            stream[0:4] = draw(st.integers(0, 400)).to_bytes(4, "big")
    return bytes(stream)


ANY_BYTES = st.one_of(st.binary(max_size=300), mutated_streams())


def drain(reader: PduReader) -> list[object]:
    """Read until the reader wants more data or reports a fatal error."""
    out: list[object] = []
    while True:
        try:
            pdu = reader.next_pdu()
        except RemoteProtocolError as error:
            out.append(("error", str(error), error.fatal))
            if error.fatal:
                return out
            continue
        except Exception as error:  # pragma: no cover - the invariant under test
            raise AssertionError(f"decoder raised {type(error).__name__}: {error}") from error
        if pdu is None:
            return out
        out.append(pdu)


def feed(data: bytes, step: int) -> list[object]:
    reader = PduReader(max_command_length=256)
    out: list[object] = []
    for i in range(0, len(data), step):
        reader.feed(data[i : i + step])
        out += drain(reader)
        if out and isinstance(out[-1], tuple) and out[-1][2]:
            break
    return out


@settings(max_examples=300)
@given(ANY_BYTES)
def test_any_bytes_decode_or_raise_remote_protocol_error(data: bytes) -> None:
    whole = feed(data, len(data) or 1)
    byte_by_byte = feed(data, 1)
    # The same PDUs and the same errors whichever way the bytes arrive.
    assert whole == byte_by_byte


@settings(max_examples=200)
@given(ANY_BYTES, st.sampled_from(list(Role)), st.booleans())
def test_connection_survives_any_bytes(data: bytes, role: Role, bound: bool) -> None:
    conn = Connection(role)
    if bound:  # put the connection in BOUND_TRX through a real handshake
        peer = Connection(Role.SMSC if role is Role.ESME else Role.ESME)
        esme, smsc = (conn, peer) if role is Role.ESME else (peer, conn)
        smsc.receive_data(esme.send(Pdu(CommandId.BIND_TRANSCEIVER)))
        (request,) = smsc.events()
        assert isinstance(request, Pdu)
        esme.receive_data(smsc.send(request.reply()))
        list(esme.events())
    for i in range(len(data)):
        conn.receive_data(data[i : i + 1])
        try:
            for event in conn.events():
                if isinstance(event, Violation) and event.reply is not None:
                    conn.send(event.reply)
        except RemoteProtocolError as error:
            assert error.fatal
            return


@st.composite
def bodies(draw: st.DrawFn) -> tuple[int, bytes]:
    """A command id and a mandatory body for it: well formed, or with one field broken (a
    C-string too long or without its NUL, an sm_length past the end), then maybe cut short."""
    command_id = draw(st.sampled_from([c for c, layout in LAYOUTS.items() if layout]))
    layout = LAYOUTS[command_id]
    broken = draw(st.one_of(st.just(-1), st.integers(0, len(layout) - 1)))
    out = bytearray()
    for i, field in enumerate(layout):
        bad = i == broken
        if field.kind == U8:
            out += draw(st.binary(min_size=1, max_size=1))
        elif field.kind == CSTR:
            # a broken C-string is just over its maximum, or has no NUL at all
            size = draw(st.integers(field.size, field.size + 2)) if bad else None
            text = draw(st.binary(min_size=size or 0, max_size=size or field.size - 1))
            text = text.replace(b"\0", b"x")
            out += text if bad and draw(st.booleans()) else text + b"\0"
        elif field.kind == SM:
            payload = draw(st.binary(max_size=field.size))
            length = len(payload)
            if bad and draw(st.booleans()):  # over the maximum, with the octets to match
                length = draw(st.integers(field.size + 1, 255))
                payload = draw(st.binary(min_size=length, max_size=length))
            elif bad:  # more octets announced than follow
                length = draw(st.integers(len(payload) + 1, 255))
            out += bytes((length,)) + payload
        else:
            out += draw(st.binary(min_size=2, max_size=4))
    out += draw(st.binary(max_size=8))  # TLVs or junk after the mandatory fields
    if draw(st.booleans()):
        out = out[: draw(st.integers(0, len(out)))]
    return command_id, bytes(out)


@settings(max_examples=600)
@given(bodies())
def test_compiled_body_decoders_agree_with_the_field_walker(case: tuple[int, bytes]) -> None:
    command_id, body = case
    layout = LAYOUTS[command_id]
    fast = codec._FAST[command_id](body, 0, len(body))
    try:
        walked = codec._walk(body, 0, len(body), layout, command_id, 7)
    except RemoteProtocolError:
        assert fast is None  # the walker names the error the fast path stepped back from
        return
    assert fast == walked


def _field_octets(field: Field, break_it: str | None) -> bytes:
    if field.kind == U8:
        return b"\x07"
    if field.kind == CSTR:
        if break_it == "over":
            return b"a" * field.size + b"\0"  # one octet over the maximum
        return b"a" * (field.size - 1) + (b"" if break_it == "no_nul" else b"\0")
    if field.kind == SM:
        if break_it == "over":
            return bytes((field.size + 1,)) + b"m" * (field.size + 1)
        return bytes((field.size,)) + b"m" * (field.size - 1 if break_it == "short" else field.size)
    return b"\0" * (2 if field.kind == U16 else 4)


BREAKS = {U8: ["cut"], CSTR: ["over", "no_nul", "cut"], SM: ["over", "short", "cut"]}


@pytest.mark.parametrize("command_id", sorted(c for c, layout in LAYOUTS.items() if layout))
def test_compiled_decoders_step_back_exactly_where_the_walker_raises(command_id: int) -> None:
    layout = LAYOUTS[command_id]
    whole = b"".join(_field_octets(f, None) for f in layout)
    assert codec._FAST[command_id](whole, 0, len(whole)) == codec._walk(
        whole, 0, len(whole), layout, command_id, 1
    )
    for i, field in enumerate(layout):
        for how in BREAKS.get(field.kind, ["cut"]):
            head = b"".join(_field_octets(f, None) for f in layout[:i])
            if how == "cut":
                body = head  # the body ends before this field
            else:
                body = (
                    head
                    + _field_octets(field, how)
                    + b"".join(_field_octets(f, None) for f in layout[i + 1 :])
                )
            assert codec._FAST[command_id](body, 0, len(body)) is None, (field.name, how)
            with pytest.raises(RemoteProtocolError):
                codec._walk(body, 0, len(body), layout, command_id, 1)
