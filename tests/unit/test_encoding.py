"""encode_message: the encoding choice, options, flash, transcoding, result object, bad input."""

from __future__ import annotations

import dataclasses

import pytest

from herald.errors import InvalidTextError, TextOptionError, TooManyPartsError, UnencodableError
from herald.text import (
    EncodedMessage,
    Part,
    decode_message,
    encode_message,
    encode_with_tables,
)
from herald.text.encoding import _message
from herald.text.reassemble import parse_tlvs

# --- choice ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding", "forced"),
    [
        ("Hello", "gsm7", ()),
        ("Grüße 5€ [x]", "gsm7", ()),
        ("ça va", "ucs2", ("ç",)),  # docs/protocol.md §1.3: ç forces UCS-2 by default
        ("a`b", "ucs2", ("`",)),  # the only printable ASCII character GSM lacks
        ("x 😜 y 😜 á", "ucs2", ("😜", "á")),
        ("Привет", "ucs2", ("П", "р", "и", "в", "е", "т")),
        ("a\u00a0b", "ucs2", ("\u00a0",)),
    ],
)
def test_gsm7_exactly_when_every_character_is_gsm(
    text: str, encoding: str, forced: tuple[str, ...]
) -> None:
    message = encode_message(text)
    assert message.encoding == encoding
    assert message.forced_ucs2_by == forced
    assert message.data_coding == (0x00 if encoding == "gsm7" else 0x08)
    assert message.text == text


def test_ucs2_is_utf16be_with_surrogate_pairs() -> None:
    message = encode_message("a😜")
    assert message.parts[0].short_message == "a😜".encode("utf-16-be")
    assert message.units == (3,)


def test_plain_gsm_single_part_has_no_udh() -> None:
    message = encode_message("Hello")
    assert message.esm_class == 0 and message.national is None
    assert message.parts == (Part(b"Hello"),)
    assert message.parts[0].tlvs == b""
    assert message.chars_left == 155


@pytest.mark.parametrize(
    ("text", "chars_left"),
    [("a" * 10, 150), ("a" * 161, 145), ("€" * 10, 140), ("ú" * 10, 60), ("ú" * 71, 63)],
)
def test_chars_left(text: str, chars_left: int) -> None:
    assert encode_message(text).chars_left == chars_left


def test_empty_text_is_one_empty_gsm_part() -> None:
    message = encode_message("")
    assert message.encoding == "gsm7"
    assert message.parts == (Part(b""),)
    assert message.units == (0,) and message.sm_lengths == (0,) and message.segments == 1
    assert message.chars_left == 160


def test_result_is_a_frozen_slotted_dataclass() -> None:
    message = encode_message("Hello")
    assert dataclasses.is_dataclass(message) and not hasattr(message, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.segments = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.parts[0].short_message = b""  # type: ignore[misc]
    assert message == encode_message("Hello")
    assert isinstance(message, EncodedMessage)


# --- flash -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "national", "dcs"),
    [("Hello", (), 0xF0), ("Hello 😜", (), 0x18), ("ş", ("tr",), 0xF0), ("a" * 200, (), 0xF0)],
)
def test_flash_data_coding(text: str, national: tuple[str, ...], dcs: int) -> None:
    assert encode_message(text, flash=True, national=national).data_coding == dcs


# --- national tables -------------------------------------------------------------------------


def test_national_tables_only_when_default_tables_fail() -> None:
    message = encode_message("Hello ñ", national=("es", "tr", "pt"))
    assert message.national is None and message.esm_class == 0
    assert message.parts[0].short_message == b"Hello \x7d"


def test_national_tables_are_opt_in() -> None:
    assert encode_message("ş").encoding == "ucs2"
    assert encode_message("ş", national=("tr",)).encoding == "gsm7"


def test_picks_fewest_parts_then_most_room() -> None:
    # Portuguese: locking carries ã õ ç ê at one septet each; single shift would cost two
    text = "Atenção: promoção de verão, você ganhou! " * 3
    message = encode_message(text, national=("pt",))
    assert message.national == ("pt", None)
    # Portuguese locking lacks ñ; Spanish and Portuguese single shift tie, first table wins
    text = "Año nuevo: canción y baile. ¡Olé! Información aquí."
    assert encode_message(text, national=("es", "pt")).national == (None, "es")


def test_mixed_turkish_and_spanish_needs_both_tables() -> None:
    message = encode_message("Şişli á", national=("tr", "es"))
    assert message.national == ("tr", "es")
    assert message.parts[0].short_message[:7] == bytes.fromhex("06240102250101")
    assert decode_message(message) == "Şişli á"


