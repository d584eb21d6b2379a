"""Properties of encode_message for any text: round trip, limits, splitting rules, headers."""

from __future__ import annotations

import codecs

import gsm0338  # noqa: F401  (registers 'gsm03.38', the oracle for "is this text GSM-7")
import regex
from hypothesis import event, given, settings
from hypothesis import strategies as st

from herald.errors import InvalidTextError, TooManyPartsError
from herald.text import decode_message, encode_message, transcode
from herald.text.graphemes import boundary_at_or_before, may_join
from herald.text.national import CODECS
from herald.text.reassemble import parse_tlvs, parse_udh
from herald.text.segment import gsm7_capacity, split_utf16, ucs2_capacity

CLUSTER = regex.compile(r"\X")

PIECES = [
    *"Hello world 0123456789 @$_£¥èéùìòÇØøÅåΔΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà\n\r",
    *"\f^{}\\[~]|€",  # extension table: two septets
    *"şŞğĞıİçáíóúÁÍÓÚãõâêôÃÕÂÊÔÀ`∞ªº",  # national tables
    "\r\n",
    "€€€",
    "a" * 40,
    "ú" * 30,
    "😜",
    "👨\u200d👩\u200d👧\u200d👦",
    "🇮🇹",
    "🇫🇷",
    "👍🏽",
    "1\ufe0f\u20e3",
    "e\u0301",
    "\u0301",
    "क्षि",
    "\u200d",
    "\ufe0f",
    "“",
    "”",
    "…",
    "—",
    "\u00a0",
    "Я",
    "你",
]
ANY_VALID = st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("\n\r\f")
FRAGMENTS = st.lists(st.sampled_from(PIECES) | ANY_VALID, max_size=40).map("".join)
# Hypothesis keeps lists short, so long (multipart) texts come from fillers near part limits and
# from repeating a random fragment.
FILLERS = st.sampled_from(["", "a" * 150, "a" * 152, "ú" * 64, "€" * 76, "ş" * 147, "😜" * 33])
TEXTS = st.builds(
    lambda filler, fragment, times, tail: filler + fragment * times + tail,
    FILLERS,
    FRAGMENTS,
    st.integers(1, 25),
    FRAGMENTS,
)
OPTIONS = st.fixed_dictionaries(
    {
        "concat": st.sampled_from(["udh8", "udh16", "sar", "payload"]),
        "national": st.sets(st.sampled_from(["tr", "es", "pt"])).map(tuple),
        "flash": st.booleans(),
        "transcode": st.booleans(),
        "reference": st.integers(0, 255),
    }
)


def is_gsm0338(text: str) -> bool:
    try:
        text.encode("gsm03.38")
    except UnicodeEncodeError:
        return False
    return True


def header_octets(message, short_message: bytes) -> int:
    return 1 + short_message[0] if message.esm_class & 0x40 else 0


