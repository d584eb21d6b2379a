"""Encoding choice per message: GSM-7 (default, then national tables) or UCS-2, then the parts.

`encode_message` runs once per recipient at expansion, so the common cases avoid Python loops:
plain GSM text is encoded by one C translate (which also yields the septet count), a single
part needs no splitting at all, and the result object is built without dataclass overhead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any, Literal

from herald.errors import InvalidTextError, TextOptionError, UnencodableError
from herald.text.gsm7 import DEFAULT_CODEC, GSM7_CHARS
from herald.text.national import (
    CODECS,
    LOCKING_TABLES,
    SINGLE_SHIFT_TABLES,
    candidate_tables,
    parse_languages,
    shift_ies,
)
from herald.text.segment import (
    CONCAT_METHODS,
    CONCAT_UDH_OCTETS,
    Part,
    concatenate,
    gsm7_capacity,
    make_part,
    message_payload_tlv,
    split_septets,
    split_utf16,
    ucs2_capacity,
)
from herald.text.transcode import transcode as transcode_text

_HIGH = bytes(range(0x80, 0x100))
_ASCII_TO_GSM = DEFAULT_CODEC.latin1_table  # used for ASCII text only
DCS_GSM7, DCS_UCS2 = 0x00, 0x08
DCS_GSM7_FLASH, DCS_UCS2_FLASH = 0xF0, 0x18  # class 0: group 1111 for GSM-7, general for UCS-2
ESM_UDHI = 0x40

# Cc characters other than LF, FF and CR (which GSM has), and lone surrogates.
_INVALID = re.compile("[\x00-\x09\x0b\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_MAX_REFERENCE = {"udh8": 0xFF, "udh16": 0xFFFF, "sar": 0xFFFF, "payload": 0xFFFF}

National = tuple[str | None, str | None]
Encoding = Literal["gsm7", "ucs2"]


def _runs_of(chars: frozenset[str]) -> re.Pattern[str]:
    return re.compile("[" + "".join(re.escape(c) for c in sorted(chars)) + "]+")


_GSM_RUNS = _runs_of(GSM7_CHARS)


def _non_gsm(text: str, runs: re.Pattern[str] = _GSM_RUNS) -> tuple[str, ...]:
    """Unique characters of `text` outside the class `runs`, by first appearance."""
    return tuple(dict.fromkeys(runs.sub("", text)))


@lru_cache(maxsize=8)
def _national_runs(languages: frozenset[str]) -> re.Pattern[str]:
    """Runs of characters that some table pair of `languages` (or the default) can carry."""
    return _runs_of(GSM7_CHARS.union(*(CODECS[pair].chars for pair in candidate_tables(languages))))


@dataclass(frozen=True, slots=True)
class EncodedMessage:
    """One message, encoded and split, ready to become one submit_sm per part.

    units: per part, septets (GSM-7) or UTF-16 code units (UCS-2), UDH excluded.
    sm_lengths: per part, octets of short_message (UDH included; 0 with message_payload).
    segments: what the handset receives; len(parts) except for the payload method.
    chars_left: default-table characters (GSM-7) or BMP characters (UCS-2) that still fit in
        the last segment without adding one.
    national: None, or the (locking, single shift) tables used, None meaning default.
    text: the text encoded: transcoded when that kept it GSM-7, else as given.
    forced_ucs2_by (property): characters that made the message UCS-2, unique, in order of
        first appearance; () for GSM-7.
    """

    encoding: Encoding
    data_coding: int
    esm_class: int
    parts: tuple[Part, ...]
    units: tuple[int, ...]
    sm_lengths: tuple[int, ...]
    segments: int
    chars_left: int
    national: National | None
    text: str
    # For UCS-2: the text that failed GSM-7 (transcoded if asked) and the runs of characters
    # that were not to blame. Listing the culprits walks every character (~50 ns each, more
    # than all the rest for a Cyrillic text), so it waits until someone asks.
    _ucs2_source: tuple[str, re.Pattern[str]] | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def forced_ucs2_by(self) -> tuple[str, ...]:
        if self._ucs2_source is None:
            return ()
        source, runs = self._ucs2_source
        return _non_gsm(source, runs) or _non_gsm(source)


class _MessageSlots:
    """EncodedMessage's layout without its frozen __setattr__ (see _message)."""

    __slots__ = tuple(f.name for f in fields(EncodedMessage))


_new = object.__new__


