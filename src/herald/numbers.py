"""Phone numbers and sender ids: E.164 normalisation, destination time zones, sender rules.

Pure: no I/O, no clock. Number rules come from phonenumbers (full package: quiet hours need its
time-zone data); its geographic and carrier-name modules are never imported (+100 MiB RSS).

Destination numbers
    ``normalize_number`` returns E.164 with a leading '+', or raises ``NumberError`` whose
    ``reason`` is one of:

    - ``invalid_format``: not shaped like a phone number. Characters other than digits, one
      leading '+' and the separators `` -./()`` (space, no-break space, tab); no digits; fewer than
      3 or more than 17 digits; a national number (leading 0) with no default region; anything
      phonenumbers cannot parse. Letters (vanity numbers) and extensions are refused: an SMS
      goes to a subscriber, not to "1-800-FLOWERS ext. 12".
    - ``invalid_number``: shaped like one, but no such number exists under the numbering plan
      (unknown country code, wrong length, unassigned range).
    - ``not_mobile``: valid, but ``mobile_only`` was asked and the type is not MOBILE.
      FIXED_LINE_OR_MOBILE counts as mobile: phonenumbers cannot tell the two apart in
      countries such as the US and CA, where both share ranges.

    Accepted shapes: ``+30 694 853 0920``, ``00306948530920`` (00 is read as the international
    prefix whatever the region), ``306948530920`` (international digits without + or 00), and,
    with ``default_region``, national numbers such as ``07400 123456`` (GB) or the region's own
    international prefix (``0011 30 ...`` with AU). Bare digits with a region are read as a
    national number first; only if that is not a valid number, and the digits do not start with
    0, are they read as international. So ``2015550123`` with US is a US number, not +20 Egypt.

Time zones
    ``time_zones_for`` gives the candidate IANA zones of a number for quiet hours (see the
    function for the two places where it refines phonenumbers' answer).

Sender ids
    ``parse_sender`` classifies a sender as alphanumeric, numeric or short code and gives the
    source_addr, TON and NPI to send (see docs/protocol.md §3.2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any, Literal

import phonenumbers
from phonenumbers import (
    COUNTRY_CODE_TO_REGION_CODE,
    NumberParseException,
    PhoneMetadata,
    PhoneNumberType,
)
from phonenumbers.phonenumberutil import is_number_type_geographical
from phonenumbers.timezone import (  # type: ignore[attr-defined]  # TIMEZONE_DATA: not in the stubs
    TIMEZONE_DATA,
    UNKNOWN_TIMEZONE,
    time_zones_for_geographical_number,
    time_zones_for_number,
)

from herald.errors import ConfigError, NumberError, SenderError

__all__ = [
    "Sender",
    "Verdict",
    "check_number",
    "country_of",
    "normalize_number",
    "parse_sender",
    "time_zones_for",
]

INVALID_FORMAT = "invalid_format"
INVALID_NUMBER = "invalid_number"
NOT_MOBILE = "not_mobile"

_MIN_DIGITS = 3  # phonenumbers refuses fewer than 2 national digits; 3 leaves room for a cc
_MAX_DIGITS = 17  # phonenumbers' own limit for a national number; '00' + E.164 max 15 fits
_E164_MAX = 15  # digits after the '+' (ITU-T E.164)
_MAX_RAW = 40  # longer input is garbage: reject it before doing any work on it
_SEPARATORS = " \u00a0\t-./()"
_SEPARATOR_RE = re.compile(f"[{re.escape(_SEPARATORS)}]")
_SHAPE_RE = re.compile(f"[{re.escape(_SEPARATORS)}]*(\\+?)([0-9{re.escape(_SEPARATORS)}]*)")
_MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
_REGIONS = frozenset(phonenumbers.SUPPORTED_REGIONS)
_TYPE_NAMES = {v: k.lower() for k, v in vars(PhoneNumberType).items() if k.isupper()}

# phonenumbers compiles its metadata patterns through `re`'s own cache, which holds 512 and
# drops the oldest first: numbers from a few dozen regions keep recompiling them, and even a
# hit costs a lookup with type checks. Keep them all (the metadata bounds their number): about
# 2 us less per E.164 number here. Process-wide, as phonenumbers' cache is.
phonenumbers.enable_pattern_cache()

_Checked = tuple[str, None, str] | tuple[None, str, str]  # (e164, None, "") | (None, reason, why)
_BAD_SHAPE: _Checked = (None, INVALID_FORMAT, "")


def normalize_number(
    raw: str, *, default_region: str | None = None, mobile_only: bool = False
) -> str:
    """Return `raw` as E.164 ('+' and digits), or raise NumberError with a reason code."""
    checked = _check(raw, default_region, mobile_only)
    if checked[0] is None:
        _, reason, detail = checked
        raise NumberError(raw, reason, detail or _shape_problem(raw))
    return checked[0]


Verdict = tuple[str, None] | tuple[None, str]  # check_number: (e164, None) or (None, reason)


def check_number(
    raw: str, *, default_region: str | None = None, mobile_only: bool = False
) -> Verdict:
    """Bulk form of normalize_number: ``(e164, None)`` or ``(None, reason)``, never raises
    for a bad number (an unknown `default_region` still raises ConfigError)."""
    checked = _check(raw, default_region, mobile_only)
    return (None, checked[1]) if checked[0] is None else (checked[0], None)


def _check(raw: str, region: str | None, mobile_only: bool) -> _Checked:
    # Pre-filter: one regex match and a length test reject garbage in well under a
    # microsecond, before phonenumbers (about 15 us) sees it. The detail of a rejection is
    # worked out only when normalize_number raises (see _shape_problem).
    shape = _SHAPE_RE.fullmatch(raw) if len(raw) <= _MAX_RAW else None
    if shape is None:
        return _BAD_SHAPE
    plus, digits = shape.groups()
    if not digits.isdigit():
        digits = _SEPARATOR_RE.sub("", digits)
    if not _MIN_DIGITS <= len(digits) <= _MAX_DIGITS:
        return _BAD_SHAPE
    if plus:
        return _international(digits, mobile_only)
    if region is None:
        if digits[:2] == "00":
            return _international(digits[2:], mobile_only)
        if digits[0] == "0":
            return None, INVALID_FORMAT, "a national number (leading 0) needs a default region"
        return _international(digits, mobile_only)
    if region not in _REGIONS:
        if region.upper() not in _REGIONS:
            raise ConfigError(f"unknown default region {region!r}: use an ISO 3166 code like 'GB'")
        region = region.upper()
    # National first: phonenumbers also strips the region's own international prefix (00,
    # 011, 0011, ...) and country code here. Then 00 as the international prefix anywhere,
    # or bare digits as an international number.
    international = None
    if digits[:2] == "00" and _prefix_is_00(region, digits):
        # phonenumbers would strip the 00 and read the rest as after a '+', so the national
        # reading is the international one: the fast path gives it without a parse (~20 us).
        international = _international(digits[2:], mobile_only)
        if international[1] in (None, NOT_MOBILE):
            return international
    national = _parsed(digits, region, mobile_only)
    if national[1] in (None, NOT_MOBILE):
        return national
    if international is None:
        if digits[:2] == "00":
            international = _international(digits[2:], mobile_only)
        elif digits[0] != "0":
            international = _international(digits, mobile_only)
        else:
            return national
    if international[1] in (None, NOT_MOBILE):
        return international
    return national if national[1] == INVALID_NUMBER else international


@cache
def _international_prefix(region: str) -> re.Pattern[str] | None:
    """The region's international (IDD) prefix pattern, from phonenumbers' metadata."""
    metadata = PhoneMetadata.metadata_for_region(region)
    pattern = metadata.international_prefix if metadata is not None else None
    return re.compile(pattern) if pattern else None


def _prefix_is_00(region: str, digits: str) -> bool:
    """True if parsing `digits` for `region`, phonenumbers takes exactly their leading 00 as the
    region's international prefix: it does so when the metadata's pattern matches there and
    the next digit is not 0 (a 0 after it means a national number)."""
    pattern = _international_prefix(region)
    found = pattern.match(digits) if pattern is not None else None
    return found is not None and found.end() == 2 and digits[2:3] != "0"


def _shape_problem(raw: str) -> str:
    """Why the pre-filter in _check refused `raw`."""
    if len(raw) > _MAX_RAW:
        return f"longer than {_MAX_RAW} characters"
    text = _SEPARATOR_RE.sub("", raw)
    for i, ch in enumerate(text):
        if not ("0" <= ch <= "9" or (ch == "+" and i == 0)):
            return f"character {ch!r} is not allowed in a phone number"
    count = len(text.lstrip("+"))
    if not count:
        return "no digits"
    return f"{count} digits, expected {_MIN_DIGITS} to {_MAX_DIGITS}"


def _international(digits: str, mobile_only: bool) -> _Checked:
    """`digits` is the whole international number: country code first, no '+'."""
    if digits[:1] == "0":
        return None, INVALID_FORMAT, "no country code starts with 0"
    if len(digits) > _E164_MAX:  # phonenumbers' type check alone lets +49 with 17 through
        return None, INVALID_NUMBER, f"+{digits} has {len(digits)} digits; E.164 allows 15"
    # Fast path: country codes are prefix-free, so the first 1-3 digits that name one are it.
    # Building the PhoneNumber ourselves skips parse() (about 10 us of the 16). A national
    # number with a leading zero (Italy) or one phonenumbers would rewrite (a national prefix
    # after the country code, "+44 07...") falls through to the full parse below.
    for size in (1, 2, 3):
        cc = int(digits[:size])
        if cc in COUNTRY_CODE_TO_REGION_CODE:
            nsn = digits[size:]
            if nsn[:1] not in ("", "0"):
                if not mobile_only:  # valid is all that is asked: no type needed
                    valid = _valid_in_single_region(cc, nsn)
                    if valid is not None:
                        return ("+" + digits, None, "") if valid else _parsed_e164(digits)
                number = phonenumbers.PhoneNumber(country_code=cc, national_number=int(nsn))
                ntype = phonenumbers.number_type(number)
                if ntype != PhoneNumberType.UNKNOWN:
                    if mobile_only and ntype not in _MOBILE_TYPES:
                        return None, NOT_MOBILE, f"+{digits} is a {_TYPE_NAMES[ntype]} number"
                    return "+" + digits, None, ""
            break
    else:
        return None, INVALID_NUMBER, f"no country has the calling code of +{digits}"
    return _parsed("+" + digits, None, mobile_only)


# The number types phonenumbers tries (PhoneMetadata's descriptions), the common ones first.
_TYPE_DESCS = (
    "mobile",
    "fixed_line",
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
)
_single_region: dict[int, PhoneMetadata | None] = {}
# (calling code, national number length) -> one pattern for "valid at that length", or None
# when nothing is (see _validity_pattern).
_validity: dict[tuple[int, int], re.Pattern[str] | None] = {}


def _valid_in_single_region(cc: int, nsn: str) -> bool | None:
    """Whether number_type would find a type for +cc nsn (any type: it is valid), without
    working out which. None for a calling code shared by several regions or by none
    (phonenumbers first picks the region by validity there), which take the full type
    check."""
    if cc not in _single_region:
        regions = COUNTRY_CODE_TO_REGION_CODE.get(cc, ())
        single = len(regions) == 1 and regions[0] in _REGIONS
        _single_region[cc] = PhoneMetadata.metadata_for_region(regions[0]) if single else None
    metadata = _single_region[cc]
    if metadata is None:
        return None
    key = (cc, len(nsn))
    if key not in _validity:
        _validity[key] = _validity_pattern(metadata, len(nsn))
    pattern = _validity[key]
    return pattern is not None and pattern.fullmatch(nsn) is not None


def _validity_pattern(metadata: PhoneMetadata, length: int) -> re.Pattern[str] | None:
    """What number_type asks of a national number of `length` digits, as one pattern: the
    general description whole (a lookahead), then any type's. phonenumbers checks each
    description's possible lengths, then runs its pattern twice (match, then fullmatch):
    for a mobile number that was four regex runs and six calls. One run halves a campaign's
    number checks (20,000 Greek mobiles: 156-158 -> 68-75 ms)."""

    def allows(desc: Any) -> bool:
        return (
            desc is not None
            and bool(desc.national_number_pattern)
            and (not desc.possible_length or length in desc.possible_length)
        )

    general = metadata.general_desc
    types = [getattr(metadata, name) for name in _TYPE_DESCS]
    kinds = [d.national_number_pattern for d in types if allows(d)]
    if general is None or not allows(general) or not kinds:
        return None
    anyone = "|".join(f"(?:{k})" for k in kinds)
    return re.compile(f"(?=(?:{general.national_number_pattern})\\Z)(?:{anyone})")


def _parsed_e164(digits: str) -> _Checked:
    """An invalid number through the full pipeline, for its reason."""
    return _parsed("+" + digits, None, False)


def _parsed(text: str, region: str | None, mobile_only: bool) -> _Checked:
    """The full phonenumbers pipeline: parse, type (which implies validity), format."""
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE:
            return None, INVALID_NUMBER, "unknown country calling code"
        return None, INVALID_FORMAT, str(exc.args[0]) if exc.args else "cannot be parsed"
    ntype = phonenumbers.number_type(number)
    if ntype == PhoneNumberType.UNKNOWN:
        where = f" in {region}" if region else ""
        return None, INVALID_NUMBER, f"not a valid number{where}"
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if len(e164) - 1 > _E164_MAX:
        return None, INVALID_NUMBER, f"{e164} has {len(e164) - 1} digits; E.164 allows 15"
    if mobile_only and ntype not in _MOBILE_TYPES:
        return None, NOT_MOBILE, f"{e164} is a {_TYPE_NAMES[ntype]} number"
    return e164, None, ""


# --- countries --------------------------------------------------------------------------------

_COUNTRY_KEY = 8  # leading digits that decide a number's country (NANP: the area code; +44 7781)
_countries: dict[str, str | None] = {}


def country_of(e164: str) -> str | None:
    """The country (ISO 3166 alpha-2) of a valid E.164 number, None for the global services
    (+800, +882, ...) and numbers of no country.

    Most calling codes belong to one country; shared ones (+1, +7, +44, ...) need the number
    itself, and the answer is kept by the first 8 digits after '+' (the first valid number seen
    with them decides, as in time_zones_for). Bounded: the map is emptied past 100,000 keys.
    """
    digits = e164[1:]
    key = digits[:_COUNTRY_KEY]
    if key in _countries:
        return _countries[key]
    regions: tuple[str, ...] = ()
    for size in (1, 2, 3):
        regions = COUNTRY_CODE_TO_REGION_CODE.get(int(digits[:size]) if digits[:size] else -1, ())
        if regions:
            break
    if len(regions) > 1:
        try:
            number = phonenumbers.parse("+" + digits)
        except NumberParseException:
            return regions[0]
        if phonenumbers.number_type(number) == PhoneNumberType.UNKNOWN:
            return phonenumbers.region_code_for_number(number) or regions[0]  # not kept
        regions = (phonenumbers.region_code_for_number(number) or regions[0],)
    country = regions[0] if regions and regions[0] != "001" else None
    if len(_countries) > 100_000:
        _countries.clear()
    _countries[key] = country
    return country


# --- time zones -------------------------------------------------------------------------------


def time_zones_for(e164: str) -> tuple[str, ...]:
    """Candidate IANA time zones of an E.164 number (as normalize_number returns it).

    phonenumbers' answer (``time_zones_for_number``), refined in two places:

    - A non-geographic number in the +1 plan (a Caribbean mobile, say) gets every NANPA zone
      from Guam to Newfoundland, which no quiet-hours window fits; its area code names the
      territory, so the prefix lookup is used instead (+1 268 mobile: America/Antigua).
    - A number whose zone is unknown (``Etc/Unknown``) gets its country calling code's zones.
      With phonenumbers 9.0.43 that happens only for a number that is not valid (every
      calling code has a country-level entry); the global services (+800, +808, +870, +878,
      +881, +882, +883, +888, +979) have no zones at all and stay ``("Etc/Unknown",)``.

    Cached by the first 9 digits after '+': phonenumbers' longest time-zone prefix is 9 digits,
    so the prefix part of the lookup is exact. The number's type (geographic or not) is taken
    from the first valid number seen with that prefix.
    """
    digits = e164[1:]
    if e164[:1] != "+" or not (digits.isdigit() and digits.isascii()):
        raise NumberError(e164, INVALID_FORMAT, "time zones need an E.164 number: '+' and digits")
    slot = _zone_slot(digits[:9])
    if slot:
        return slot[0]
    zones, valid = _zones_for(digits)
    if valid:  # an invalid number must not decide for the valid ones sharing its prefix
        slot.append(zones)
    return zones


@lru_cache(maxsize=1 << 16)
def _zone_slot(prefix: str) -> list[tuple[str, ...]]:
    # lru_cache as a bounded map keyed by the prefix alone; the slot is filled by the caller,
    # which has the whole number phonenumbers needs for the number's type.
    return []


def _zones_for(digits: str) -> tuple[tuple[str, ...], bool]:
    try:
        number = phonenumbers.parse("+" + digits, None)
    except NumberParseException:  # too short or too long to parse: the country may still show
        codes = [int(digits[:n]) for n in (1, 2, 3) if len(digits) >= n]
        known = [cc for cc in codes if cc in COUNTRY_CODE_TO_REGION_CODE]
        return (_country_zones(known[0]) if known else (UNKNOWN_TIMEZONE,)), False
    ntype = phonenumbers.number_type(number)
    zones = tuple(time_zones_for_number(number))
    if number.country_code == 1 and not is_number_type_geographical(ntype, 1):
        zones = tuple(time_zones_for_geographical_number(number))
    if zones == (UNKNOWN_TIMEZONE,):
        zones = _country_zones(number.country_code)
    return zones, ntype != PhoneNumberType.UNKNOWN


@cache
def _country_zones(country_code: int) -> tuple[str, ...]:
    cc = str(country_code)
    if cc in TIMEZONE_DATA:
        return tuple(TIMEZONE_DATA[cc])
    found = {z for prefix, zones in TIMEZONE_DATA.items() if prefix.startswith(cc) for z in zones}
    found.discard(UNKNOWN_TIMEZONE)
    return tuple(sorted(found)) or (UNKNOWN_TIMEZONE,)


# --- sender ids -------------------------------------------------------------------------------

SenderKind = Literal["alphanumeric", "numeric", "short_code"]

ALPHANUMERIC_MAX = 11  # TP-OA: 10 octets of packed septets (docs/protocol.md §3.2)
NUMERIC_MAX = 16
NUMERIC_MIN = 7  # the shortest numbers in service (+683 Niue: 3 + 4 digits)
SHORT_CODE_MIN = 3

# Printable ASCII that is also in the GSM 03.38 default alphabet, sent as ASCII. Left out:
# the backtick (not in GSM), [ \ ] ^ { | } ~ (extension table: 2 septets, handsets and SMSCs
# disagree), and '@', which GSM-encodes to 0x00 and cuts the C-string short (Kannel sends '?').
_ALPHANUMERIC_CHARS = frozenset(
    " !\"#$%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
)


@dataclass(frozen=True, slots=True)
class Sender:
    """A sender id as it goes into submit_sm: source_addr, source_addr_ton, source_addr_npi."""

    address: str
    ton: int
    npi: int
    kind: SenderKind


def parse_sender(
    sender: str,
    *,
    short_code_ton: int = 3,
    short_code_npi: int = 0,
    short_code_max_digits: int = 8,
) -> Sender:
    """Classify `sender` and give its SMPP addressing, or raise SenderError naming the rule.

    Surrounding whitespace is ignored. Then:

    - digits only, at most `short_code_max_digits` (and at least 3): a short code, TON/NPI as
      configured (default 3/0, network-specific; carriers differ, so it is per route).
    - '+' and digits, or more digits than a short code: a numeric sender in international form
      (country code first), 7 to 16 digits, sent without '+' as TON 1 (international), NPI 1
      (E.164). A leading 0 or 00 is refused: the carrier would read it as part of the number.
    - anything else: alphanumeric, 1 to 11 characters from printable ASCII that is also in the
      GSM default alphabet, without '@' (see _ALPHANUMERIC_CHARS), TON 5, NPI 0.
    """
    if not SHORT_CODE_MIN <= short_code_max_digits < NUMERIC_MAX:
        raise ConfigError(
            f"short_code_max_digits is {short_code_max_digits}, "
            f"expected {SHORT_CODE_MIN} to {NUMERIC_MAX - 1}"
        )
    for name, value in (("short_code_ton", short_code_ton), ("short_code_npi", short_code_npi)):
        if not 0 <= value <= 255:
            raise ConfigError(f"{name} is {value}, expected 0 to 255")
    text = sender.strip()
    if not text:
        raise SenderError(f"sender {sender!r} is empty")
    if text[0] == "+":
        return _numeric(sender, text[1:], plus=True)
    if text.isdigit() and text.isascii():
        if len(text) > short_code_max_digits:
            return _numeric(sender, text, plus=False)
        if len(text) < SHORT_CODE_MIN:
            raise SenderError(
                f"sender {sender!r} is too short: {len(text)} digits "
                f"(a short code has {SHORT_CODE_MIN} to {short_code_max_digits})"
            )
        return Sender(text, short_code_ton, short_code_npi, "short_code")
    return _alphanumeric(sender, text)


def _numeric(sender: str, digits: str, *, plus: bool) -> Sender:
    for ch in digits:
        if not "0" <= ch <= "9":
            raise SenderError(
                f"sender {sender!r}: character {ch!r} is not allowed in a numeric sender "
                "(digits only after '+', no spaces)"
            )
    if not NUMERIC_MIN <= len(digits) <= NUMERIC_MAX:
        what = "too long" if len(digits) > NUMERIC_MAX else "too short"
        raise SenderError(
            f"numeric sender {sender!r} is {what}: {len(digits)} digits "
            f"(expected {NUMERIC_MIN} to {NUMERIC_MAX}{'' if plus else ', or a short code'})"
        )
    if digits[0] == "0":
        raise SenderError(
            f"numeric sender {sender!r} starts with 0: give it in international form, "
            "country code first (+447400123456)"
        )
    return Sender(digits, 1, 1, "numeric")


def _alphanumeric(sender: str, text: str) -> Sender:
    if len(text) > ALPHANUMERIC_MAX:
        raise SenderError(
            f"alphanumeric sender {sender!r} is too long: {len(text)} characters "
            f"(at most {ALPHANUMERIC_MAX})"
        )
    for i, ch in enumerate(text):
        if ch not in _ALPHANUMERIC_CHARS:
            why = (
                "it GSM-encodes to 0x00, which ends the address"
                if ch == "@"
                else "use letters, digits, spaces and GSM punctuation"
            )
            raise SenderError(
                f"alphanumeric sender {sender!r}: character {ch!r} (U+{ord(ch):04X}) "
                f"at position {i} is not allowed; {why}"
            )
    return Sender(text, 5, 0, "alphanumeric")
