"""GSM 03.38 tables and the unpacked codec, checked against gsm0338 (default and extension) and
gsmcodecs (national tables), two independent implementations used only as test oracles."""

from __future__ import annotations

import gsm0338  # noqa: F401  (registers the 'gsm03.38' codec)
import gsmcodecs  # noqa: F401  (registers 'gsm23.038-L-S' codecs)
import pytest

from herald.errors import UnencodableError
from herald.text import gsm7_decode, gsm7_encode, is_gsm7, septet_count
from herald.text.gsm7 import DEFAULT_ALPHABET, DEFAULT_CODEC, EXTENSION_TABLE, GSM7_CHARS
from herald.text.national import (
    CODECS,
    LOCKING_TABLES,
    NLI,
    SINGLE_SHIFT_TABLES,
    candidate_tables,
    parse_languages,
)

BMP = [chr(c) for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF]


def oracle(char: str) -> bytes | None:
    try:
        return char.encode("gsm03.38")
    except UnicodeEncodeError:
        return None


def test_every_bmp_character_matches_gsm0338() -> None:
    mismatches = []
    for char in BMP:
        if char == "\x1b":  # gsm0338 quirk: encodes a bare ESC; it is not text
            assert DEFAULT_CODEC.encode(char) is None
            continue
        ours = DEFAULT_CODEC.encode(char)
        if ours != oracle(char):
            mismatches.append((char, ours, oracle(char)))
    assert not mismatches


def test_every_encodable_character_round_trips_identically() -> None:
    assert len(GSM7_CHARS) == 127 + 10  # 128 codes minus ESC, plus the extension table
    for char in GSM7_CHARS:
        data = gsm7_encode(char)
        assert gsm7_decode(data) == char
        assert data.decode("gsm03.38") == char
        assert septet_count(char) == (2 if char in EXTENSION_TABLE else 1)


def test_default_alphabet_is_the_reference_string() -> None:
    assert len(DEFAULT_ALPHABET) == 128 and DEFAULT_ALPHABET[0x1B] == "\x1b"
    assert bytes(range(128)).replace(b"\x1b", b"").decode("gsm03.38") == (
        DEFAULT_ALPHABET.replace("\x1b", "")
    )


@pytest.mark.parametrize(
    ("char", "code"),
    [
        ("@", b"\x00"),
        ("$", b"\x02"),
        ("_", b"\x11"),
        ("¤", b"\x24"),
        ("Ç", b"\x09"),
        ("\n", b"\x0a"),
        ("\r", b"\x0d"),
        ("\f", b"\x1b\x0a"),
        ("€", b"\x1b\x65"),
        ("[", b"\x1b\x3c"),
        ("|", b"\x1b\x40"),
    ],
)
def test_ascii_and_extension_codes_that_cause_bugs(char: str, code: bytes) -> None:
    assert gsm7_encode(char) == code


@pytest.mark.parametrize("char", ["`", "ç", "á", "\u00a0", "😜", "\x1b", "\x00", "\x7f", "Я"])
def test_characters_without_a_gsm_form(char: str) -> None:
    assert not is_gsm7("ab" + char)
    with pytest.raises(UnencodableError, match=rf"U\+{ord(char):04X}.* at index 2"):
        gsm7_encode("ab" + char)


def test_septet_count_is_length_plus_extension_characters() -> None:
    text = "Price: 10€ [promo] {a|b} ~^\\ end\f"
    ext = sum(c in EXTENSION_TABLE for c in text)
    assert septet_count(text) == len(text) + ext == len(gsm7_encode(text))


