"""How the console writes times, numbers and statuses (Jinja filters; pure)."""

from __future__ import annotations

from datetime import UTC, datetime

STATUS_WORDS = {
    "scheduled": "Scheduled",
    "running": "Running",
    "suspended": "Suspended",
    "stopped": "Stopped",
    "completed": "Completed",
}


def _as_datetime(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def when(value: object, empty: str = "—") -> str:
    """A time in UTC to the second, as the API answers it: 2030-05-01 09:00:05 UTC."""
    at = _as_datetime(value)
    if at is None:
        return empty
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(value: object) -> str:
    at = _as_datetime(value)
    return "" if at is None else at.astimezone(UTC).isoformat()


def number(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, int | float):
        return f"{value:,}"
    return str(value)


def percent(value: object) -> str:
    """0.9731 -> 97.3%; None (nothing to rate yet) -> —."""
    if not isinstance(value, int | float):
        return "—"
    return f"{value * 100:.1f}%"


def ago(value: object, now: datetime | None = None) -> str:
    at = _as_datetime(value)
    if at is None:
        return "—"
    seconds = int(((now or datetime.now(UTC)) - at).total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def seconds(value: object) -> str:
    """A duration: 0.412 -> 0.41 s, 75.0 -> 1 min 15 s; None -> —."""
    if not isinstance(value, int | float):
        return "—"
    if value < 60:
        return f"{value:.2f} s" if value < 10 else f"{value:.0f} s"
    minutes, rest = divmod(round(value), 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"
