"""E.164 normalisation, reason codes and destination time zones (herald.numbers)."""

from __future__ import annotations

import ast
import random
from collections.abc import Iterator
from pathlib import Path

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from herald import numbers
from herald.errors import ConfigError, NumberError
from herald.numbers import check_number, normalize_number, time_zones_for

# Real-format mobile numbers (phonenumbers' example numbers): region, E.164, as written
# nationally, as written internationally by a person.
MOBILES = [
    ("GR", "+306912345678", "691 234 5678", "+30 691 234 5678"),
    ("GB", "+447400123456", "07400 123456", "+44 7400 123456"),
    ("US", "+12015550123", "(201) 555-0123", "+1 201-555-0123"),
    ("DE", "+4915123456789", "01512 3456789", "+49 1512 3456789"),
    ("FR", "+33612345678", "06 12 34 56 78", "+33 6 12 34 56 78"),
    ("IT", "+393123456789", "312 345 6789", "+39 312 345 6789"),
    ("ES", "+34612345678", "612 34 56 78", "+34 612 34 56 78"),
    ("RU", "+79123456789", "8 (912) 345-67-89", "+7 912 345-67-89"),
    ("AU", "+61412345678", "0412 345 678", "+61 412 345 678"),
    ("IN", "+918123456789", "081234 56789", "+91 81234 56789"),
    ("BR", "+5511961234567", "(11) 96123-4567", "+55 11 96123-4567"),
    ("MX", "+522221234567", "222 123 4567", "+52 222 123 4567"),
    ("JP", "+819012345678", "090-1234-5678", "+81 90-1234-5678"),
    ("CN", "+8613123456789", "131 2345 6789", "+86 131 2345 6789"),
    ("ZA", "+27711234567", "071 123 4567", "+27 71 123 4567"),
    ("NG", "+2348021234567", "0802 123 4567", "+234 802 123 4567"),
    ("KE", "+254712123456", "0712 123456", "+254 712 123456"),
    ("EG", "+201001234567", "010 01234567", "+20 10 01234567"),
    ("TR", "+905012345678", "0501 234 56 78", "+90 501 234 56 78"),
    ("AR", "+5491123456789", "011 15-2345-6789", "+54 9 11 2345-6789"),
    ("CA", "+15062345678", "(506) 234-5678", "+1 506-234-5678"),
    ("NL", "+31612345678", "06 12345678", "+31 6 12345678"),
    ("SE", "+46701234567", "070-123 45 67", "+46 70 123 45 67"),
    ("PL", "+48512345678", "512 345 678", "+48 512 345 678"),
    ("UA", "+380501234567", "050 123 4567", "+380 50 123 4567"),
    ("ID", "+62812345678", "0812-345-678", "+62 812-345-678"),
    ("PH", "+639051234567", "0905 123 4567", "+63 905 123 4567"),
    ("AE", "+971501234567", "050 123 4567", "+971 50 123 4567"),
    ("IL", "+972502345678", "050-234-5678", "+972 50-234-5678"),
    ("CH", "+41781234567", "078 123 45 67", "+41 78 123 45 67"),
    ("KR", "+821020000000", "010-2000-0000", "+82 10-2000-0000"),
]

# Fixed-line numbers of regions where phonenumbers tells fixed from mobile.
FIXED_LINES = [
    ("GR", "+302123456789"),
    ("GB", "+441212345678"),
    ("DE", "+4930123456"),
    ("FR", "+33123456789"),
    ("IT", "+390212345678"),
    ("ES", "+34810123456"),
    ("RU", "+73011234567"),
    ("AU", "+61212345678"),
    ("JP", "+81312345678"),
    ("ZA", "+27101234567"),
    ("SE", "+468123456"),
    ("CH", "+41212345678"),
]


def reason_of(raw: str, **kwargs: object) -> str:
    with pytest.raises(NumberError) as info:
        normalize_number(raw, **kwargs)  # type: ignore[arg-type]
    assert info.value.number == raw
    assert repr(raw) in str(info.value)
    assert info.value.reason in str(info.value)
    return info.value.reason


# --- accepted shapes ------------------------------------------------------------------------


