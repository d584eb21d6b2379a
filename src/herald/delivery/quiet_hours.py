"""Quiet hours in the destination's local time.

A message may go out only when the local time is outside every quiet window in *every*
candidate time zone of its number (a number can map to several zones: all Russian and
Australian mobiles do). When the windows and zones leave no common allowed instant at all
(Russian mobiles span eleven UTC offsets, wider than any allowed stretch of the default
windows), the rule falls back to the earliest instant allowed in the most zones, so such
numbers are delayed sensibly instead of forever.

Everything here is pure: the caller passes `now`. Results are cached per (zones, windows,
minute), since a campaign has few distinct zone sets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from herald.errors import ConfigError

Window = tuple[time, time]  # [start, end) local time; start > end wraps past midnight

_HORIZON_DAYS = 3


def parse_windows(raw: Iterable[Sequence[str]]) -> tuple[Window, ...]:
    """Parse [("23:00", "08:00"), ...] into time pairs, naming the bad entry on error."""
    windows = []
    for item in raw:
        if len(item) != 2:
            raise ConfigError(f"quiet-hours window {list(item)!r}: expected [start, end]")
        try:
            start, end = (time.fromisoformat(part) for part in item)
        except (TypeError, ValueError):
            raise ConfigError(f"quiet-hours window {list(item)!r}: times must be HH:MM") from None
        if start == end:
            raise ConfigError(f"quiet-hours window {list(item)!r}: start equals end")
        windows.append((start, end))
    return tuple(windows)


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None  # "Etc/Unknown" and the like: no constraint from this candidate


def _quiet(local: time, windows: tuple[Window, ...]) -> bool:
    for start, end in windows:
        if start < end:
            if start <= local < end:
                return True
        elif local >= start or local < end:
            return True
    return False


def _allowed_count(at: datetime, zones: tuple[ZoneInfo, ...], windows: tuple[Window, ...]) -> int:
    return sum(not _quiet(at.astimezone(z).time(), windows) for z in zones)


def _window_ends(now: datetime, zone: ZoneInfo, windows: tuple[Window, ...]) -> list[datetime]:
    """UTC instants at which a quiet window ends in `zone`, from yesterday to the horizon."""
    today = now.astimezone(zone).date()
    ends = []
    for offset in range(-1, _HORIZON_DAYS):
        day = today + timedelta(days=offset)
        for _, end in windows:
            # fold=0 and a round trip through UTC resolve DST gaps and overlaps consistently.
            ends.append(datetime.combine(day, end, tzinfo=zone).astimezone(UTC))
    return ends


def next_allowed(
    now: datetime, zone_names: Sequence[str], windows: tuple[Window, ...]
) -> datetime | None:
    """None when sending is allowed at `now`; otherwise the UTC instant to defer to."""
    if not windows:
        return None
    minute = now.astimezone(UTC).replace(second=0, microsecond=0)
    result = _next_allowed(minute, tuple(sorted(set(zone_names))), windows)
    if result is None or result <= now:
        return None
    return result


@lru_cache(maxsize=16_384)
def _next_allowed(
    now: datetime, zone_names: tuple[str, ...], windows: tuple[Window, ...]
) -> datetime | None:
    zones = tuple(z for z in (_zone(n) for n in zone_names) if z is not None)
    if not zones:
        return None
    if _allowed_count(now, zones, windows) == len(zones):
        return None
    candidates = sorted({t for z in zones for t in _window_ends(now, z, windows) if t > now})
    best: tuple[int, datetime] | None = None
    for at in candidates:
        count = _allowed_count(at, zones, windows)
        if count == len(zones):
            return at
        if count and (best is None or count > best[0]):
            best = (count, at)
    return best[1] if best else None