def test_national_unable_to_encode_falls_back_to_ucs2_and_names_the_culprit() -> None:
    message = encode_message("Şişli Привет", national=("tr",))
    assert message.encoding == "ucs2" and message.national is None
    assert message.forced_ucs2_by == ("П", "р", "и", "в", "е", "т")


def test_national_flash_and_udh16() -> None:
    message = encode_message("ş" * 200, national=("tr",), flash=True, concat="udh16", reference=258)
    assert message.data_coding == 0xF0 and message.esm_class == 0x40
    assert message.parts[0].short_message[:10] == bytes.fromhex("09080401020201250101")
    assert message.units == (148, 52)


# --- transcoding -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "sent"),
    [
        ("“Hi” ‘there’ — it’s… done", "\"Hi\" 'there' - it's... done"),
        ("Olá, São Paulo! Ação à noite", "Ola, Sao Paulo! AÇao à noite"),
        ("a\u00a0b\u2009c", "a b c"),
        ("use `code`", "use 'code'"),
        ("ÀÁÂÃ áíóú âêô ãõ", "AAAA aiou aeo ao"),
    ],
)
def test_transcoding_keeps_text_in_gsm7(text: str, sent: str) -> None:
    message = encode_message(text, transcode=True)
    assert message.encoding == "gsm7"
    assert message.text == sent
    assert decode_message(message) == sent
    assert encode_message(text).encoding == "ucs2"  # never altered without the option


def test_transcoding_that_cannot_reach_gsm7_sends_the_original() -> None:
    message = encode_message("“Olá” 😜", transcode=True)
    assert message.encoding == "ucs2"
    assert message.text == "“Olá” 😜"
    assert message.forced_ucs2_by == ("😜",)
    assert decode_message(message) == "“Olá” 😜"


def test_transcoding_leaves_characters_of_enabled_national_tables() -> None:
    message = encode_message("Şişli’de ça", national=("tr",), transcode=True)
    assert message.text == "Şişli'de ça"
    assert message.national == ("tr", None)
    assert encode_message("Şişli’de", transcode=True).text == "Sisli'de"


def test_transcoding_plain_ascii_is_free_and_unchanged() -> None:
    assert encode_message("Hello", transcode=True).text == "Hello"


# --- concatenation methods -------------------------------------------------------------------


def test_udh8_parts_share_reference_and_count() -> None:
    message = encode_message("a" * 400, reference=200)
    headers = [p.short_message[:6] for p in message.parts]
    assert headers == [bytes([5, 0, 3, 200, 3, seq]) for seq in (1, 2, 3)]
    assert message.esm_class == 0x40


def test_udh16_header() -> None:
    message = encode_message("a" * 400, concat="udh16", reference=0xABCD)
    assert message.parts[1].short_message[:7] == bytes.fromhex("060804abcd0302")
    assert message.units == (152, 152, 96)


def test_sar_sends_no_udh_and_three_tlvs_per_part() -> None:
    message = encode_message("a" * 400, concat="sar", reference=0x1234)
    assert message.esm_class == 0
    assert message.units == (152, 152, 96)  # priced as the 16-bit header the SMSC builds
    assert [p.short_message for p in message.parts] == [b"a" * u for u in message.units]
    for seq, part in enumerate(message.parts, 1):
        assert part.tlvs == bytes.fromhex(f"020c00021234020e000103020f00010{seq}")
        assert parse_tlvs(part.tlvs) == {0x020C: b"\x12\x34", 0x020E: b"\x03", 0x020F: bytes([seq])}


def test_sar_with_national_tables_keeps_shift_ies_in_a_udh() -> None:
    message = encode_message("ş" * 200, concat="sar", national=("tr",))
    assert message.esm_class == 0x40
    assert message.units == (148, 52)
    assert message.parts[0].short_message[:4] == bytes.fromhex("03250101")
    assert decode_message(message) == "ş" * 200


def test_payload_is_one_submit_with_message_payload() -> None:
    text = "a" * 200 + "€"
    message = encode_message(text, concat="payload")
    assert len(message.parts) == 1 and message.parts[0].short_message == b""
    assert message.sm_lengths == (0,)
    assert message.segments == 2  # what the handset receives, split as udh8
    assert message.units == (202,)
    assert message.chars_left == 153 - 49
    assert parse_tlvs(message.parts[0].tlvs) == {0x0424: b"a" * 200 + b"\x1b\x65"}
    assert message.esm_class == 0
    assert decode_message(message) == text


