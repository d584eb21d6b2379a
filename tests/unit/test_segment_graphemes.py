"""The joiner table that lets most texts skip grapheme segmentation, checked against `regex`."""

from __future__ import annotations

import regex

from herald.text.graphemes import JOINER_CHARS, boundary_at_or_before, may_join

JOINING_CLASSES = regex.compile(
    r"[\p{GCB=Extend}\p{GCB=ZWJ}\p{GCB=SpacingMark}\p{GCB=Prepend}"
    r"\p{GCB=Regional_Indicator}\p{GCB=L}\p{GCB=V}\p{GCB=T}]"
)
EVERY_CODE_POINT = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)


def test_joiner_table_is_exactly_the_joining_grapheme_classes_of_regex() -> None:
    """If `regex` moves to a newer Unicode, regenerate _JOINER_RANGES from this class."""
    assert set(JOINING_CLASSES.findall(EVERY_CODE_POINT)) == JOINER_CHARS


def test_texts_without_joiners_are_single_code_point_clusters() -> None:
    text = "Привет, 你好, مرحبا, 😜 a\rb ŞÇ 안녕하세요"
    assert not may_join(text)
    assert all(len(c) == 1 for c in regex.findall(r"\X", text.replace("\r", "")))


def test_may_join_sees_bmp_and_astral_joiners() -> None:
    assert may_join("a\u0301")
    assert may_join("👍🏽")  # astral modifier only
    assert may_join("🇮🇹")
    assert not may_join("😜", has_astral=False) and not may_join("😜")


def test_boundary_at_or_before() -> None:
    text = "ab👨\u200d👩\u200d👧cd"
    assert boundary_at_or_before(text, 1, 0) == 1
    assert boundary_at_or_before(text, 4, 0) == 2  # inside the family: back to its start
    assert boundary_at_or_before(text, 7, 0) == 7
    assert boundary_at_or_before(text, 4, 2) == 2  # one cluster covers floor..limit