@pytest.mark.parametrize(("region", "e164", "national", "international"), MOBILES)
def test_mobile_numbers_of_many_countries_in_every_written_form(
    region: str, e164: str, national: str, international: str
) -> None:
    assert normalize_number(e164) == e164
    assert normalize_number(international) == e164
    assert normalize_number("00" + e164[1:]) == e164
    assert normalize_number(e164[1:]) == e164  # international digits, neither + nor 00
    assert normalize_number(national, default_region=region) == e164
    assert normalize_number(national, default_region=region, mobile_only=True) == e164
    assert check_number(national, default_region=region) == (e164, None)


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+30 694 853 0920", None, "+306948530920"),
        ("00306948530920", None, "+306948530920"),
        ("306948530920", None, "+306948530920"),
        ("0030 694.853.0920", None, "+306948530920"),
        ("+30 (694) 853-0920", None, "+306948530920"),
        ("  +30\u00a0694\t853 0920  ", None, "+306948530920"),
        ("6948530920", "GR", "+306948530920"),
        ("306948530920", "GR", "+306948530920"),  # own country code without +
        ("306948530920", "GB", "+306948530920"),  # not a GB number: read as international
        ("07400 123456", "GB", "+447400123456"),
        ("447400123456", "GB", "+447400123456"),
        ("+44 (0) 7400 123456", None, "+447400123456"),  # the "(0)" people write
        ("2015550123", "US", "+12015550123"),  # national first: not +20 (Egypt)
        ("2015550123", None, "+2015550123"),  # no region: international digits, Egypt
        ("1 201 555 0123", "US", "+12015550123"),
        ("011 44 7400 123456", "US", "+447400123456"),  # the region's own international prefix
        ("00 44 7400 123456", "US", "+447400123456"),  # 00 is understood everywhere
        ("0011 30 694 853 0920", "AU", "+306948530920"),
        ("8 916 123-45-67", "RU", "+79161234567"),
        ("+39 06 6982 0000", None, "+390669820000"),  # Italian leading zero is kept
        ("+1 268 464 1234", None, "+12684641234"),
        ("07400 123456", "gb", "+447400123456"),  # region case does not matter
    ],
)
def test_accepted_shapes(raw: str, region: str | None, e164: str) -> None:
    assert normalize_number(raw, default_region=region) == e164


# --- reasons --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "detail"),
    [
        ("", None, "no digits"),
        ("   ", None, "no digits"),
        ("+", None, "no digits"),
        ("hello", None, "'h'"),
        ("+30 694 853 092O", None, "'O'"),  # a letter O for a zero
        ("1-800-FLOWERS", "US", "'F'"),
        ("+1 201 555 0123 ext 5", None, "'e'"),
        ("++306948530920", None, "'+'"),
        ("30+6948530920", None, "'+'"),
        ("+30;6948530920", None, "';'"),
        ("12", None, "2 digits"),
        ("+" + "1" * 18, None, "18 digits"),
        ("1" * 41, None, "longer than 40"),
        ("06948530920", None, "needs a default region"),
        ("+06948530920", None, "starts with 0"),
        ("0030 1", None, ""),
    ],
)
def test_invalid_format(raw: str, region: str | None, detail: str) -> None:
    with pytest.raises(NumberError) as info:
        normalize_number(raw, default_region=region)
    assert info.value.reason == "invalid_format"
    assert detail in str(info.value)
    assert check_number(raw, default_region=region) == (None, "invalid_format")


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("+999 123 4567", None),  # no country has code 999
        ("+30 212345678", None),  # a digit short
        ("+30 69123456789", None),  # a digit too many
        ("06948530920", "GR"),  # Greece has no trunk 0
        ("07700 900123", "GB"),  # Ofcom's drama range: phonenumbers rejects it
        ("+44 7700 900123", None),
        ("+1 201 555 012", None),
        ("+1 011 555 0123", None),  # NANP area codes never start with 0 or 1
        ("0123", "GB"),
        ("+" + "1" * 16, None),  # more digits than E.164 allows
        ("+49 557413782477630", None),  # 17 digits that phonenumbers types as German
        ("-4955741378247763.0", None),  # the same as a JSON number turns it into text
    ],
)
def test_invalid_number(raw: str, region: str | None) -> None:
    assert reason_of(raw, default_region=region) == "invalid_number"
    assert check_number(raw, default_region=region) == (None, "invalid_number")


