"""Splitting rules: escape pairs, surrogate pairs, grapheme clusters, CR LF, part limits."""

from __future__ import annotations

import dataclasses

import pytest
import regex

from herald.errors import TextError, TooManyPartsError
from herald.text import decode_message, decode_parts, encode_message
from herald.text.reassemble import alphabet, decode_short_message, parse_udh
from herald.text.segment import (
    Part,
    concatenate,
    gsm7_capacity,
    make_part,
    split_septets,
    split_utf16,
    ucs2_capacity,
)

CLUSTER = regex.compile(r"\X")


def units_of(text: str) -> int:
    return len(text.encode("utf-16-be")) // 2


@pytest.mark.parametrize(
    ("udh", "septets", "units"),
    [
        (0, 160, 70),
        (4, 155, 68),
        (6, 153, 67),
        (7, 152, 66),
        (9, 149, 65),
        (10, 148, 65),
        (12, 146, 64),
        (13, 145, 63),
    ],
)
def test_capacities_of_reference_1_5(udh: int, septets: int, units: int) -> None:
    assert gsm7_capacity(udh) == septets
    assert ucs2_capacity(udh) == units


def test_escape_pair_never_split_and_no_part_ends_with_esc() -> None:
    for offset in range(150, 156):
        text = "a" * offset + "€" * 20
        message = encode_message(text)
        for part in message.parts:
            assert not part.short_message.endswith(b"\x1b")
        assert decode_message(message) == text


def test_split_septets_backs_off_before_esc_and_between_cr_lf() -> None:
    assert [len(c) for c in split_septets(b"a" * 152 + b"\x1b\x65" + b"b", 153)] == [152, 3]
    assert [len(c) for c in split_septets(b"a" * 152 + b"\r\n" + b"b", 153)] == [152, 3]
    assert [len(c) for c in split_septets(b"a" * 152 + b"\n\r" + b"b", 153)] == [153, 2]


def test_crlf_stays_in_one_ucs2_part() -> None:
    text = "ú" * 66 + "\r\n" + "ú" * 10
    assert encode_message(text).units == (66, 12)


def test_surrogate_pair_never_split() -> None:
    for offset in range(60, 70):
        text = "ú" * offset + "😜" * 10
        message = encode_message(text)
        for part in message.parts[:-1]:
            assert not 0xD8 <= part.short_message[-2] <= 0xDB
        assert decode_message(message) == text


@pytest.mark.parametrize(
    "cluster",
    [
        "👨\u200d👩\u200d👧\u200d👦",  # ZWJ family
        "🇮🇹",  # flag (regional indicator pair)
        "👍🏽",  # emoji modifier
        "1\ufe0f\u20e3",  # keycap
        "e\u0301\u0323",  # combining marks
        "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # tag sequence
        "क्षि",  # Devanagari conjunct with virama and vowel sign
    ],
)
def test_grapheme_clusters_move_whole_to_the_next_part(cluster: str) -> None:
    size = units_of(cluster)
    for offset in range(68 - size, 67):  # the cluster would straddle the 67-unit boundary
        text = "ú" * offset + cluster + "b" * 5
        message = encode_message(text)
        assert message.units == (offset, size + 5)
        assert decode_message(message) == text


def test_twilio_family_example_reference_2_2() -> None:
    text = "a" * 60 + "👨\u200d👩\u200d👧\u200d👦" + "b"
    assert encode_message(text).units == (60, 12)


def test_cluster_longer_than_a_part_is_split_between_code_points() -> None:
    text = "a" + "e" + "\u0301" * 100 + "z"  # one cluster of 101 code points
    message = encode_message(text)
    assert message.units == (1, 67, 35)  # the cluster starts a part, its tail shares one
    flags = "🇮🇹" * 40  # 160 units; pairs are clusters of 4 units
    message = encode_message(flags)
    assert message.units == (64, 64, 32)
    assert decode_message(message) == flags
    zalgo = "😜" + "\u0301" * 80  # long cluster beginning with a surrogate pair
    message = encode_message(zalgo)
    assert decode_message(message) == zalgo
    assert all(not 0xD8 <= p.short_message[-2] <= 0xDB for p in message.parts)


