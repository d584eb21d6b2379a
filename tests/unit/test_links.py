"""Per-recipient links: codes, targets, the rules a campaign's link settings follow, the
number an opt-out page shows, and the country kept with each message."""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime, timedelta

import pytest

from herald.campaigns import reports
from herald.campaigns.links import (
    CODE_LENGTH,
    CODE_RE,
    CodePool,
    check_link_settings,
    link_target,
    links_base_url,
    new_codes,
)
from herald.campaigns.visits import mask_phone
from herald.config import Config
from herald.errors import RequestError
from herald.numbers import country_of
from herald.text.template import parse_template


def test_codes_are_fixed_length_url_safe_and_drawn_as_token_urlsafe_draws_them() -> None:
    codes = new_codes(10_000)
    assert len(set(codes)) == 10_000
    assert all(len(c) == CODE_LENGTH and CODE_RE.fullmatch(c) for c in codes)
    assert len(secrets.token_urlsafe(9)) == CODE_LENGTH  # the same shape, one at a time
    # One draw cut in 12-character slices is 9-byte draws encoded one by one.
    raw = base64.urlsafe_b64decode("".join(codes[:3]))
    assert [base64.urlsafe_b64encode(raw[i : i + 9]).decode() for i in (0, 9, 18)] == codes[:3]


def test_a_pool_hands_out_codes_in_the_order_drawn_and_draws_again() -> None:
    draws = iter([["a", "b"], ["c"]])
    pool = CodePool(lambda n: next(draws), chunk=2)
    assert [pool.next() for _ in range(3)] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("url", "params", "expected"),
    [
        ("https://shop.example/spring", {}, "https://shop.example/spring"),
        (
            "https://shop.example/spring",
            {"utm_source": "sms", "utm_campaign": "spring sale"},
            "https://shop.example/spring?utm_source=sms&utm_campaign=spring+sale",
        ),
        (
            "https://shop.example/p?id=7#top",
            {"utm_source": "sms&more"},
            "https://shop.example/p?id=7&utm_source=sms%26more#top",
        ),
    ],
)
def test_a_target_keeps_the_urls_query_and_fragment(
    url: str, params: dict[str, str], expected: str
) -> None:
    assert link_target(url, params) == expected


def _refused(source: str, url: str | None, opt_out: bool) -> RequestError:
    with pytest.raises(RequestError) as caught:
        check_link_settings(parse_template(source), track_link_url=url, opt_out_link=opt_out)
    return caught.value


def test_link_settings_must_match_the_placeholders() -> None:
    err = _refused("Sale: %Link%", None, False)
    assert err.code == "link_not_configured" and "track_link_url" in str(err)
    assert "[~Link]" in str(err)  # how to write a label of that name
    err = _refused("Stop: %OptOutLink%", "https://x.example", False)
    assert err.code == "link_not_configured"
    assert isinstance(err.details, dict) and err.details["setting"] == "opt_out_link"
    err = _refused("Sale: %Link%", "https://x.example", True)
    assert err.code == "opt_out_link_unplaced"
    for source, url, opt_out in [
        ("Sale: %Link% stop: %OptOutLink%", "https://x.example", True),
        ("No link, a URL for a later run", "https://x.example", False),
        ("Plain", None, False),
    ]:
        check_link_settings(parse_template(source), track_link_url=url, opt_out_link=opt_out)


def test_the_base_url_is_configured_or_the_apis_address() -> None:
    assert links_base_url(Config()) == "http://127.0.0.1:8080"
    assert links_base_url(Config(), "http://127.0.0.1:43211") == "http://127.0.0.1:43211"
    configured = Config.model_validate({"links": {"base_url": "https://s.example.com/"}})
    assert links_base_url(configured, "http://127.0.0.1:1") == "https://s.example.com"


@pytest.mark.parametrize(
    ("phone", "masked"),
    [("+306948530920", "+3069•••••920"), ("+4474001234", "+4474•••234"), ("+1234", "+1•••")],
)
def test_an_opt_out_page_shows_enough_of_the_number_for_its_owner(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked


@pytest.mark.parametrize(
    ("phone", "country"),
    [
        ("+306948530920", "GR"),
        ("+12015550123", "US"),
        ("+12687711234", "AG"),  # NANP: the area code decides
        ("+447781123456", "GG"),  # +44 shared with the Crown dependencies
        ("+447400123456", "GB"),
        ("+77011234567", "KZ"),
        ("+79161234567", "RU"),
        ("+80012345678", None),  # a global service: no country
    ],
)
def test_the_country_of_a_number(phone: str, country: str | None) -> None:
    assert country_of(phone) == country
    assert country_of(phone) == country  # and again, from what was kept


def test_a_long_timeline_is_merged_into_wider_buckets() -> None:
    start = datetime(2030, 5, 1, tzinfo=UTC)
    series = {
        start + timedelta(minutes=i): {"sent": 1, "delivered": 0, "failed": 0, "clicked": i % 2}
        for i in range(3 * reports.MAX_POINTS)
    }
    interval, merged = reports._coarsen(60, series)
    assert interval == 240 and len(merged) <= reports.MAX_POINTS
    assert sum(p["sent"] for p in merged.values()) == 3 * reports.MAX_POINTS
    assert all(at.timestamp() % 240 == 0 for at in merged)
    assert merged[start] == {"sent": 4, "delivered": 0, "failed": 0, "clicked": 2}