@pytest.mark.parametrize(("region", "e164"), FIXED_LINES)
def test_fixed_lines_are_valid_but_not_mobile(region: str, e164: str) -> None:
    assert normalize_number(e164) == e164
    with pytest.raises(NumberError) as info:
        normalize_number(e164, mobile_only=True)
    assert info.value.reason == "not_mobile"
    assert "fixed_line" in str(info.value)
    assert check_number(e164, mobile_only=True) == (None, "not_mobile")


def test_not_mobile_through_the_national_path_names_the_type() -> None:
    with pytest.raises(NumberError, match="toll_free"):
        normalize_number("0800 123 4567", default_region="GB", mobile_only=True)
    assert check_number("0800 123 4567", default_region="GB") == ("+448001234567", None)


def test_fixed_line_or_mobile_counts_as_mobile() -> None:
    # The US and CA share ranges between the two: phonenumbers cannot tell them apart.
    for e164 in ("+12015550123", "+15062345678"):
        number = phonenumbers.parse(e164)
        assert phonenumbers.number_type(number) == PhoneNumberType.FIXED_LINE_OR_MOBILE
        assert normalize_number(e164, mobile_only=True) == e164


def test_valid_national_reading_wins_even_when_not_mobile() -> None:
    # A valid national number is not re-read as international to find a mobile.
    assert check_number("2123456789", default_region="GR", mobile_only=True) == (
        None,
        "not_mobile",
    )


def test_unknown_default_region_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="'XX'"):
        normalize_number("07400 123456", default_region="XX")
    with pytest.raises(ConfigError, match="'XX'"):
        check_number("07400 123456", default_region="XX")
    # A '+' number never needs the region, so it is not even looked at.
    assert normalize_number("+447400123456", default_region="XX") == "+447400123456"


def test_invalid_examples_of_every_region_are_invalid_numbers() -> None:
    seen = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        example = phonenumbers.invalid_example_number(region)
        if example is None:
            continue
        e164 = phonenumbers.format_number(example, PhoneNumberFormat.E164)
        assert check_number(e164)[1] in ("invalid_number", "invalid_format"), (region, e164)
        seen += 1
    assert seen > 200


def _e164_digits(number: phonenumbers.PhoneNumber) -> int:
    return len(phonenumbers.format_number(number, PhoneNumberFormat.E164)) - 1


def _reference(raw: str, region: str | None, mobile_only: bool) -> str | None:
    """The plain phonenumbers pipeline, which the fast paths must agree with, within E.164's
    15 digits (phonenumbers types some longer German and Uruguayan numbers as valid; the
    database's phone CHECK, like E.164, stops at 15)."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    ntype = phonenumbers.number_type(number)
    if ntype == PhoneNumberType.UNKNOWN or _e164_digits(number) > 15:
        return None
    mobile = ntype in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)
    if mobile_only and not mobile:
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def _every_example() -> Iterator[tuple[str, phonenumbers.PhoneNumber, str]]:
    """(region, number, its E.164) for phonenumbers' example of each region and type."""
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for ntype in range(12):
            example = phonenumbers.example_number_for_type(region, ntype)
            if example is not None:
                yield region, example, phonenumbers.format_number(example, PhoneNumberFormat.E164)


def test_fast_path_agrees_with_phonenumbers_on_every_region_and_type() -> None:
    checked = 0
    for region, example, e164 in _every_example():
        # The example, a neighbour, one digit short and one digit long.
        neighbour = e164[:-1] + str((int(e164[-1]) + 3) % 10)
        for raw in (e164, neighbour, e164[:-1], e164 + "7"):
            for mobile_only in (False, True):
                expected = _reference(raw, None, mobile_only)
                assert check_number(raw, mobile_only=mobile_only)[0] == expected, raw
                checked += 1
        national = phonenumbers.format_number(example, PhoneNumberFormat.NATIONAL)
        expected = _reference(national, region, False)
        assert check_number(national, default_region=region)[0] == expected, national
    assert checked > 5000


def _examples(region: str) -> list[str]:
    found = []
    for ntype in range(12):
        example = phonenumbers.example_number_for_type(region, ntype)
        if example is not None:
            found.append(phonenumbers.format_number(example, PhoneNumberFormat.E164))
    return found