def test_split_utf16_reference_greedy_matches_regex_clusters() -> None:
    text = ("Family day 👨\u200d👩\u200d👧\u200d👦 at the park 🇮🇹 👍🏽 " * 6)[:180]
    chunks = split_utf16(text, text.encode("utf-16-be"), 67)
    ends, acc = set(), 0
    for cluster in CLUSTER.findall(text):
        acc += units_of(cluster)
        ends.add(acc)
    acc = 0
    for chunk in chunks:
        acc += len(chunk) // 2
        assert acc in ends  # every cut is a cluster boundary
        assert len(chunk) // 2 <= 67


def test_too_many_parts_is_counted_exactly() -> None:
    with pytest.raises(TooManyPartsError, match="needs 300 parts"):
        split_septets(b"a" * (153 * 300), 153)


# --- reassembly ------------------------------------------------------------------------------


def test_decode_parts_orders_by_sequence_number() -> None:
    message = encode_message("abc" * 100 + "€", reference=5)
    shuffled = [p.short_message for p in reversed(message.parts)]
    assert decode_parts(shuffled, message.data_coding) == "abc" * 100 + "€"


def test_decode_short_message_reads_udh_fields() -> None:
    message = encode_message("ş" * 200, national=("tr", "es"), concat="udh16", reference=999)
    part = decode_short_message(message.parts[1].short_message, 0x00, udhi=True)
    assert (part.reference, part.total, part.seq, part.locking_nli) == (999, 2, 2, 1)
    assert part.text == "ş" * 52


def test_a_split_surrogate_shows_replacement_like_a_handset() -> None:
    data = "a😜".encode("utf-16-be")
    assert decode_parts([data[:4], data[4:]], 0x08, udhi=False) == "a\ufffd\ufffd"


@pytest.mark.parametrize("bad", [b"", b"\x05\x00\x03\x01", b"\x03\x00\x05\x01\x02", b"\x02\x00"])
def test_malformed_udh_raises_text_error(bad: bytes) -> None:
    with pytest.raises(TextError):
        parse_udh(bad)


@pytest.mark.parametrize(
    ("dcs", "kind"),
    [
        (0x00, "gsm7"),
        (0x08, "ucs2"),
        (0xF0, "gsm7"),
        (0x18, "ucs2"),
        (0x10, "gsm7"),
        (0xF4, "8bit"),
        (0x04, "8bit"),
    ],
)
def test_alphabet_of_data_coding(dcs: int, kind: str) -> None:
    assert alphabet(dcs) == kind


def test_unknown_data_coding_is_named() -> None:
    with pytest.raises(TextError, match="0x03"):
        alphabet(0x03)


# --- the construction shortcut (make_part, and its copy inlined in concatenate) ------------


def _field_values(part: Part) -> dict[str, object]:
    """Every field of Part read from `part`: AttributeError if the shortcut left one unset."""
    return {f.name: getattr(part, f.name) for f in dataclasses.fields(Part)}


def test_make_part_sets_every_field_of_part_as_its_constructor_does() -> None:
    values = [f"value of {f.name}".encode() for f in dataclasses.fields(Part)]
    made = make_part(*values)  # fails here if Part gained a field make_part does not take
    assert type(made) is Part and made == Part(*values) and hash(made) == hash(Part(*values))
    assert _field_values(made) == _field_values(Part(*values))
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.tlvs = b""  # type: ignore[misc]
    assert make_part(b"x") == Part(b"x")  # the defaults agree too


@pytest.mark.parametrize("concat", ["udh8", "udh16", "sar"])
def test_concatenate_builds_whole_parts(concat: str) -> None:
    parts, _, _ = concatenate([b"first", b"second"], concat, 7, b"")
    for part in parts:
        fields = _field_values(part)  # every field set (the loop inlines make_part's stores)
        assert type(part) is Part and part == Part(**fields)  # type: ignore[arg-type]
