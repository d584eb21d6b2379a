"""Splitting an encoded text into SMS parts, and the concatenation header or TLVs of each part.

Counts are in wire units: septets (an escape pair costs 2 and is never split) or UTF-16 code
units (a surrogate pair is never split). Grapheme clusters stay whole when they fit in a part.
Capacities follow TS 23.040 9.2.3.24.1 as derived in docs/protocol.md §1.5 and §2.1: a UDH
of U octets leaves `160 - ceil(8U/7)` septets or `(140 - U) // 2` UCS-2 units.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from struct import Struct
from typing import Any, Literal, get_args

from herald.errors import TooManyPartsError
from herald.text.graphemes import boundary_at_or_before, surely_boundary

ConcatMethod = Literal["udh8", "udh16", "sar", "payload"]
CONCAT_METHODS: tuple[ConcatMethod, ...] = get_args(ConcatMethod)
MAX_PARTS = 255  # the total in the concatenation IE is one octet

ESC = 0x1B
CR, LF = 0x0D, 0x0A

IEI_CONCAT_8 = 0x00
IEI_CONCAT_16 = 0x08
TAG_SAR_MSG_REF_NUM = 0x020C
TAG_SAR_TOTAL_SEGMENTS = 0x020E
TAG_SAR_SEGMENT_SEQNUM = 0x020F
TAG_MESSAGE_PAYLOAD = 0x0424

_SAR = Struct(">HHHHHBHHB")
_SEQ = [bytes((seq,)) for seq in range(256)]
_TLV_HEADER = Struct(">HH")

# UDH octets a concatenation method puts in every part (UDHL included); sar is priced as the
# 16-bit reference header the SMSC will build, payload as the 8-bit one the handset receives.
CONCAT_UDH_OCTETS: dict[str, int] = {"udh8": 6, "udh16": 7, "sar": 7, "payload": 6}


@dataclass(frozen=True, slots=True)
class Part:
    """One submit_sm worth of message: `short_message` (UDH included) and TLV octets to append.

    `tlvs` is pre-encoded (tag u16 BE, length u16 BE, value) and b"" when there are none.
    """

    short_message: bytes
    tlvs: bytes = b""


class _PartSlots:
    """Part's layout without its frozen __setattr__: filled by plain attribute stores, then
    turned into a Part (`__class__` may change between classes of the same slots)."""

    __slots__ = tuple(f.name for f in fields(Part))


_new = object.__new__


def make_part(short_message: bytes, tlvs: bytes = b"") -> Part:
    """Part(short_message, tlvs), built without the frozen dataclass overhead.

    Parts are built per recipient: Part(...) costs 0.31 us (object.__setattr__ per field), this
    0.17 us. bench/text.py's encode stage takes 2.7 us per message with this and the copy in
    concatenate, 3.1-3.2 us with Part(...) in both (4-10% from this one alone).
    tests/unit/test_segment.py checks that it sets every field of Part.
    """
    part: Any = _new(_PartSlots)
    part.short_message = short_message
    part.tlvs = tlvs
    part.__class__ = Part
    made: Part = part
    return made


def gsm7_capacity(udh_octets: int) -> int:
    """Septets left in one part by a UDH of `udh_octets` octets (UDHL included); 0 means none."""
    return 160 - (8 * udh_octets + 6) // 7


def ucs2_capacity(udh_octets: int) -> int:
    """UTF-16 code units left in one part by a UDH of `udh_octets` octets."""
    return (140 - udh_octets) // 2


def _too_many(count: int) -> TooManyPartsError:
    return TooManyPartsError(
        f"the message needs {count} parts; SMS concatenation allows at most {MAX_PARTS}"
    )


def split_septets(data: bytes, cap: int) -> list[bytes]:
    """Greedy split of unpacked septets into chunks of at most `cap`.

    A chunk never ends on the escape octet of a pair (0x1B only ever leads a pair: a bare ESC is
    not text and 1B 1B is never generated) nor between CR and LF, the only GSM grapheme cluster
    of two characters.
    """
    n = len(data)
    chunks: list[bytes] = []
    start = 0
    while start < n:
        end = start + cap
        if end >= n:
            end = n
        elif data[end - 1] == ESC or (data[end - 1] == CR and data[end] == LF):
            end -= 1
        chunks.append(data[start:end])
        start = end
    if len(chunks) > MAX_PARTS:
        raise _too_many(len(chunks))
    return chunks


def split_utf16(text: str, data: bytes, cap: int) -> list[bytes]:
    """Greedy split of UTF-16BE octets (`data`, which is `text` encoded) into chunks of at most
    `cap` code units.

    Grapheme clusters stay whole when they fit in a part; a longer cluster is split at code
    point boundaries. A surrogate pair is never split.

    Only the cuts are looked at: a cut between two code points neither of which can join a
    neighbour (see graphemes.py) is a cluster boundary whatever the rest of the text holds, so
    `regex` runs only at a cut that has a joiner (or CR LF) beside it. The octets are sliced at
    the cuts: in an all-BMP text a code point is one unit, otherwise the code points of each
    window are counted by decoding it.
    """
    if cap < 2:
        raise ValueError(f"a UCS-2 part holds at least one surrogate pair, not {cap} unit")
    n = len(data)
    room = 2 * cap
    bmp = n == 2 * len(text)
    chunks: list[bytes] = []
    start = first = 0  # octet offset in `data`, code point index in `text`, of the next part
    while start + room < n:
        # Code points wholly inside the window (decoding drops a pair cut in half).
        window = cap if bmp else len(data[start : start + room].decode("utf-16-be", "ignore"))
        limit = first + window
        if surely_boundary(text, limit):
            end_point = limit
        else:
            end_point = boundary_at_or_before(text, limit, first)
            if end_point <= first:  # a cluster longer than a part: cut between code points
                end_point = limit
        end = start + room
        if not bmp and 0xD8 <= data[end - 2] <= 0xDB:  # the window ended inside a pair
            end -= 2
        if end_point != limit:  # backed off to the start of a cluster
            back = text[end_point:limit]
            end -= 2 * len(back) if bmp else len(back.encode("utf-16-be"))
        chunks.append(data[start:end])
        start, first = end, end_point
    if start < n:
        chunks.append(data[start:])
    if len(chunks) > MAX_PARTS:
        raise _too_many(len(chunks))
    return chunks


def sar_tlvs(reference: int, total: int, seq: int) -> bytes:
    """sar_msg_ref_num (u16), sar_total_segments and sar_segment_seqnum TLVs, in that order."""
    return _SAR.pack(
        TAG_SAR_MSG_REF_NUM,
        2,
        reference,
        TAG_SAR_TOTAL_SEGMENTS,
        1,
        total,
        TAG_SAR_SEGMENT_SEQNUM,
        1,
        seq,
    )


def message_payload_tlv(value: bytes) -> bytes:
    return _TLV_HEADER.pack(TAG_MESSAGE_PAYLOAD, len(value)) + value


def concatenate(
    chunks: list[bytes], concat: str, reference: int, ies: bytes, unit_octets: int = 1
) -> tuple[tuple[Part, ...], tuple[int, ...], tuple[int, ...]]:
    """Parts, their sm_length and their units (chunk octets // `unit_octets`: 1 for septets, 2
    for UTF-16) for a multipart message; `ies` are repeated in every part.

    Header IE order as AOSP SmsHeader.toByteArray: concatenation first, then the shift IEs.
    """
    total = len(chunks)
    shift = unit_octets >> 1
    if concat == "sar":  # the SMSC builds the concatenation header from the TLVs
        head = bytes((len(ies),)) + ies if ies else b""
        messages = [head + chunk for chunk in chunks]
        sar_parts = tuple(
            make_part(sm, sar_tlvs(reference, total, seq)) for seq, sm in enumerate(messages, 1)
        )
        return sar_parts, tuple(map(len, messages)), tuple([len(c) >> shift for c in chunks])
    if concat == "udh8":
        head = bytes((5 + len(ies), IEI_CONCAT_8, 3, reference, total))
    else:
        head = bytes((6 + len(ies), IEI_CONCAT_16, 4, reference >> 8, reference & 0xFF, total))
    # One plain loop with make_part inlined: per part, a list comprehension and a map over a
    # Python function each cost about as much as the work itself (2 parts: 1.9 -> 1.1 us);
    # Part(sm) here would add 8-11% to bench/text.py's encode stage. tests/unit/test_segment.py
    # checks that the parts have every field of Part.
    parts: list[Part] = []
    sm_lengths: list[int] = []
    units: list[int] = []
    for seq, chunk in enumerate(chunks, 1):
        sm = head + _SEQ[seq] + ies + chunk if ies else head + _SEQ[seq] + chunk
        part: Any = _new(_PartSlots)
        part.short_message = sm
        part.tlvs = b""
        part.__class__ = Part
        parts.append(part)
        sm_lengths.append(len(sm))
        units.append(len(chunk) >> shift)
    return tuple(parts), tuple(sm_lengths), tuple(units)