EVERY_EXAMPLE = sorted({e164 for r in phonenumbers.SUPPORTED_REGIONS for e164 in _examples(r)})
# Own-region examples, plus a spread of foreign ones, 00-prefixed ("000..." included).
FOREIGN = [*EVERY_EXAMPLE[::97], "+" + "0" * 3 + "44", "+04412345678"]


def _with_00_for(region: str) -> list[str]:
    return ["00" + e164[1:] for e164 in [*_examples(region), *FOREIGN]]


def test_00_prefix_shortcut_reads_as_phonenumbers_does_for_every_region() -> None:
    """Where numbers._prefix_is_00 lets check_number skip parsing with the region, phonenumbers
    would have read the digits exactly as '+' and the rest."""
    taken = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for raw in _with_00_for(region):
            if not numbers._prefix_is_00(region, raw):
                continue
            taken += 1
            try:
                expected = phonenumbers.parse("+" + raw[2:])
            except phonenumbers.NumberParseException as exc:
                with pytest.raises(phonenumbers.NumberParseException) as info:
                    phonenumbers.parse(raw, region)
                assert info.value.error_type == exc.error_type, (region, raw)
            else:
                assert phonenumbers.parse(raw, region) == expected, (region, raw)
    assert taken > 3000


def test_00_prefix_shortcut_is_taken_only_where_00_is_the_prefix() -> None:
    assert numbers._prefix_is_00("GR", "00306948530920")
    assert numbers._prefix_is_00("MX", "00306948530920")  # 0[09]: 00 is one of two
    assert not numbers._prefix_is_00("US", "00306948530920")  # 011
    assert not numbers._prefix_is_00("AU", "00306948530920")  # 0011
    assert not numbers._prefix_is_00("BR", "00556948530920")  # 0055 is a carrier's prefix
    assert not numbers._prefix_is_00("HK", "00306948530920")  # 0030 likewise
    assert not numbers._prefix_is_00("GR", "00030694853092")  # a 0 after it: national


def _reference_with_region(raw: str, region: str, mobile_only: bool) -> str | None:
    """The documented order on plain phonenumbers: the national reading (which strips the
    region's own international prefix) if it is a valid number, else 00 as the prefix."""
    for text, where in ((raw, region), ("+" + raw[2:], None)):
        try:
            number = phonenumbers.parse(text, where)
        except phonenumbers.NumberParseException:
            continue
        ntype = phonenumbers.number_type(number)
        if ntype == PhoneNumberType.UNKNOWN or _e164_digits(number) > 15:
            continue
        mobile = ntype in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)
        if mobile_only and not mobile:
            return None
        return phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return None


def test_00_prefixed_numbers_with_every_region_agree_with_phonenumbers() -> None:
    checked = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for raw in _with_00_for(region):
            for mobile_only in (False, True):
                expected = _reference_with_region(raw, region, mobile_only)
                got = check_number(raw, default_region=region, mobile_only=mobile_only)
                assert got[0] == expected, (region, raw, mobile_only)
                checked += 1
    assert checked > 8000


def test_00_prefixed_reasons_do_not_depend_on_the_shortcut() -> None:
    # An invalid number after 00 gets the national reading's reason and detail, as before.
    for region in ("GR", "US"):
        with pytest.raises(NumberError, match=f"in {region}"):
            normalize_number("0030 212345678", default_region=region)  # a digit short
    assert check_number("0030 212345678", default_region="GR") == (None, "invalid_number")
    assert check_number("00 999 1234567", default_region="GR") == (None, "invalid_number")
    assert check_number("00302123456789", default_region="GR", mobile_only=True) == (
        None,
        "not_mobile",
    )


def test_check_number_never_raises_for_garbage() -> None:
    for raw in ("", "\x00", "\ud800", "+" * 50, "🙂", "٠١٢٣٤٥٦٧٨٩", "１２３４５６７"):
        e164, reason = check_number(raw)
        assert e164 is None and reason == "invalid_format"


# --- time zones -----------------------------------------------------------------------------


def test_single_zone_country() -> None:
    assert time_zones_for("+306948530920") == ("Europe/Athens",)
    assert time_zones_for("+302123456789") == ("Europe/Athens",)


