"""Micro-benchmarks of the SMPP core: the per-message paths of the codec, framing and connection.

Each figure is printed beside a baseline measured in the same run: a minimal hand-written
`struct` codec doing the same job with no validation and no generality (the "3M submit_sm/s"
encoder of docs/decisions/0004-smpp-libraries-as-production-client.md). The ratio is what the
table-driven codec costs.
Run: .venv/bin/python bench/codec.py
"""

from __future__ import annotations

import struct
import time
import timeit
from collections.abc import Callable
from typing import Any, cast

from herald.smpp.codec import SubmitSmTemplate, decode_pdu, encode, encode_tlvs
from herald.smpp.connection import Connection, Role
from herald.smpp.framing import PduReader
from herald.smpp.layouts import CommandId, Tag
from herald.smpp.pdu import Pdu
from herald.smpp.receipts import parse_receipt

# CPU time of this process, best of 7: the box has 2 shared cores and wall time wanders.
CLOCK = time.process_time
HEADER = struct.Struct(">IIII")
BODY_HEADER = struct.Struct(">III")

DEST = "447700900123"
PART = bytes.fromhex("0500032a0201") + b"a" * 153  # a full GSM-7 part with its UDH
SAR = encode_tlvs({Tag.SAR_MSG_REF_NUM: 42, Tag.SAR_TOTAL_SEGMENTS: 2, Tag.SAR_SEGMENT_SEQNUM: 1})
RECEIPT = Pdu(
    CommandId.DELIVER_SM,
    sequence_number=7,
    source_addr_ton=1,
    source_addr_npi=1,
    source_addr=DEST,
    dest_addr_ton=5,
    destination_addr="Brand",
    esm_class=4,
    short_message=(
        b"id:C085E0 sub:001 dlvrd:001 submit date:2401011200 done date:2401011201 "
        b"stat:DELIVRD err:000 text:Hello"
    ),
    tlvs={Tag.RECEIPTED_MESSAGE_ID: "C085E0", Tag.MESSAGE_STATE: 2},
)


def per_call_us(fn: Callable[[], object], number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=7, timer=CLOCK)) / number * 1e6


# --- baselines: the least a Python codec can do ----------------------------------------------


def baseline_submit_sm(seq: int, dest: str, short_message: bytes, tlvs: bytes) -> bytes:
    body = b"".join(
        (
            b"\x00\x05\x00Brand\x00\x01\x01",
            dest.encode(),
            b"\x00\x40\x00\x00\x00\x00\x01\x00\x00\x00",
            bytes((len(short_message),)),
            short_message,
            tlvs,
        )
    )
    return HEADER.pack(16 + len(body), 4, 0, seq) + body


def baseline_submit_sm_resp(data: bytes, start: int, end: int) -> tuple:
    command_id, status, seq = BODY_HEADER.unpack_from(data, start + 4)
    nul = data.find(b"\0", start + 16, end)
    return command_id, status, seq, data[start + 16 : nul].decode("latin-1")


def baseline_framing(buf: bytes) -> int:
    pos, n, unpack = 0, 0, HEADER.unpack_from
    while pos < len(buf):
        length, _command_id, _status, _seq = unpack(buf, pos)
        nul = buf.find(b"\0", pos + 16, pos + length)
        buf[pos + 16 : nul].decode("latin-1")
        pos += length
        n += 1
    return n


def bound_esme() -> Connection:
    """An ESME bound as a transceiver through the real handshake with an SMSC connection."""
    esme, smsc = Connection(Role.ESME), Connection(Role.SMSC)
    smsc.receive_data(esme.send(Pdu(CommandId.BIND_TRANSCEIVER)))
    (bind,) = smsc.events()
    assert isinstance(bind, Pdu)
    esme.receive_data(smsc.send(bind.reply()))
    list(esme.events())
    return esme


def main() -> None:
    template = SubmitSmTemplate(
        source_addr_ton=5,
        source_addr="Brand",
        dest_addr_ton=1,
        dest_addr_npi=1,
        registered_delivery=1,
    )
    assert template.encode(7, DEST, PART, b"", 0x40) == baseline_submit_sm(7, DEST, PART, b"")
    submit_pdu = Pdu(
        CommandId.SUBMIT_SM,
        sequence_number=7,
        destination_addr=DEST,
        short_message=PART,
        esm_class=0x40,
        **cast("dict[str, Any]", template.fields),  # body fields only: no keyword clashes
    )
    resp = encode(Pdu(CommandId.SUBMIT_SM_RESP, sequence_number=7, message_id="0123456789abcdef"))
    receipt = encode(RECEIPT)
    buffer = b"".join(
        encode(Pdu(CommandId.SUBMIT_SM_RESP, sequence_number=i, message_id=f"{i:016x}"))
        for i in range(2, 1002)  # 1 is the bind
    )

    def framing() -> None:
        reader = PduReader()
        reader.feed(buffer)
        for _ in reader:
            pass

    def connection_round() -> None:
        conn = bound_esme()
        for _ in range(1000):
            conn.send_submit_sm(template, DEST, PART, b"", 0x40, 0, None)
        conn.receive_data(buffer)
        for _ in conn.events():
            pass

    rows = [
        (
            "submit_sm encode (SubmitSmTemplate, UDH part)",
            lambda: template.encode(7, DEST, PART, b"", 0x40),
            lambda: baseline_submit_sm(7, DEST, PART, b""),
            200_000,
            1,
        ),
        (
            "submit_sm encode (template, SAR TLVs appended)",
            lambda: template.encode(7, DEST, b"a" * 153, SAR, 0),
            lambda: baseline_submit_sm(7, DEST, b"a" * 153, SAR),
            200_000,
            1,
        ),
        (
            "submit_sm encode (generic encode(Pdu))",
            lambda: encode(submit_pdu),
            lambda: baseline_submit_sm(7, DEST, PART, b""),
            50_000,
            1,
        ),
        (
            "submit_sm_resp decode",
            lambda: decode_pdu(resp, 0, len(resp)),
            lambda: baseline_submit_sm_resp(resp, 0, len(resp)),
            200_000,
            1,
        ),
        (
            "deliver_sm receipt decode",
            lambda: decode_pdu(receipt, 0, len(receipt)),
            lambda: baseline_submit_sm_resp(resp, 0, len(resp)),
            50_000,
            1,
        ),
        (
            "deliver_sm receipt decode + parse_receipt + canonical id",
            lambda: parse_receipt(decode_pdu(receipt, 0, len(receipt))).canonical_id(),  # type: ignore[union-attr]
            lambda: baseline_submit_sm_resp(resp, 0, len(resp)),
            20_000,
            1,
        ),
        (
            "framing: 1000 submit_sm_resp in one buffer, per PDU",
            framing,
            lambda: baseline_framing(buffer),
            200,
            1000,
        ),
        (
            "connection: 1000 send_submit_sm + 1000 matched responses, per message",
            connection_round,
            lambda: (
                [baseline_submit_sm(i, DEST, PART, b"") for i in range(1000)],
                baseline_framing(buffer),
            ),
            50,
            1000,
        ),
    ]
    print(f"{'operation':<72} {'herald µs':>10} {'baseline µs':>12} {'ratio':>7}")
    for name, ours, baseline, number, per in rows:
        ours_us = per_call_us(ours, number) / per
        base_us = per_call_us(baseline, number) / per
        print(f"{name:<72} {ours_us:>10.3f} {base_us:>12.3f} {ours_us / base_us:>6.2f}x")


if __name__ == "__main__":
    main()
