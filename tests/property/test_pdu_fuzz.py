"""The decoder's one invariant: any bytes, fed whole or one byte at a time, either decode or
raise RemoteProtocolError, never anything else, and never hang. The connection built on it
turns the same bytes into events (or one fatal RemoteProtocolError), and every reply it
proposes can be sent."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from herald.errors import RemoteProtocolError
from herald.smpp.codec import encode
from herald.smpp.connection import Connection, Role, Violation
from herald.smpp.framing import PduReader
from herald.smpp.layouts import CommandId, Tag
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
        esme.receive_data(smsc.send(request.reply()))  # type: ignore[union-attr]
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