def test_multi_zone_countries() -> None:
    ru = time_zones_for("+79123456789")
    assert {"Europe/Moscow", "Asia/Vladivostok", "Asia/Yekaterinburg"} <= set(ru)
    au = time_zones_for("+61412345678")
    assert {"Australia/Sydney", "Australia/Perth"} <= set(au)
    # A US area code that spans two zones (South Dakota), and one that does not.
    assert set(time_zones_for("+16052345678")) <= {"America/Chicago", "America/Denver"}
    assert time_zones_for("+12015550123") == ("America/New_York",)
    assert len(time_zones_for("+447400123456")) == 4  # London, Jersey, Guernsey, Isle of Man


def test_caribbean_mobile_gets_its_territory_not_all_of_nanpa() -> None:
    assert time_zones_for("+12684641234") == ("America/Antigua",)


def test_unknown_zone_falls_back_to_the_country() -> None:
    # Not a valid number, so phonenumbers says Etc/Unknown; the country knows better.
    assert time_zones_for("+3012345") == ("Europe/Athens",)
    # Global services have no country to fall back on.
    assert time_zones_for("+80012345678") == ("Etc/Unknown",)


def test_time_zones_need_e164() -> None:
    for bad in ("306948530920", "+30 694", "", "+"):
        with pytest.raises(NumberError) as info:
            time_zones_for(bad)
        assert info.value.reason == "invalid_format"
        assert repr(bad) in str(info.value)


def test_time_zone_cache_is_keyed_by_the_first_nine_digits() -> None:
    numbers._zone_slot.cache_clear()
    time_zones_for("+61412345678")
    time_zones_for("+61412345679")  # same 9-digit prefix: a hit
    time_zones_for("+61412345678")
    info = numbers._zone_slot.cache_info()
    assert (info.hits, info.misses, info.currsize) == (2, 1, 1)
    time_zones_for("+61422345678")
    assert numbers._zone_slot.cache_info().currsize == 2


def test_an_invalid_number_does_not_decide_for_its_prefix() -> None:
    numbers._zone_slot.cache_clear()
    # Brazilian mobiles are geographic; an invalid number sharing the 9-digit prefix gets
    # the whole country, and must not leave that answer in the cache.
    brazil = time_zones_for("+551196123")
    assert len(brazil) > 1 and "America/Sao_Paulo" in brazil
    assert time_zones_for("+5511961234567") == ("America/Sao_Paulo",)
    assert time_zones_for("+5511961234568") == ("America/Sao_Paulo",)


def test_unparseable_digits_still_get_their_country() -> None:
    assert time_zones_for("+30") == ("Europe/Athens",)
    assert time_zones_for("+0") == ("Etc/Unknown",)


# --- layering -------------------------------------------------------------------------------


def test_numbers_never_imports_geocoder_or_carrier() -> None:
    source = Path(numbers.__file__).read_text(encoding="utf-8")
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
            imported.update(f"{node.module}.{alias.name}" for alias in node.names)
    assert not {m for m in imported if m.endswith((".geocoder", ".carrier"))}


def test_validity_agrees_with_phonenumbers_near_every_example_number() -> None:
    # numbers._validity_pattern folds a region's descriptions into one pattern per length,
    # and a number it finds valid is taken without phonenumbers' parse: near valid numbers
    # (the last digits changed) a pattern that let too much through would show.
    rng = random.Random(7)
    checked = valid = 0
    for _, _, digits in _every_example():
        for _ in range(8):
            tail = rng.randint(1, min(4, len(digits) - 3))
            changed = digits[:-tail] + f"{rng.randrange(10**tail):0{tail}d}"
            expected = _reference(changed, None, False)
            assert check_number(changed)[0] == expected, changed
            checked += 1
            valid += expected is not None
    assert checked > 10_000 and valid > 5_000


def test_validity_without_the_type_agrees_with_phonenumbers_on_random_numbers() -> None:
    # check_number without mobile_only asks a single-region calling code only whether some
    # type matches, mobile and fixed line first (numbers._valid_in_single_region): the same
    # answer as number_type's, on digits that are mostly not valid.
    rng = random.Random(18)
    checked = valid = 0
    for cc in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE):
        for length in range(4, 14):
            for _ in range(6):
                rest = rng.randint(0, 10 ** (length - 1) - 1)
                raw = f"+{cc}{rng.randint(1, 9)}{rest:0{length - 1}d}"
                expected = _reference(raw, None, False)
                assert check_number(raw)[0] == expected, raw
                checked += 1
                valid += expected is not None
    assert checked > 10_000 and valid > 500
