"""Look-alike replacements that keep a message in GSM-7 (opt-in, lossy).

Only characters with no GSM-7 form are replaced, and only by default-table text: curly quotes,
dashes, ellipsis, odd spaces, the backtick, accented Latin letters and Greek capitals that look
like Latin ones. Characters that an enabled national table can carry are left alone, so Turkish
text with national tables on keeps its ş and ğ. Control characters are never touched (they are
rejected elsewhere), nor are ZWJ and variation selectors, which emoji need.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from itertools import combinations

from herald.text.gsm7 import GSM7_CHARS
from herald.text.national import CODECS, NATIONAL_LANGUAGES

_PUNCTUATION = {
    # quotes and apostrophes
    "‘": "'",
    "’": "'",
    "‚": "'",
    "‛": "'",
    "′": "'",
    "´": "'",
    "`": "'",
    "ʼ": "'",
    "ʹ": "'",
    "“": '"',
    "”": '"',
    "„": '"',
    "‟": '"',
    "″": '"',
    "«": '"',
    "»": '"',
    "‹": "<",
    "›": ">",
    # dashes and minus
    "‐": "-",
    "‑": "-",
    "‒": "-",
    "–": "-",
    "—": "-",
    "―": "-",
    "−": "-",
    # dots, slashes, symbols with an obvious ASCII form
    "…": "...",
    "•": "*",
    "·": ".",
    "⁄": "/",
    "×": "x",
    "ˆ": "^",
    "˜": "~",
    "©": "(c)",
    "®": "(R)",
    "™": "TM",
    "¢": "c",
    "¦": "|",
    # spaces: no-break, en/em and friends become a plain space
    "\u00a0": " ",
    "\u1680": " ",
    "\u2000": " ",
    "\u2001": " ",
    "\u2002": " ",
    "\u2003": " ",
    "\u2004": " ",
    "\u2005": " ",
    "\u2006": " ",
    "\u2007": " ",
    "\u2008": " ",
    "\u2009": " ",
    "\u200a": " ",
    "\u202f": " ",
    "\u205f": " ",
    "\u3000": " ",
    # invisible characters that only cost room: soft hyphen, zero-width space, word joiner, BOM
    "\u00ad": "",
    "\u200b": "",
    "\u2060": "",
    "\ufeff": "",
}

_LETTERS = {
    "ç": "Ç",  # GSM has only the capital at 0x09; docs/protocol.md §1.3
    "ő": "ö",
    "Ő": "Ö",
    "ű": "ü",
    "Ű": "Ü",  # Hungarian double acute: the umlaut is nearer
    "ı": "i",
    "İ": "I",
    "ł": "l",
    "Ł": "L",
    "đ": "d",
    "Đ": "D",
    "ð": "d",
    "Ð": "D",
    "þ": "th",
    "Þ": "Th",
    "œ": "oe",
    "Œ": "OE",
    "ĸ": "k",
    "ŀ": "l",
    "Ŀ": "L",
    # Greek capitals identical to Latin ones (Unicode GSM0338.TXT commented alternatives)
    "Α": "A",
    "Β": "B",
    "Ε": "E",
    "Ζ": "Z",
    "Η": "H",
    "Ι": "I",
    "Κ": "K",
    "Μ": "M",
    "Ν": "N",
    "Ο": "O",
    "Ρ": "P",
    "Τ": "T",
    "Υ": "Y",
    "Χ": "X",
}


def _derived_letters() -> dict[str, str]:
    """Accented Latin letters whose compatibility decomposition is GSM after dropping marks."""
    found: dict[str, str] = {}
    blocks = (range(0xC0, 0x250), range(0x1E00, 0x1F00))  # Latin-1, Extended-A/B, Additional
    for code in (c for block in blocks for c in block):
        char = chr(code)
        if char in GSM7_CHARS or unicodedata.category(char)[0] != "L":
            continue
        decomposed = unicodedata.normalize("NFKD", char)
        base = "".join(c for c in decomposed if not unicodedata.combining(c))
        if base and base != char and len(base) <= 2 and all(c in GSM7_CHARS for c in base):
            found[char] = base
    return found


LOOKALIKES: Mapping[str, str] = {**_derived_letters(), **_LETTERS, **_PUNCTUATION}


def _table(keep: frozenset[str]) -> dict[int, str]:
    return {ord(src): dst for src, dst in LOOKALIKES.items() if src not in keep}


# One translate table per subset of national languages (8 subsets, built once).
_TABLES: dict[frozenset[str], dict[int, str]] = {}
for _size in range(len(NATIONAL_LANGUAGES) + 1):
    for _subset in combinations(NATIONAL_LANGUAGES, _size):
        _langs = frozenset(_subset)
        _keep = frozenset().union(
            *(
                codec.chars
                for (lock, single), codec in CODECS.items()
                if (lock is None or lock in _langs) and (single is None or single in _langs)
            )
        )
        _TABLES[_langs] = _table(_keep)


def transcode(text: str, national: frozenset[str] = frozenset()) -> str:
    """Replace characters without a GSM-7 form by their nearest GSM look-alike.

    Characters that the tables of `national` can carry are kept as they are.
    """
    if text.isascii() and "`" not in text:
        return text
    return text.translate(_TABLES[national])
