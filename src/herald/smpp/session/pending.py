"""The requests a bind has written, or queued to write, and is waiting to hear about.

A `PendingSubmit` is one submit_sm from the moment `Session.submit` accepts it until its
future resolves; a `PendingControl` is one bind, enquire_link or unbind on the wire. The link
keeps the written ones by sequence_number and gives each back, as the `context` the sans-I/O
Connection returns with its response, to the part that decides what the answer means.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

from herald.smpp.pdu import Pdu
from herald.smpp.submit import SubmitResult

T = TypeVar("T")


class PendingSubmit:
    """One queued or written submit_sm; its bytes carry sequence_number 0 until written."""

    __slots__ = ("data", "future", "order", "sent_at", "throttled")

    def __init__(self, future: asyncio.Future[SubmitResult], data: bytes, order: int) -> None:
        self.future = future
        self.data = data
        self.order = order  # FIFO position: throttled parts go back in this order
        self.sent_at = 0.0  # the session clock when written
        self.throttled = 0  # times the SMSC answered it ESME_RTHROTTLED or ESME_RMSGQFUL


class PendingControl:
    """bind, enquire_link or unbind: `future` gets the response Pdu, or None (no answer).
    An enquire_link has no future: its missing answer means a dead link."""

    __slots__ = ("deadline", "future")

    def __init__(self, future: asyncio.Future[Pdu | None] | None, deadline: float) -> None:
        self.future = future
        self.deadline = deadline


def resolve(future: asyncio.Future[T], value: T) -> None:
    """Set a result unless the future is done already (a caller may have cancelled it)."""
    if not future.done():
        future.set_result(value)
