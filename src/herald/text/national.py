"""National language shift tables (TS 23.038 Annex A) for Turkish, Spanish and Portuguese.

A locking-shift table replaces the 128-character default table; a single-shift table replaces the
extension table, so its characters still cost two septets (docs/protocol.md §1.4, §1.5). The
UDH selects them: IE 0x24 (single shift) and 0x25 (locking shift), each carrying the language
identifier (NLI). Spanish has no locking table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Literal, get_args

from herald.errors import TextOptionError
from herald.text.gsm7 import DEFAULT_ALPHABET, DEFAULT_CODEC, EXTENSION_TABLE, SeptetCodec

NationalLanguage = Literal["tr", "es", "pt"]
NATIONAL_LANGUAGES: tuple[NationalLanguage, ...] = get_args(NationalLanguage)
NLI: Mapping[str, int] = {"tr": 0x01, "es": 0x02, "pt": 0x03}

IEI_SINGLE_SHIFT = 0x24
IEI_LOCKING_SHIFT = 0x25


def _patched(changes: Mapping[int, str]) -> str:
    table = list(DEFAULT_ALPHABET)
    for code, char in changes.items():
        table[code] = char
    return "".join(table)


# A.3.1 Turkish locking shift: the default table with eight codes changed.
TURKISH_LOCKING = _patched(
    {0x04: "€", 0x07: "ı", 0x0B: "Ğ", 0x0C: "ğ", 0x1C: "Ş", 0x1D: "ş", 0x40: "İ", 0x60: "ç"}
)

# A.3.3 Portuguese locking shift: thirty codes changed (^ \ € | ~ cost one septet here; ñ is gone).
PORTUGUESE_LOCKING = _patched(
    {
        0x04: "ê",
        0x06: "ú",
        0x07: "í",
        0x08: "ó",
        0x09: "ç",
        0x0B: "Ô",
        0x0C: "ô",
        0x0E: "Á",
        0x0F: "á",
        0x12: "ª",
        0x13: "Ç",
        0x14: "À",
        0x15: "∞",
        0x16: "^",
        0x17: "\\",
        0x18: "€",
        0x19: "Ó",
        0x1A: "|",
        0x1C: "Â",
        0x1D: "â",
        0x1E: "Ê",
        0x24: "º",
        0x40: "Í",
        0x5B: "Ã",
        0x5C: "Õ",
        0x5D: "Ú",
        0x60: "~",
        0x7B: "ã",
        0x7C: "õ",
        0x7D: "`",
    }
)

# A.2.1 Turkish single shift: the ten default extension characters plus seven letters.
TURKISH_SINGLE_SHIFT = {
    **EXTENSION_TABLE,
    "Ğ": 0x47,
    "İ": 0x49,
    "Ş": 0x53,
    "ç": 0x63,
    "ğ": 0x67,
    "ı": 0x69,
    "ş": 0x73,
}

# A.2.2 Spanish single shift: é and ñ are already in the default table.
SPANISH_SINGLE_SHIFT = {
    **EXTENSION_TABLE,
    "ç": 0x09,
    "Á": 0x41,
    "Í": 0x49,
    "Ó": 0x4F,
    "Ú": 0x55,
    "á": 0x61,
    "í": 0x69,
    "ó": 0x6F,
    "ú": 0x75,
}

# A.2.3 Portuguese single shift (ê at 0x05 as in AOSP and gsmcodecs; CyberChef omits it).
PORTUGUESE_SINGLE_SHIFT = {
    **EXTENSION_TABLE,
    "ê": 0x05,
    "ç": 0x09,
    "Ô": 0x0B,
    "ô": 0x0C,
    "Á": 0x0E,
    "á": 0x0F,
    "Φ": 0x12,
    "Γ": 0x13,
    "Ω": 0x15,
    "Π": 0x16,
    "Ψ": 0x17,
    "Σ": 0x18,
    "Θ": 0x19,
    "Ê": 0x1F,
    "À": 0x41,
    "Í": 0x49,
    "Ó": 0x4F,
    "Ú": 0x55,
    "Ã": 0x5B,
    "Õ": 0x5C,
    "Â": 0x61,
    "í": 0x69,
    "ó": 0x6F,
    "ú": 0x75,
    "ã": 0x7B,
    "õ": 0x7C,
    "â": 0x7F,
}

LOCKING_TABLES: Mapping[str, str] = {"tr": TURKISH_LOCKING, "pt": PORTUGUESE_LOCKING}
SINGLE_SHIFT_TABLES: Mapping[str, Mapping[str, int]] = {
    "tr": TURKISH_SINGLE_SHIFT,
    "es": SPANISH_SINGLE_SHIFT,
    "pt": PORTUGUESE_SINGLE_SHIFT,
}

#: (locking, single shift) -> codec; None means the default table of that kind.
CODECS: Mapping[tuple[str | None, str | None], SeptetCodec] = {
    (lock, single): (
        DEFAULT_CODEC
        if lock is None and single is None
        else SeptetCodec(
            LOCKING_TABLES[lock] if lock else DEFAULT_ALPHABET,
            SINGLE_SHIFT_TABLES[single] if single else EXTENSION_TABLE,
        )
    )
    for lock in (None, *LOCKING_TABLES)
    for single in (None, *SINGLE_SHIFT_TABLES)
}


def parse_languages(national: Iterable[str] | str) -> frozenset[str]:
    """Validate a set of national table names; a string may list them separated by commas."""
    if isinstance(national, tuple | str):
        return _parse_hashable(national)
    return _parse(national)


@lru_cache(maxsize=64)
def _parse_hashable(national: tuple[str, ...] | str) -> frozenset[str]:
    return _parse(national)


def _parse(national: Iterable[str] | str) -> frozenset[str]:
    names = national.split(",") if isinstance(national, str) else national
    chosen: set[str] = set()
    for name in names:
        key = name.strip().lower() if isinstance(name, str) else name
        if key == "":
            continue
        if key not in NLI:
            raise TextOptionError(
                f"unknown national table {name!r}; allowed: {', '.join(NATIONAL_LANGUAGES)}"
            )
        chosen.add(key)
    return frozenset(chosen)


@lru_cache(maxsize=8)
def candidate_tables(
    languages: frozenset[str],
) -> tuple[tuple[str | None, str | None], ...]:
    """Every (locking, single shift) pair the allowed languages offer, defaults excluded.

    Turkish locking with Turkish single shift is left out: every Turkish single-shift character
    is also in the Turkish locking table or the default extension table, so the pair only costs
    a second IE (AOSP GsmAlphabet: "never optimal").
    """
    lockings = (None, *(lang for lang in LOCKING_TABLES if lang in languages))
    singles = (None, *(lang for lang in SINGLE_SHIFT_TABLES if lang in languages))
    return tuple(
        (lock, single)
        for lock in lockings
        for single in singles
        if (lock, single) != (None, None) and not (lock == "tr" and single == "tr")
    )


@lru_cache(maxsize=16)
def shift_ies(lock: str | None, single: str | None) -> bytes:
    """The shift IEs for a UDH, single shift (0x24) before locking shift (0x25), as AOSP."""
    ies = b""
    if single is not None:
        ies += bytes((IEI_SINGLE_SHIFT, 1, NLI[single]))
    if lock is not None:
        ies += bytes((IEI_LOCKING_SHIFT, 1, NLI[lock]))
    return ies


def codec_for_nli(lock_nli: int, single_nli: int) -> SeptetCodec:
    """The codec for the NLIs found in a received UDH (0 or unknown means default)."""
    by_nli = {nli: lang for lang, nli in NLI.items()}
    lock = by_nli.get(lock_nli)
    single = by_nli.get(single_nli)
    return CODECS[(lock if lock in LOCKING_TABLES else None, single)]
