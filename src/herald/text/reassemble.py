"""Decoding parts back into text, as a handset does: for tests and the SMSC simulator.

Each part is decoded on its own with the shift tables named in its own UDH, as handsets do
(docs/protocol.md §1.4); a UCS-2 part that ends inside a surrogate pair therefore shows
U+FFFD, which is exactly what such a split looks like on a phone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from struct import Struct

from herald.errors import TextError
from herald.text.encoding import ESM_UDHI, EncodedMessage
from herald.text.national import IEI_LOCKING_SHIFT, IEI_SINGLE_SHIFT, codec_for_nli
from herald.text.segment import (
    IEI_CONCAT_8,
    IEI_CONCAT_16,
    TAG_MESSAGE_PAYLOAD,
    TAG_SAR_MSG_REF_NUM,
    TAG_SAR_SEGMENT_SEQNUM,
    TAG_SAR_TOTAL_SEGMENTS,
)

_TLV_HEADER = Struct(">HH")


@dataclass(frozen=True, slots=True)
class DecodedPart:
    """A decoded short_message: its text and what its UDH said."""

    text: str
    reference: int | None = None
    total: int | None = None
    seq: int | None = None
    locking_nli: int = 0
    single_shift_nli: int = 0


def alphabet(data_coding: int) -> str:
    """The alphabet of an SMPP data_coding: "gsm7", "ucs2" or "8bit" (TP-DCS for 0x1x, 0xFx)."""
    if data_coding == 0x00:
        return "gsm7"
    if data_coding == 0x08:
        return "ucs2"
    if data_coding in (0x02, 0x04):
        return "8bit"
    if 0x10 <= data_coding <= 0x1F:  # general group with a message class
        return ("gsm7", "8bit", "ucs2", "8bit")[(data_coding >> 2) & 3]
    if data_coding >= 0xF0:  # message class group: bit 2 picks 8-bit over GSM-7
        return "8bit" if data_coding & 0x04 else "gsm7"
    raise TextError(f"data_coding 0x{data_coding:02X} is not a GSM-7 or UCS-2 coding herald reads")


def parse_udh(short_message: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """Split a short_message that starts with a UDH into its IEs and the user data after it."""
    if not short_message:
        raise TextError("UDHI is set but short_message is empty")
    udhl = short_message[0]
    if 1 + udhl > len(short_message):
        raise TextError(f"UDH length {udhl} exceeds the {len(short_message)}-octet short_message")
    ies: list[tuple[int, bytes]] = []
    i, end = 1, 1 + udhl
    while i < end:
        if i + 2 > end or i + 2 + short_message[i + 1] > end:
            raise TextError(f"UDH information element at octet {i} runs past the header")
        length = short_message[i + 1]
        ies.append((short_message[i], short_message[i + 2 : i + 2 + length]))
        i += 2 + length
    return ies, short_message[end:]


def decode_short_message(short_message: bytes, data_coding: int, *, udhi: bool) -> DecodedPart:
    """Decode one short_message (UDH first when `udhi`), honouring its shift IEs."""
    reference = total = seq = None
    lock = single = 0
    data = short_message
    if udhi:
        ies, data = parse_udh(short_message)
        for iei, value in ies:
            if iei == IEI_CONCAT_8 and len(value) == 3:
                reference, total, seq = value
            elif iei == IEI_CONCAT_16 and len(value) == 4:
                reference, total, seq = (value[0] << 8) | value[1], value[2], value[3]
            elif iei == IEI_LOCKING_SHIFT and len(value) == 1:
                lock = value[0]
            elif iei == IEI_SINGLE_SHIFT and len(value) == 1:
                single = value[0]
    kind = alphabet(data_coding)
    if kind == "gsm7":
        text = codec_for_nli(lock, single).decode(data)
    elif kind == "ucs2":
        text = data.decode("utf-16-be", "replace")
    else:
        raise TextError(f"data_coding 0x{data_coding:02X} carries 8-bit data, not text")
    return DecodedPart(text, reference, total, seq, lock, single)


def decode_parts(short_messages: Iterable[bytes], data_coding: int, *, udhi: bool = True) -> str:
    """Decode the parts of one message and join them, in concatenation order when known."""
    decoded = [decode_short_message(sm, data_coding, udhi=udhi) for sm in short_messages]
    if all(p.seq is not None for p in decoded):
        decoded.sort(key=lambda p: p.seq or 0)
    return "".join(p.text for p in decoded)


def parse_tlvs(tlvs: bytes) -> dict[int, bytes]:
    """Pre-encoded TLV octets (tag u16, length u16, value) as {tag: value}."""
    found: dict[int, bytes] = {}
    i = 0
    while i < len(tlvs):
        if i + 4 > len(tlvs):
            raise TextError(f"truncated TLV header at octet {i}")
        tag, length = _TLV_HEADER.unpack_from(tlvs, i)
        if i + 4 + length > len(tlvs):
            raise TextError(f"TLV 0x{tag:04X} at octet {i} runs past the end")
        found[tag] = tlvs[i + 4 : i + 4 + length]
        i += 4 + length
    return found


def decode_message(message: EncodedMessage) -> str:
    """The text an EncodedMessage delivers, read back from its parts and TLVs only."""
    data_coding = message.data_coding
    udhi = bool(message.esm_class & ESM_UDHI)
    bodies = []
    for part in message.parts:
        tlvs = parse_tlvs(part.tlvs)
        body = tlvs.get(TAG_MESSAGE_PAYLOAD, part.short_message)
        if TAG_SAR_MSG_REF_NUM in tlvs and not (
            tlvs.get(TAG_SAR_TOTAL_SEGMENTS) and tlvs.get(TAG_SAR_SEGMENT_SEQNUM)
        ):
            raise TextError("SAR TLVs are incomplete")
        bodies.append(decode_short_message(body, data_coding, udhi=udhi).text)
    return "".join(bodies)
