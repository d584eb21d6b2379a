"""Sender ids: kind, source_addr, TON and NPI, and every rule broken (herald.numbers)."""

from __future__ import annotations

import dataclasses

import pytest

from herald.errors import ConfigError, SenderError
from herald.numbers import Sender, parse_sender

# --- alphanumeric ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sender", ["MyBrand", "A", "HERALD", "Shop 24", "Dr.Smith", "ab-cd_ef!?", "1234567890a"]
)
def test_alphanumeric_is_ton_5_npi_0(sender: str) -> None:
    assert parse_sender(sender) == Sender(sender, 5, 0, "alphanumeric")


def test_alphanumeric_at_the_eleven_character_limit() -> None:
    assert parse_sender("ElevenChars").address == "ElevenChars"
    assert parse_sender("$%&'()*+,-.").kind == "alphanumeric"


def test_surrounding_whitespace_is_ignored() -> None:
    assert parse_sender("  MyBrand \t") == Sender("MyBrand", 5, 0, "alphanumeric")
    assert parse_sender(" 55555 ").address == "55555"


def test_alphanumeric_too_long_names_the_length() -> None:
    with pytest.raises(SenderError) as info:
        parse_sender("TwelveCharss")
    message = str(info.value)
    assert "'TwelveCharss'" in message and "12 characters" in message and "11" in message


@pytest.mark.parametrize(
    ("sender", "char"),
    [
        ("My@Shop", "@"),  # GSM 0x00: would end the C-string
        ("back`tick", "`"),  # not in GSM 03.38 at all
        ("[Shop]", "["),  # extension table: 2 septets
        ("Shop{1}", "{"),
        ("a|b", "|"),
        ("a~b", "~"),
        ("a^b", "^"),
        ("a\\b", "\\"),
        ("Café", "é"),  # in the GSM alphabet, but senders go as ASCII
        ("£shop", "£"),
        ("Ωmega", "Ω"),
        ("Tab\there", "\t"),
        ("Brand🙂", "🙂"),
    ],
)
def test_alphanumeric_character_not_allowed_is_named(sender: str, char: str) -> None:
    with pytest.raises(SenderError) as info:
        parse_sender(sender)
    message = str(info.value)
    assert repr(char) in message
    assert f"position {sender.index(char)}" in message
    assert repr(sender) in message


def test_at_sign_error_says_why() -> None:
    with pytest.raises(SenderError, match="0x00"):
        parse_sender("a@b")


# --- numeric --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "address"),
    [
        ("+447400123456", "447400123456"),
        ("447400123456", "447400123456"),
        ("+306948530920", "306948530920"),
        ("+12015550123", "12015550123"),
        ("123456789", "123456789"),  # one digit longer than the default short code
        ("+6834002", "6834002"),  # Niue: the shortest numbers in service
        ("+1234567890123456", "1234567890123456"),  # 16 digits, the maximum
    ],
)
def test_numeric_is_international_ton_1_npi_1_without_plus(sender: str, address: str) -> None:
    assert parse_sender(sender) == Sender(address, 1, 1, "numeric")


@pytest.mark.parametrize(
    ("sender", "needle"),
    [
        ("+12345678901234567", "17 digits"),
        ("12345678901234567", "17 digits"),
        ("+123456", "6 digits"),
        ("+55555", "5 digits"),
    ],
)
def test_numeric_length_rule_names_the_length(sender: str, needle: str) -> None:
    with pytest.raises(SenderError) as info:
        parse_sender(sender)
    assert needle in str(info.value) and repr(sender) in str(info.value)
    assert ("too long" if len(sender.lstrip("+")) > 16 else "too short") in str(info.value)


@pytest.mark.parametrize(
    ("sender", "char"),
    [("+44 7400 123456", " "), ("+44-7400", "-"), ("+Brand", "B"), ("++447400123456", "+")],
)
def test_numeric_character_not_allowed_is_named(sender: str, char: str) -> None:
    with pytest.raises(SenderError) as info:
        parse_sender(sender)
    assert repr(char) in str(info.value) and repr(sender) in str(info.value)


@pytest.mark.parametrize("sender", ["00447400123456", "07400123456", "+07400123456"])
def test_numeric_must_be_international(sender: str) -> None:
    with pytest.raises(SenderError, match="international form") as info:
        parse_sender(sender)
    assert repr(sender) in str(info.value)


# --- short codes ----------------------------------------------------------------------------


@pytest.mark.parametrize("sender", ["555", "55555", "12345678", "0800"])
def test_short_code_defaults_to_ton_3_npi_0(sender: str) -> None:
    assert parse_sender(sender) == Sender(sender, 3, 0, "short_code")


def test_short_code_ton_npi_and_length_are_configurable() -> None:
    assert parse_sender("55555", short_code_ton=0, short_code_npi=1) == Sender(
        "55555", 0, 1, "short_code"
    )
    assert parse_sender("55555", short_code_ton=2, short_code_npi=1).ton == 2
    # With 4-digit short codes a 5-digit sender is a (too short) numeric one.
    assert parse_sender("5555", short_code_max_digits=4).kind == "short_code"
    with pytest.raises(SenderError, match="5 digits"):
        parse_sender("55555", short_code_max_digits=4)
    assert parse_sender("1234567890", short_code_max_digits=10).kind == "short_code"


@pytest.mark.parametrize("sender", ["1", "12"])
def test_short_code_too_short_names_the_length(sender: str) -> None:
    with pytest.raises(SenderError) as info:
        parse_sender(sender)
    assert f"{len(sender)} digits" in str(info.value) and repr(sender) in str(info.value)


# --- empty and configuration ----------------------------------------------------------------


@pytest.mark.parametrize("sender", ["", "   ", "\t"])
def test_empty_sender(sender: str) -> None:
    with pytest.raises(SenderError, match="empty"):
        parse_sender(sender)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"short_code_max_digits": 2},
        {"short_code_max_digits": 16},
        {"short_code_ton": 256},
        {"short_code_npi": -1},
    ],
)
def test_bad_short_code_settings_are_configuration_errors(kwargs: dict[str, int]) -> None:
    with pytest.raises(ConfigError) as info:
        parse_sender("55555", **kwargs)
    name, value = next(iter(kwargs.items()))
    assert name in str(info.value) and str(value) in str(info.value)


def test_sender_is_frozen() -> None:
    sender = parse_sender("MyBrand")
    with pytest.raises(dataclasses.FrozenInstanceError):
        sender.ton = 1  # type: ignore[misc]