def _message(
    encoding: Encoding,
    data_coding: int,
    esm_class: int,
    parts: tuple[Part, ...],
    units: tuple[int, ...],
    sm_lengths: tuple[int, ...],
    segments: int,
    chars_left: int,
    national: National | None,
    text: str,
    ucs2_source: tuple[str, re.Pattern[str]] | None,
) -> EncodedMessage:
    # This runs per recipient. A frozen dataclass __init__ costs ~1.1 us for eleven fields
    # (object.__setattr__ each); plain attribute stores on a class of the same slots, which then
    # becomes an EncodedMessage (`__class__` may change between classes of the same layout),
    # ~0.3 us. bench/text.py's encode stage takes 2.7 us per message with this, 3.9 us with
    # EncodedMessage(...). tests/unit/test_encoding.py checks that it sets every field.
    m: Any = _new(_MessageSlots)
    m.encoding = encoding
    m.data_coding = data_coding
    m.esm_class = esm_class
    m.parts = parts
    m.units = units
    m.sm_lengths = sm_lengths
    m.segments = segments
    m.chars_left = chars_left
    m.national = national
    m.text = text
    m._ucs2_source = ucs2_source
    m.__class__ = EncodedMessage
    message: EncodedMessage = m
    return message


# A concatenation reference, or a function drawing one when the message needs it.
Reference = int | Callable[[], int]


def _check_options(concat: str, reference: int) -> None:
    limit = _MAX_REFERENCE.get(concat)
    if limit is None:
        raise TextOptionError(
            f"unknown concatenation method {concat!r}; allowed: {', '.join(CONCAT_METHODS)}"
        )
    if type(reference) is not int or not 0 <= reference <= limit:
        raise TextOptionError(
            f"reference {reference!r} is out of range for {concat}: allowed 0..{limit}"
        )


def _check_text(text: str) -> None:
    """Raise InvalidTextError for the first character that must never be sent."""
    bad = _INVALID.search(text)
    if bad is not None:
        char, index = bad[0], bad.start()
        if "\ud800" <= char <= "\udfff":
            why = "is a lone surrogate (half of a UTF-16 pair), not a character"
        else:
            why = "is a control character; only LF, CR and FF may be sent"
        raise InvalidTextError(f"{char!r} (U+{ord(char):04X}) at index {index} {why}")


def _build(
    data: bytes,
    encoding: Encoding,
    text: str,
    concat: str,
    reference: Reference,
    flash: bool,
    ies: bytes = b"",
    national: National | None = None,
    ucs2_source: tuple[str, re.Pattern[str]] | None = None,
) -> EncodedMessage:
    """Split `data` (unpacked septets or UTF-16BE) into parts and wrap it in a result."""
    gsm = encoding == "gsm7"
    if gsm:
        dcs = DCS_GSM7_FLASH if flash else DCS_GSM7
        units_total = len(data)
        cap1 = gsm7_capacity(1 + len(ies)) if ies else 160
    else:
        dcs = DCS_UCS2_FLASH if flash else DCS_UCS2
        units_total = len(data) >> 1
        cap1 = 70
    udhl = bytes((len(ies),)) + ies if ies else b""
    esm = ESM_UDHI if ies else 0

    if units_total <= cap1:  # one part, whatever the concatenation method
        sm = udhl + data if ies else data
        return _message(
            encoding,
            dcs,
            esm,
            (make_part(sm),),
            (units_total,),
            (len(sm),),
            1,
            cap1 - units_total,
            national,
            text,
            ucs2_source,
        )

    udh_octets = CONCAT_UDH_OCTETS[concat] + len(ies)
    if gsm:
        cap = gsm7_capacity(udh_octets)
        chunks = split_septets(data, cap)
    else:
        cap = ucs2_capacity(udh_octets)
        chunks = split_utf16(text, data, cap)
    unit_octets = 1 if gsm else 2
    if concat == "payload":  # one submit; the SMSC splits it as the handset will receive it
        part = make_part(b"", message_payload_tlv(udhl + data))
        return _message(
            encoding,
            dcs,
            esm,
            (part,),
            (units_total,),
            (0,),
            len(chunks),
            cap - len(chunks[-1]) // unit_octets,
            national,
            text,
            ucs2_source,
        )
    if not isinstance(reference, int):  # drawn now that the text needs parts
        reference = reference()
        _check_options(concat, reference)
    parts, sm_lengths, units = concatenate(chunks, concat, reference, ies, unit_octets)
    if concat != "sar":
        esm = ESM_UDHI
    return _message(
        encoding,
        dcs,
        esm,
        parts,
        units,
        sm_lengths,
        len(parts),
        cap - units[-1],
        national,
        text,
        ucs2_source,
    )