@settings(max_examples=300, deadline=None)
@given(TEXTS, OPTIONS)
def test_encode_message_properties(text: str, options: dict) -> None:
    message = encode_message(text, **options)
    gsm = message.encoding == "gsm7"

    # what was sent comes back, and it is the given text unless transcoding kept it GSM-7
    assert decode_message(message) == message.text
    if options["transcode"] and gsm:
        assert message.text == transcode(text, frozenset(options["national"]))
    else:
        assert message.text == text

    # GSM-7 exactly when the default tables (or an allowed national pair) carry the text
    if not options["national"]:
        assert gsm == is_gsm0338(message.text)
    else:
        pairs = [p for p in CODECS if all(lang in (*options["national"], None) for lang in p)]
        assert gsm == any(CODECS[p].encode(message.text) is not None for p in pairs)
    if not gsm:
        assert message.forced_ucs2_by
        assert all(not is_gsm0338(c) for c in message.forced_ucs2_by)
        assert len(set(message.forced_ucs2_by)) == len(message.forced_ucs2_by)

    # data_coding and esm_class
    expected_dcs = {
        (True, False): 0x00,
        (True, True): 0xF0,
        (False, False): 0x08,
        (False, True): 0x18,
    }[(gsm, options["flash"])]
    assert message.data_coding == expected_dcs
    starts_with_udh = bool(message.national) or (
        len(message.parts) > 1 and options["concat"] in ("udh8", "udh16")
    )
    assert bool(message.esm_class & 0x40) == starts_with_udh

    # sizes: per-part units within capacity, sm_length and octet limits
    total_units = sum(message.units)
    ies = 3 * sum(t is not None for t in (message.national or ())) if gsm else 0
    event(f"{message.encoding}, {'multipart' if message.segments > 1 else 'single'}")
    if options["concat"] == "payload" and message.segments > 1:
        body = parse_tlvs(message.parts[0].tlvs)[0x0424]
        assert len(body) == (total_units if gsm else 2 * total_units) + (1 + ies if ies else 0)
        assert message.sm_lengths == (0,) and message.parts[0].short_message == b""
        assert len(message.parts) == 1 and message.units == (total_units,)
        return
    assert message.segments == len(message.parts) == len(message.units)
    if len(message.parts) == 1:
        cap = (gsm7_capacity(1 + ies) if ies else 160) if gsm else 70
    else:
        concat_udh = {"udh8": 6, "udh16": 7, "sar": 7}[options["concat"]]
        cap = gsm7_capacity(concat_udh + ies) if gsm else ucs2_capacity(concat_udh)
    assert all(0 <= u <= cap for u in message.units)
    assert message.chars_left == cap - message.units[-1]
    for part, units, sm_length in zip(
        message.parts, message.units, message.sm_lengths, strict=True
    ):
        sm = part.short_message
        udh = header_octets(message, sm)
        body = sm[udh:]
        assert len(sm) == sm_length <= 254
        if gsm:
            assert len(body) == units
            assert (udh * 8 + units * 7 + 7) // 8 <= 140  # fits a TP-UD once packed
            assert not body.endswith(b"\x1b")
        else:
            assert len(body) == 2 * units and udh + len(body) <= 140
            assert not (body and 0xD8 <= body[-2] <= 0xDB)

    # concatenation fields
    n = len(message.parts)
    if n > 1 and options["concat"] in ("udh8", "udh16"):
        refs, seqs = set(), []
        for part in message.parts:
            ies_found, _ = parse_udh(part.short_message)
            concat = [v for iei, v in ies_found if iei in (0x00, 0x08)]
            assert len(concat) == 1 and ies_found[0][0] in (0x00, 0x08)  # concat IE first
            value = concat[0]
            refs.add(bytes(value[:-2]))
            assert value[-2] == n
            seqs.append(value[-1])
            shift = [iei for iei, _ in ies_found[1:]]
            assert shift == sorted(shift)  # 0x24 before 0x25
        assert len(refs) == 1 and seqs == list(range(1, n + 1))
    if n > 1 and options["concat"] == "sar":
        tlvs = [parse_tlvs(p.tlvs) for p in message.parts]
        assert len({t[0x020C] for t in tlvs}) == 1
        assert [t[0x020E][0] for t in tlvs] == [n] * n
        assert [t[0x020F][0] for t in tlvs] == list(range(1, n + 1))
    if n == 1:
        assert message.parts[0].tlvs == b""


@settings(max_examples=200, deadline=None)
@given(TEXTS)
def test_ucs2_cuts_fall_on_grapheme_boundaries_when_clusters_fit(text: str) -> None:
    message = encode_message(text)
    if message.encoding != "ucs2" or len(message.parts) == 1:
        return
    cap = 67
    ends, acc, longest = set(), 0, 0
    for cluster in CLUSTER.findall(text):
        size = len(cluster.encode("utf-16-be")) // 2
        acc += size
        ends.add(acc)
        longest = max(longest, size)
    acc = 0
    for units in message.units[:-1]:
        acc += units
        if longest <= cap:
            assert acc in ends
    # greedy: the next cluster would not have fitted in the part
    if longest <= cap:
        clusters = CLUSTER.findall(text)
        sizes = [len(c.encode("utf-16-be")) // 2 for c in clusters]
        acc, i = 0, 0
        for units in message.units[:-1]:
            used = 0
            while used < units:
                used += sizes[i]
                i += 1
            assert used == units and units + sizes[i] > cap


@settings(max_examples=200, deadline=None)
@given(TEXTS, st.integers(0, 300), st.sampled_from("\x00\x01\x08\x0b\x1b\x7f\x85\ud800\udfff"))
def test_invalid_characters_always_raise(text: str, at: int, bad: str) -> None:
    at = min(at, len(text))
    broken = text[:at] + bad + text[at:]
    try:
        encode_message(broken, transcode=True, national=("tr",))
    except InvalidTextError as exc:
        assert f"U+{ord(bad):04X}" in str(exc)
        assert f"index {broken.index(bad)}" in str(exc)
    else:
        raise AssertionError("accepted an invalid character")


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.sampled_from(["a", "€", "ú", "😜"]))
def test_part_limit(extra: int, char: str) -> None:
    message_units = {"a": (1, 153), "€": (2, 153), "ú": (1, 67), "😜": (2, 67)}
    cost, cap = message_units[char]
    per_part = cap // cost
    text = char * (255 * per_part + extra)
    try:
        encode_message(text)
    except TooManyPartsError as exc:
        assert "256 parts" in str(exc) or "257 parts" in str(exc)
    else:
        raise AssertionError("more than 255 parts accepted")