def test_payload_for_a_single_segment_uses_short_message() -> None:
    message = encode_message("Hello", concat="payload")
    assert message.parts == (Part(b"Hello"),) and message.segments == 1


def test_payload_ucs2_segments() -> None:
    message = encode_message("ú" * 140, concat="payload")
    assert message.segments == 3 and message.units == (140,)
    assert parse_tlvs(message.parts[0].tlvs)[0x0424] == ("ú" * 140).encode("utf-16-be")


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown", "index"),
    [
        ("ab\x00cd", r"'\\x00' \(U\+0000\)", 2),
        ("x\ud83d", r"'\\ud83d' \(U\+D83D\)", 1),
        ("ok \udc00 ok", r"'\\udc00' \(U\+DC00\)", 3),
        ("tab\there", r"'\\t' \(U\+0009\)", 3),
        ("del\x7f", r"'\\x7f' \(U\+007F\)", 3),
        ("c1\x85 😜", r"'\\x85' \(U\+0085\)", 2),
        ("esc\x1b", r"'\\x1b' \(U\+001B\)", 3),
    ],
)
def test_invalid_characters_are_named_with_their_index(text: str, shown: str, index: int) -> None:
    with pytest.raises(InvalidTextError, match=rf"{shown} at index {index}"):
        encode_message(text)
    with pytest.raises(InvalidTextError):
        encode_message(text, transcode=True, national=("tr",))


@pytest.mark.parametrize("text", ["line\nbreak", "cr\r\nlf", "form\ffeed"])
def test_lf_cr_ff_are_allowed(text: str) -> None:
    assert encode_message(text).encoding == "gsm7"


def test_too_many_parts_names_the_count() -> None:
    with pytest.raises(TooManyPartsError, match="needs 256 parts"):
        encode_message("a" * (255 * 153 + 1))
    assert encode_message("a" * (255 * 153)).segments == 255
    with pytest.raises(TooManyPartsError, match="needs 256 parts"):
        encode_message("ú" * (255 * 67 + 1))
    with pytest.raises(TooManyPartsError, match="needs 256 parts"):
        encode_message("a" * (255 * 153 + 1), concat="payload")


def test_unknown_concat_method_names_allowed_values() -> None:
    with pytest.raises(TextOptionError, match=r"'udh7'.*udh8, udh16, sar, payload"):
        encode_message("hi", concat="udh7")
    with pytest.raises(ValueError):
        encode_message("hi", concat="")


def test_unknown_national_table_names_allowed_values() -> None:
    with pytest.raises(TextOptionError, match=r"'de'.*tr, es, pt"):
        encode_message("hi", national=("tr", "de"))


@pytest.mark.parametrize(
    ("concat", "reference"), [("udh8", 256), ("udh8", -1), ("udh16", 65536), ("sar", True)]
)
def test_reference_out_of_range(concat: str, reference: int) -> None:
    with pytest.raises(TextOptionError, match=f"reference {reference!r}"):
        encode_message("hi", concat=concat, reference=reference)


def test_encode_with_tables_names_the_character_it_cannot_carry() -> None:
    with pytest.raises(UnencodableError, match=r"'è' \(U\+00E8\) at index 1"):
        encode_with_tables("şè", "tr", None)
    with pytest.raises(TextOptionError, match="'es'"):
        encode_with_tables("x", "es", None)  # Spanish has no locking table


# --- the construction shortcut (_message) -----------------------------------------------------


def test_the_shortcut_sets_every_field_of_encoded_message_as_its_constructor_does() -> None:
    # One distinct value per field, in field order; _message takes them positionally as the
    # constructor does, so a field added to the class and not to _message fails here.
    fields = dataclasses.fields(EncodedMessage)
    values = [object() for _ in fields]
    made = _message(*values)  # type: ignore[arg-type]
    built = EncodedMessage(*values)  # type: ignore[arg-type]
    assert type(made) is EncodedMessage
    for field, value in zip(fields, values, strict=True):
        assert getattr(made, field.name) is getattr(built, field.name) is value, field.name
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.segments = 2  # type: ignore[misc]


@pytest.mark.parametrize("text", ["Hello", "Привет", "x" * 200, "€" * 100, ""])
def test_every_message_is_a_whole_encoded_message(text: str) -> None:
    message = encode_message(text)
    as_built = EncodedMessage(
        **{f.name: getattr(message, f.name) for f in dataclasses.fields(EncodedMessage)}
    )
    assert message == as_built and hash(message) == hash(as_built)
