"""Cursors of the lists paged by position rather than by page number (messages, inbound):
opaque to callers, a few positive integers inside."""

from __future__ import annotations

import base64
import binascii

from herald.errors import RequestError


def encode_cursor(*position: int) -> str:
    text = ".".join(str(n) for n in position)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> tuple[int, ...]:
    """The position a page ended at (`size` integers); invalid_cursor when the cursor is not
    one this API gave."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        position = tuple(int(n) for n in text.split("."))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        position = ()
    if len(position) != size or min(position) < 1 or max(position) >= 2**63:
        raise RequestError(
            "invalid_cursor",
            "cursor is not one this API gave: pass `next_cursor` of the previous page as is",
            {"cursor": cursor},
        )
    return position
