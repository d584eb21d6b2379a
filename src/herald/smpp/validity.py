"""The validity_period of a submit_sm in SMPP 3.4's relative form (§7.1.1): how long the SMSC
keeps trying a message, counted from when it took it."""

from __future__ import annotations

from herald.errors import LocalProtocolError

MAX_RELATIVE_DAYS = 99  # two digits of days; the months and years fields stay 0


def relative_validity(minutes: int) -> str:
    """`minutes` as "YYMMDDhhmmsstnnR": 90 -> "000000013000000R"."""
    if minutes < 1:
        raise LocalProtocolError(f"validity of {minutes} minutes: at least 1")
    days, rest = divmod(minutes, 24 * 60)
    if days > MAX_RELATIVE_DAYS:
        raise LocalProtocolError(f"validity of {minutes} minutes: at most {MAX_RELATIVE_DAYS} days")
    hours, mins = divmod(rest, 60)
    return f"0000{days:02d}{hours:02d}{mins:02d}00000R"
