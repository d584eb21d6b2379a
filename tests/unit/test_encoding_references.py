"""ReferenceAllocator: a rotating counter per destination, random start, bounded memory."""

from __future__ import annotations

import random

import pytest

from herald.errors import TextOptionError
from herald.text import ReferenceAllocator, encode_message


def test_consecutive_references_to_one_destination_differ_and_wrap() -> None:
    refs = ReferenceAllocator(bits=8, rng=random.Random(1))
    first = refs.next("447700900123")
    seq = [first] + [refs.next("447700900123") for _ in range(256)]
    assert seq[:3] == [first, (first + 1) % 256, (first + 2) % 256]
    assert len(set(seq[:256])) == 256 and seq[256] == first


def test_destinations_have_their_own_counters() -> None:
    refs = ReferenceAllocator(bits=16, rng=random.Random(2))
    a1, b1, a2 = refs.next("a"), refs.next("b"), refs.next("a")
    assert a2 == (a1 + 1) % 65536
    assert 0 <= b1 < 65536


def test_memory_is_bounded_least_recently_used_first() -> None:
    refs = ReferenceAllocator(max_destinations=2, rng=random.Random(3))
    a = refs.next("a")
    refs.next("b")
    refs.next("a")  # a is now the most recent
    refs.next("c")  # evicts b
    assert len(refs) == 2
    assert refs.next("a") == (a + 2) % 256


def test_random_start_comes_from_the_injected_generator() -> None:
    one = ReferenceAllocator(rng=random.Random(42))
    two = ReferenceAllocator(rng=random.Random(42))
    assert [one.next(str(i)) for i in range(20)] == [two.next(str(i)) for i in range(20)]


def test_references_feed_encode_message() -> None:
    refs = ReferenceAllocator(bits=16, rng=random.Random(5))
    ref = refs.next("447700900123")
    message = encode_message("a" * 200, concat="udh16", reference=ref)
    assert message.parts[0].short_message[3:5] == ref.to_bytes(2, "big")


@pytest.mark.parametrize("bits", [0, 7, 32])
def test_bad_bits(bits: int) -> None:
    with pytest.raises(TextOptionError, match="8 or 16"):
        ReferenceAllocator(bits=bits)


def test_a_reference_function_is_called_only_for_a_message_of_several_parts() -> None:
    drawn: list[int] = []

    def draw() -> int:
        drawn.append(0x2A)
        return 0x2A

    single = encode_message("Your code is 4521", reference=draw)
    assert single.segments == 1 and drawn == []
    for text in ("x" * 161, "Καλημέρα " * 10):  # GSM-7 and UCS-2, two parts or more
        long = encode_message(text, reference=draw)
        assert long.segments >= 2
        assert all(
            p.short_message[:6] == bytes((5, 0, 3, 0x2A, long.segments, n))
            for n, p in enumerate(long.parts, 1)
        )
    assert drawn == [0x2A, 0x2A]
    with pytest.raises(TextOptionError, match="out of range"):
        encode_message("x" * 161, reference=lambda: 256)
    with pytest.raises(TextOptionError, match="unknown concatenation method"):
        encode_message("x", concat="udh7", reference=draw)
