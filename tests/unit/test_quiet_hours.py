"""Quiet hours: defer to the window's end in the destination's local time, every zone agreeing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from herald.delivery.quiet_hours import next_allowed, parse_windows
from herald.errors import ConfigError

DEFAULT = parse_windows([("23:00", "08:00"), ("14:00", "17:00")])
ATHENS = ("Europe/Athens",)  # UTC+2 in winter


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (utc(2026, 11, 22, 10, 0), None),  # 12:00 in Athens: allowed
        (utc(2026, 11, 22, 3, 0), utc(2026, 11, 22, 6, 0)),  # 05:00 local -> 08:00 local
        (utc(2026, 11, 22, 12, 30), utc(2026, 11, 22, 15, 0)),  # 14:30 local -> 17:00 local
        (utc(2026, 11, 22, 21, 30), utc(2026, 11, 23, 6, 0)),  # 23:30 local wraps midnight
        (utc(2026, 11, 22, 6, 0), None),  # exactly 08:00 local: the window is [start, end)
        (utc(2026, 11, 22, 12, 0), utc(2026, 11, 22, 15, 0)),  # exactly 14:00 local: quiet
    ],
)
def test_single_zone(now: datetime, expected: datetime | None) -> None:
    assert next_allowed(now, ATHENS, DEFAULT) == expected


def test_every_candidate_zone_must_allow() -> None:
    # 08:30 in New York is allowed there, but 05:30 in Los Angeles is quiet until 08:00 LA.
    zones = ("America/New_York", "America/Los_Angeles")
    now = utc(2026, 11, 23, 13, 30)
    assert next_allowed(now, zones, DEFAULT) == utc(2026, 11, 23, 16, 0)
    assert next_allowed(now, ("America/New_York",), DEFAULT) is None


def test_zones_with_no_common_window_fall_back_to_most_zones_allowed() -> None:
    # Russian mobiles: Kaliningrad (UTC+2) to Kamchatka (UTC+12): no instant suits all.
    zones = (
        "Europe/Kaliningrad",
        "Europe/Moscow",
        "Asia/Yekaterinburg",
        "Asia/Novosibirsk",
        "Asia/Krasnoyarsk",
        "Asia/Irkutsk",
        "Asia/Yakutsk",
        "Asia/Vladivostok",
        "Asia/Magadan",
        "Asia/Kamchatka",
    )
    now = utc(2026, 11, 22, 21, 0)  # 23:00 in Kaliningrad: quiet there
    at = next_allowed(now, zones, DEFAULT)
    assert at is not None and at > now
    # The chosen instant is allowed in at least as many zones as any other window end.
    from zoneinfo import ZoneInfo

    allowed = sum(
        not (
            at.astimezone(ZoneInfo(z)).hour >= 23
            or at.astimezone(ZoneInfo(z)).hour < 8
            or 14 <= at.astimezone(ZoneInfo(z)).hour < 17
        )
        for z in zones
    )
    assert 0 < allowed < len(zones)


def test_daylight_saving_change_uses_local_wall_clock() -> None:
    # Athens leaves summer time on 2026-10-25 at 04:00 local (01:00 UTC).
    now = utc(2026, 10, 25, 1, 30)  # 03:30 local (UTC+2 after the change)
    assert next_allowed(now, ATHENS, DEFAULT) == utc(2026, 10, 25, 6, 0)
    summer = utc(2026, 7, 1, 2, 0)  # 05:00 local (UTC+3)
    assert next_allowed(summer, ATHENS, DEFAULT) == utc(2026, 7, 1, 5, 0)


def test_unknown_zones_and_no_windows_do_not_block() -> None:
    assert next_allowed(utc(2026, 11, 22, 3, 0), ("Etc/Unknown",), DEFAULT) is None
    assert next_allowed(utc(2026, 11, 22, 3, 0), ATHENS, ()) is None


@pytest.mark.parametrize(
    ("raw", "match"),
    [([("23:00",)], "expected"), ([("25:00", "08:00")], "HH:MM"), ([("08:00", "08:00")], "equals")],
)
def test_bad_windows_are_named(raw: list[tuple[str, ...]], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_windows(raw)
