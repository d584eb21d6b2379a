"""GSM 03.38 (3GPP TS 23.038) 7-bit alphabet: tables, septet counting, unpacked encode/decode.

On SMPP, GSM-7 text travels *unpacked*: one septet per octet, an extension character as the two
octets `1B xx` (docs/protocol.md §1.1, §1.2, §3.6). So the unpacked bytes are also the septet
count: `len(encoded)` is what the message costs.

`SeptetCodec` is one locking table plus one single-shift table; the default pair lives here and
the national pairs in `national.py`. Encoding avoids Python-level loops (this runs once per
recipient): Latin-1 text (so ASCII too) goes through `bytes.translate`, other text through a C
charmap. Both map each character to its code, a single-shift character to the sentinel
`0x80 | code`, and an unencodable Latin-1 character to `_BAD`; only when sentinels appear are
they expanded into escape pairs.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping

from herald.errors import UnencodableError

ESC = 0x1B

# TS 23.038 6.2.1, indexed by code; 0x1B is the escape to the (single-shift) extension table.
DEFAULT_ALPHABET = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)

# TS 23.038 6.2.1.1: exactly ten characters, each sent as 1B xx and costing two septets.
EXTENSION_TABLE: Mapping[str, int] = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}

_SHIFT = 0x80  # sentinel bit: "this code belongs to the single-shift table"
_BAD = _SHIFT | ESC  # 0x9B: never a real single-shift sentinel (1B 1B is reserved)
_UNMAPPED = "\ufffe"  # "undefined" in a charmap decoding string
_SENTINELS = re.compile(rb"[\x80-\xff]")
_EXPANSIONS = {bytes((_SHIFT | code,)): bytes((ESC, code)) for code in range(128)}
_HIGH = bytes(range(0x80, 0x100))


def _expand_match(match: re.Match[bytes]) -> bytes:
    return _EXPANSIONS[match[0]]


class SeptetCodec:
    """One locking-shift table (128 characters, by code) and one single-shift table."""

    __slots__ = (
        "_decode",
        "_expansions",
        "_fix",
        "_map",
        "_shift_decode",
        "chars",
        "latin1_table",
        "locking",
        "shift",
    )

    def __init__(self, locking: str, shift: Mapping[str, int]) -> None:
        if len(locking) != 128 or locking[ESC] != "\x1b":
            raise ValueError("a locking table has 128 characters with ESC at 0x1B")
        self.locking = locking
        self.shift = dict(shift)
        codes: dict[str, int] = {}  # character -> code, or _SHIFT | code for single-shift ones
        for code, char in enumerate(locking):
            if code != ESC and char != _UNMAPPED:
                codes[char] = code
        for char, code in shift.items():
            codes.setdefault(char, _SHIFT | code)  # the locking table wins: 1 septet, not 2
        self.chars = frozenset(codes)

        latin1_table = bytearray([_BAD]) * 256
        for char, code in codes.items():
            if char <= "\xff":
                latin1_table[ord(char)] = code
        #: bytes.translate table for Latin-1 (so also ASCII) text: code, 0x80 | single-shift
        #: code, or 0x9B (bad)
        self.latin1_table = bytes(latin1_table)

        # codecs.charmap_build gives a fast C EncodingMap only if position 0 holds U+0000. NUL
        # is never valid, so it sits at 0 (fixed to _BAD afterwards) and the character of code
        # 0 borrows position 0x1B, which no character of ours occupies (ESC is not text).
        positions = [_UNMAPPED] * 256
        positions[0] = "\x00"
        for char, code in codes.items():
            positions[ESC if code == 0 else code] = char
        self._map = codecs.charmap_build("".join(positions))
        fix = bytearray(range(256))
        fix[0], fix[ESC] = _BAD, 0
        self._fix = bytes(fix)

        self._decode = "".join(c if c != "\x1b" else "\ufffd" for c in locking) + "\ufffd" * 128
        self._shift_decode = {code: char for char, code in shift.items()}
        self._expansions = tuple(
            (_SHIFT | code, bytes((_SHIFT | code,)), bytes((ESC, code)))
            for char, code in shift.items()
            if codes[char] & _SHIFT
        )

    def encode_compact(self, text: str) -> bytes | None:
        """Codes with single-shift characters as one sentinel octet `0x80 | code` each.

        None if a character is not in these tables. `expand` turns it into septets; its length
        plus its count of octets above 0x7F is the septet cost.
        """
        # Errors are dropped ("ignore") and noticed by the length: an exception costs more than
        # the whole encoding, and most UCS-2 texts come through here first.
        data = text.encode("latin-1", "ignore")
        if len(data) == len(text):
            data = data.translate(self.latin1_table)
        else:
            data = codecs.charmap_encode(text, "ignore", self._map)[0]
            if len(data) != len(text):
                return None
            data = data.translate(self._fix)
        if data.isascii() or _BAD not in data:
            return data
        return None

    def expand(self, compact: bytes) -> bytes:
        """Septets from `encode_compact` output: each sentinel becomes its escape pair."""
        if compact.isascii():
            return compact
        if len(self._expansions) > 12:
            return _SENTINELS.sub(_expand_match, compact)
        for sentinel, single, pair in self._expansions:  # a few C-level replaces beat a regex
            if sentinel in compact:
                compact = compact.replace(single, pair)
        return compact

    def encode(self, text: str) -> bytes | None:
        """Unpacked septets for `text`, or None if a character is not in these tables."""
        compact = self.encode_compact(text)
        return None if compact is None else self.expand(compact)

    def septets(self, text: str) -> int | None:
        """Septet cost of `text` (single-shift characters cost 2), or None if unencodable."""
        compact = self.encode_compact(text)
        if compact is None:
            return None
        return 2 * len(compact) - len(compact.translate(None, _HIGH))

    def decode(self, data: bytes) -> str:
        """Decode unpacked septets the way a handset does, never raising.

        An octet above 0x7F becomes U+FFFD; `1B 1B` (reserved) a space; an escape followed by a
        code the single-shift table lacks falls back to the locking-table character (AOSP
        `gsmExtendedToChar`); a trailing lone escape becomes NBSP (Unicode GSM0338.TXT).
        """
        table = self._decode
        if ESC not in data:
            return data.decode("latin-1").translate(table)
        out: list[str] = []
        i, n = 0, len(data)
        while i < n:
            j = data.find(ESC, i)
            if j < 0:
                j = n
            out.append(data[i:j].decode("latin-1").translate(table))
            if j == n:
                break
            if j + 1 == n:
                out.append("\xa0")
                break
            code = data[j + 1]
            if code == ESC:
                out.append(" ")
            else:
                out.append(self._shift_decode.get(code) or table[code])
            i = j + 2
        return "".join(out)


DEFAULT_CODEC = SeptetCodec(DEFAULT_ALPHABET, EXTENSION_TABLE)

#: Every character GSM-7 can carry with the default tables (ESC itself is not text).
GSM7_CHARS = DEFAULT_CODEC.chars


def is_gsm7(text: str) -> bool:
    """True if every character is in the default or the extension table."""
    return DEFAULT_CODEC.encode(text) is not None


def _unencodable(text: str) -> UnencodableError:
    for index, char in enumerate(text):
        if char not in GSM7_CHARS:
            return UnencodableError(
                f"{char!r} (U+{ord(char):04X}) at index {index} has no GSM-7 form"
            )
    raise AssertionError("unreachable: text was reported unencodable")  # pragma: no cover


def gsm7_encode(text: str) -> bytes:
    """Unpacked GSM-7 octets (one septet each, extension characters as `1B xx`).

    Raises UnencodableError naming the first character without a GSM-7 form.
    """
    data = DEFAULT_CODEC.encode(text)
    if data is None:
        raise _unencodable(text)
    return data


def septet_count(text: str) -> int:
    """Septets `text` costs in GSM-7: 1 per character, 2 per extension character."""
    return len(gsm7_encode(text))


def gsm7_decode(data: bytes) -> str:
    """Decode unpacked GSM-7 octets with the default tables (lenient, as a handset)."""
    return DEFAULT_CODEC.decode(data)