def test_non_ascii_gsm_text_uses_the_charmap_path() -> None:
    text = "Grüße aus Köln: 5€ Δ Ω ¿¡ ÄÖÑÜ§ à"
    assert gsm7_encode(text) == text.encode("gsm03.38")
    assert gsm7_decode(gsm7_encode(text)) == text


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"\x1b\x1b", " "),  # reserved escape-to-escape shows a space
        (b"a\x1b", "a\xa0"),  # trailing lone escape: NBSP (Unicode GSM0338.TXT)
        (b"\x1b\x41", "A"),  # unknown extension code falls back to the default character
        (b"a\x80b", "a\ufffdb"),  # not a septet
        (b"\x00\x02\x11", "@$_"),
    ],
)
def test_decode_is_lenient_like_a_handset(data: bytes, text: str) -> None:
    assert gsm7_decode(data) == text


# --- national tables -------------------------------------------------------------------------


def _gsmcodecs_decode_map(nli: int, kind: str) -> dict[int, str]:
    from gsmcodecs.charmaps import GSMCHARMAPS

    return {code: chr(cp) for code, cp in GSMCHARMAPS[nli][kind]["decode"].items()}


@pytest.mark.parametrize("lang", sorted(LOCKING_TABLES))
def test_locking_tables_match_gsmcodecs(lang: str) -> None:
    theirs = _gsmcodecs_decode_map(NLI[lang], "locking")
    ours = LOCKING_TABLES[lang]
    assert {c: ours[c] for c in range(128) if c != 0x1B} == {
        c: ch for c, ch in theirs.items() if c != 0x1B
    }


@pytest.mark.parametrize("lang", sorted(SINGLE_SHIFT_TABLES))
def test_single_shift_tables_match_gsmcodecs(lang: str) -> None:
    theirs = _gsmcodecs_decode_map(NLI[lang], "singleShift")
    theirs.pop(0x1B, None)  # gsmcodecs lists 1B 1B as a space
    assert {code: char for char, code in SINGLE_SHIFT_TABLES[lang].items()} == theirs


def test_single_shift_tables_never_use_the_reserved_cr2_code() -> None:
    for table in SINGLE_SHIFT_TABLES.values():
        assert 0x0D not in table.values() and 0x1B not in table.values()


@pytest.mark.parametrize("pair", [p for p in CODECS if p != (None, None)])
def test_national_septet_totals_match_gsmcodecs(pair: tuple[str | None, str | None]) -> None:
    lock, single = pair
    codec_name = f"gsm23.038-{NLI.get(lock, 0) if lock else 0}-{NLI[single] if single else 0}"
    codec = CODECS[pair]
    sample = "".join(sorted(codec.chars))
    assert codec.septets(sample) == len(sample.encode(codec_name))
    encoded = codec.encode(sample)
    assert encoded == sample.encode(codec_name)
    assert encoded is not None and codec.decode(encoded) == sample


@pytest.mark.parametrize(
    ("pair", "char", "code"),
    [
        ((None, "es"), "ç", b"\x1b\x09"),
        (("pt", None), "ç", b"\x09"),
        (("tr", None), "ç", b"\x60"),
        ((None, "tr"), "ç", b"\x1b\x63"),
        (("pt", None), "€", b"\x18"),  # one septet in Portuguese locking
        (("pt", None), "`", b"\x7d"),
    ],
)
def test_reference_1_3_codes_for_c_cedilla(
    pair: tuple[str | None, str | None], char: str, code: bytes
) -> None:
    assert CODECS[pair].encode(char) == code


def test_portuguese_locking_has_no_n_tilde_and_turkish_locking_no_e_grave() -> None:
    assert CODECS[("pt", None)].encode("ñ") is None
    assert CODECS[("tr", None)].encode("è") is None


def test_candidate_tables_skip_turkish_pair_and_defaults() -> None:
    pairs = candidate_tables(frozenset({"tr", "es", "pt"}))
    assert ("tr", "tr") not in pairs and (None, None) not in pairs
    assert ("pt", "pt") in pairs and (None, "es") in pairs and ("tr", "es") in pairs
    assert candidate_tables(frozenset({"es"})) == ((None, "es"),)


def test_parse_languages_accepts_lists_and_comma_strings() -> None:
    assert parse_languages(["tr", "ES"]) == {"tr", "es"}
    assert parse_languages("tr, pt") == {"tr", "pt"}
