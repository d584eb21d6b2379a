"""Golden vectors V1-V24 and the additional capacity vectors of docs/protocol.md §7."""

from __future__ import annotations

import gsmcodecs  # noqa: F401  (registers 'gsm23.038-L-S': an independent septet oracle)
import pytest

from herald.text import decode_message, encode_message, encode_with_tables

E = "😜"  # U+1F61C, two UTF-16 units
V20_TEXT = "Çağrı merkezimiz ile iletişime geçiniz. " * 4
TR, ES = ("tr",), ("es",)

# id, text, options, encoding, units per part, sm_length per part
VECTORS = [
    ("V1", "Hello world", {}, "gsm7", [11], [11]),
    ("V2", "a" * 160, {}, "gsm7", [160], [160]),
    ("V3", "a" * 161, {}, "gsm7", [153, 8], [159, 14]),
    ("V4", "a" * 307, {}, "gsm7", [153, 153, 1], [159, 159, 7]),
    ("V5", "€" + "a" * 158, {}, "gsm7", [160], [160]),
    ("V6", "€" + "a" * 159, {}, "gsm7", [153, 8], [159, 14]),
    ("V7", "a" * 152 + "€" + "b" * 10, {}, "gsm7", [152, 12], [158, 18]),
    ("V8", "{}" * 40, {}, "gsm7", [160], [160]),
    ("V9", "{}" * 40 + "[", {}, "gsm7", [152, 10], [158, 16]),
    ("V10", "Ça va", {}, "gsm7", [5], [5]),
    ("V11", "ça va", {}, "ucs2", [5], [10]),
    ("V12", "ú" * 70, {}, "ucs2", [70], [140]),
    ("V13", "ú" * 71, {}, "ucs2", [67, 4], [140, 14]),
    ("V14", E + "2" * 68, {}, "ucs2", [70], [140]),
    ("V15", E + "2" * 69, {}, "ucs2", [67, 4], [140, 14]),
    ("V16", "a" * 66 + E + "bcd", {}, "ucs2", [66, 5], [138, 16]),
    ("V17", "🇮🇹" + "3" * 65, {}, "ucs2", [69], [138]),
    ("V18", "page1\fpage2", {}, "gsm7", [12], [12]),
    ("V19", "Şişli'de buluşalım mı?", {"national": TR}, "gsm7", [22], [26]),
    ("V19-off", "Şişli'de buluşalım mı?", {}, "ucs2", [22], [44]),
    ("V20", V20_TEXT, {"national": TR}, "gsm7", [149, 11], [158, 20]),
    ("V20-off", V20_TEXT, {}, "ucs2", [67, 67, 26], [140, 140, 58]),
    ("V21", "Información útil: canción, corazón, ¿qué?", {"national": ES}, "gsm7", [45], [49]),
    ("V21-off", "Información útil: canción, corazón, ¿qué?", {}, "ucs2", [41], [82]),
    ("V22", "ş" * 155, {"national": TR}, "gsm7", [155], [159]),
    ("V23", "ş" * 156, {"national": TR}, "gsm7", [149, 7], [158, 16]),
    # additional capacity vectors
    ("16-bit ref GSM", "a" * 161, {"concat": "udh16"}, "gsm7", [152, 9], [159, 16]),
    ("16-bit ref UCS-2", "ú" * 71, {"concat": "udh16"}, "ucs2", [66, 5], [139, 17]),
    ("V20 16-bit ref", V20_TEXT, {"concat": "udh16", "national": TR}, "gsm7", [148, 12], [158, 22]),
]


@pytest.mark.parametrize(
    ("text", "options", "encoding", "units", "sm_lengths"),
    [v[1:] for v in VECTORS],
    ids=[v[0] for v in VECTORS],
)
def test_golden_vector(
    text: str, options: dict, encoding: str, units: list[int], sm_lengths: list[int]
) -> None:
    message = encode_message(text, **options)
    assert message.encoding == encoding
    assert len(message.parts) == message.segments == len(units)
    assert list(message.units) == units
    assert list(message.sm_lengths) == sm_lengths
    assert [len(p.short_message) for p in message.parts] == sm_lengths
    assert decode_message(message) == text


def test_v10_bytes() -> None:
    assert encode_message("Ça va").parts[0].short_message == bytes.fromhex("0961207661")


def test_v18_bytes_form_feed_is_an_escape_pair() -> None:
    assert encode_message("page1\fpage2").parts[0].short_message == b"page1\x1b\x0apage2"


def test_v19_turkish_locking_single_part() -> None:
    text = "Şişli'de buluşalım mı?"
    message = encode_message(text, national=TR)
    assert message.national == ("tr", None)
    assert message.esm_class == 0x40
    assert message.parts[0].short_message == bytes.fromhex("03250101") + text.encode(
        "gsm23.038-1-0"
    )


def test_v20_turkish_locking_two_parts_headers() -> None:
    message = encode_message(V20_TEXT, national=TR, reference=0x42)
    body = V20_TEXT.encode("gsm23.038-1-0")
    assert len(body) == 160
    first, second = (p.short_message for p in message.parts)
    assert first == bytes.fromhex("080003420201250101") + body[:149]
    assert second == bytes.fromhex("080003420202250101") + body[149:]


def test_v21_spanish_single_shift() -> None:
    text = "Información útil: canción, corazón, ¿qué?"
    message = encode_message(text, national=ES)
    assert message.national == (None, "es")
    assert message.parts[0].short_message == bytes.fromhex("03240102") + text.encode(
        "gsm23.038-0-2"
    )


def test_v22_v23_turkish_locking_capacity() -> None:
    one = encode_message("ş" * 155, national=TR).parts[0].short_message
    assert one == bytes.fromhex("03250101") + b"\x1d" * 155
    two = encode_message("ş" * 156, national=TR, reference=7)
    assert [p.short_message[:9] for p in two.parts] == [
        bytes.fromhex("080003070201250101"),
        bytes.fromhex("080003070202250101"),
    ]


def test_v24_turkish_single_shift_only() -> None:
    message = encode_with_tables("ş" * 155, None, "tr", reference=9)
    assert list(message.units) == [148, 148, 14]
    assert list(message.sm_lengths) == [157, 157, 23]
    assert [p.short_message[:9] for p in message.parts] == [
        bytes.fromhex(f"08000309030{seq}240101") for seq in (1, 2, 3)
    ]
    assert all(b"\x1b\x73" * 74 in p.short_message for p in message.parts[:2])
    assert decode_message(message) == "ş" * 155


def test_both_turkish_tables_on() -> None:
    message = encode_with_tables("ş" * 160, "tr", "tr")
    assert list(message.units) == [146, 14]
    # concat first, then single shift 0x24, then locking shift 0x25
    assert message.parts[0].short_message[:12] == bytes.fromhex("0b0003000201240101250101")


def test_two_shift_ies_in_a_single_part() -> None:
    message = encode_with_tables("ş", "tr", "es")
    assert message.parts[0].short_message == bytes.fromhex("06240102250101") + b"\x1d"
    assert message.chars_left == 152 - 1