def _best_national(
    text: str, languages: frozenset[str], concat: str
) -> tuple[bytes, National] | None:
    """The national table pair needing the fewest parts, then leaving the most room.

    As AOSP GsmAlphabet.countGsmSeptets; ties go to fewer shift IEs, then to table order.
    Parts are estimated from the septet total as Android does; the split itself can only add
    a part when an escape pair or CR LF straddles a boundary.
    """
    best: tuple[tuple[int, int, int], bytes, National] | None = None
    for pair in candidate_tables(languages):
        codec = CODECS[pair]
        compact = codec.encode_compact(text)
        if compact is None:
            continue
        ies = shift_ies(*pair)
        septets = 2 * len(compact) - len(compact.translate(None, _HIGH))
        cap1 = gsm7_capacity(1 + len(ies))
        if septets <= cap1:
            count, room = 1, cap1 - septets
        else:
            cap = gsm7_capacity(CONCAT_UDH_OCTETS[concat] + len(ies))
            count = -(-septets // cap)
            room = count * cap - septets
        key = (count, -room, len(ies))
        if best is None or key < best[0]:
            best = (key, compact, pair)
    return None if best is None else (CODECS[best[2]].expand(best[1]), best[2])


def encode_message(
    text: str,
    *,
    concat: str = "udh8",
    national: Iterable[str] = (),
    flash: bool = False,
    transcode: bool = False,
    reference: Reference = 0,
) -> EncodedMessage:
    """Choose GSM-7 or UCS-2 for `text`, split it into parts and build their headers.

    concat: "udh8" (default), "udh16", "sar" or "payload" (docs/protocol.md §2.2).
    national: any of "tr", "es", "pt"; used only when the default tables cannot carry the text.
    transcode: replace characters without a GSM form by look-alikes before choosing; if the
        text needs UCS-2 anyway, the original text is sent (look-alikes would only lose).
    reference: concatenation reference, 0..255 for udh8 and 0..65535 otherwise; or a function
        giving one, called only when the text needs several parts (a single part carries no
        reference, and drawing one costs a campaign's expansion about 2 µs a message).

    The empty text encodes as one empty GSM-7 part; refusing empty messages is the caller's job.
    Raises InvalidTextError (control character, lone surrogate), TooManyPartsError (more than
    255 parts) and TextOptionError (unknown method, table or reference out of range).
    """
    if not isinstance(reference, int):
        if concat != "udh8":
            _check_options(concat, 0)
    elif concat != "udh8" or type(reference) is not int or not 0 <= reference <= 0xFF:
        _check_options(concat, reference)
    languages = parse_languages(national) if national else None
    original = text
    if transcode:
        text = transcode_text(text, languages or frozenset())

    data: bytes | None
    if text.isascii():  # most texts: one C translate; non-ASCII output means ESC pairs or bad
        data = text.encode("ascii").translate(_ASCII_TO_GSM)
        if not data.isascii():
            data = DEFAULT_CODEC.encode(text)
    else:
        data = DEFAULT_CODEC.encode(text)
    if data is not None:
        n = len(data)
        if n <= 160:  # the common case: one plain GSM-7 part, no UDH
            units = (n,)
            return _message(
                "gsm7",
                DCS_GSM7_FLASH if flash else DCS_GSM7,
                0,
                (make_part(data),),
                units,
                units,
                1,
                160 - n,
                None,
                text,
                None,
            )
        return _build(data, "gsm7", text, concat, reference, flash)

    _check_text(original)
    if languages:
        found = _best_national(text, languages, concat)
        if found is not None:
            data, pair = found
            return _build(data, "gsm7", text, concat, reference, flash, shift_ies(*pair), pair)
        why = (text, _national_runs(languages))
    else:
        why = (text, _GSM_RUNS)
    return _build(
        original.encode("utf-16-be"), "ucs2", original, concat, reference, flash, ucs2_source=why
    )


def encode_with_tables(
    text: str,
    locking: str | None,
    single_shift: str | None,
    *,
    concat: str = "udh8",
    flash: bool = False,
    reference: int = 0,
) -> EncodedMessage:
    """Encode `text` in GSM-7 with exactly these shift tables (None = default), no choosing.

    For routes whose handsets are known to support one pair only, and for testing capacities.
    Raises UnencodableError naming the first character the pair cannot carry.
    """
    _check_options(concat, reference)
    if locking is not None and locking not in LOCKING_TABLES:
        raise TextOptionError(
            f"unknown locking-shift table {locking!r}; allowed: {', '.join(LOCKING_TABLES)}"
        )
    if single_shift is not None and single_shift not in SINGLE_SHIFT_TABLES:
        raise TextOptionError(
            f"unknown single-shift table {single_shift!r}; "
            f"allowed: {', '.join(SINGLE_SHIFT_TABLES)}"
        )
    codec = CODECS[(locking, single_shift)]
    data = codec.encode(text)
    if data is None:
        _check_text(text)
        index, char = next((i, c) for i, c in enumerate(text) if c not in codec.chars)
        raise UnencodableError(
            f"{char!r} (U+{ord(char):04X}) at index {index} is not in the tables "
            f"(locking={locking}, single shift={single_shift})"
        )
    pair = (locking, single_shift)
    national = None if pair == (None, None) else pair
    return _build(data, "gsm7", text, concat, reference, flash, shift_ies(*pair), national)