def _whole_text_split_utf16(text: str, data: bytes, cap: int) -> list[bytes]:
    """split_utf16 as it was before it looked at the cuts only: it scanned the whole text for
    joiners and re-encoded every part. Kept as the oracle that the cheaper split cuts at the same
    places."""
    n, room, chunks, start = len(data), 2 * cap, [], 0
    if not may_join(text, has_astral=n != 2 * len(text)):
        while start < n:
            end = start + room
            if end >= n:
                end = n
            elif 0xD8 <= data[end - 2] <= 0xDB or (
                data[end - 2 : end] == b"\x00\r" and data[end : end + 2] == b"\x00\n"
            ):
                end -= 2
            chunks.append(data[start:end])
            start = end
        return chunks
    first = 0
    while start < n:
        if start + room >= n:
            end_point = len(text)
        else:
            limit = first + len(data[start : start + room].decode("utf-16-be", "ignore"))
            end_point = boundary_at_or_before(text, limit, first)
            if end_point <= first:
                end_point = limit
        end = start + len(text[first:end_point].encode("utf-16-be"))
        chunks.append(data[start:end])
        start, first = end, end_point
    return chunks


@settings(max_examples=400, deadline=None)
@given(TEXTS, st.integers(2, 70))
def test_split_utf16_cuts_where_the_whole_text_split_did(text: str, cap: int) -> None:
    text = text.replace("\ud800", "").replace("\udfff", "")
    data = text.encode("utf-16-be")
    expected = _whole_text_split_utf16(text, data, cap)
    if len(expected) > 255:
        return
    assert split_utf16(text, data, cap) == expected


def _charmap_compact(codec, text: str) -> bytes | None:
    """SeptetCodec.encode_compact as it was: every non-ASCII text through the C charmap."""
    try:
        data = codecs.charmap_encode(text, "strict", codec._map)[0].translate(codec._fix)
    except UnicodeEncodeError:
        return None
    return None if not data.isascii() and 0x9B in data else data


# Every character some table carries, and a few no table does (Latin-1 ones among them).
TABLE_CHARS = sorted(set().union(*(codec.chars for codec in CODECS.values())))
CODEC_TEXTS = st.text(st.sampled_from(TABLE_CHARS) | st.sampled_from("ëÿ\x00\x1b😜Я\ud800"))


@settings(max_examples=300, deadline=None)
@given(CODEC_TEXTS)
def test_every_codec_encodes_as_its_charmap_does(text: str) -> None:
    """The Latin-1 fast path of SeptetCodec.encode_compact gives what the C charmap alone gave."""
    for codec in CODECS.values():
        assert codec.encode_compact(text) == _charmap_compact(codec, text)


def test_every_codec_encodes_each_character_as_its_charmap_does() -> None:
    contexts = ("{}", "ab{}cd", "é{}", "{}Ş", "{}€")  # ASCII, Latin-1 and charmap neighbours
    for code in [*range(0x3000), *range(0x1F600, 0x1F650)]:
        char = chr(code)
        for codec in CODECS.values():
            for context in contexts:
                text = context.format(char)
                assert codec.encode_compact(text) == _charmap_compact(codec, text), (codec, text)
