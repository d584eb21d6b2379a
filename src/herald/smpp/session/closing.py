"""Draining and closing a bound link, each step bounded by the injected clock.

`Session.close` stops accepting first (queued and new submits resolve NOT_SENT), then here:
`drain` lets the window empty and the deliveries being kept be answered, for up to
`drain_timeout` seconds; `unbind` sends unbind and waits up to `response_timeout` for its
answer; `hang_up` closes the TCP connection and, if it has not gone within
`response_timeout`, aborts it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from herald.smpp.layouts import CommandId
from herald.smpp.pdu import Pdu
from herald.smpp.session.link import Link

log = logging.getLogger(__name__)

_UNBIND = CommandId.UNBIND.value


class Closer:
    def __init__(self, name: str, sleep: Callable[[float], Awaitable[None]], timeout: float):
        self.name = name
        self._sleep = sleep
        self._timeout = timeout  # response_timeout: for unbind_resp, and for TCP to close

    async def drain(self, link: Link, seconds: float) -> None:
        """Wait until nothing written awaits an answer and every delivery is answered."""
        if link.idle:
            return
        if not await self.wait(link.until_drained(), seconds):
            log.warning(
                "bind %s: after %.1fs, %d submit_sm still unanswered and %d "
                "deliveries not yet kept; closing",
                self.name,
                seconds,
                len(link.in_flight),
                link.pending_deliveries,
            )

    async def unbind(self, link: Link) -> None:
        if not link.closing and link.conn.may_send(_UNBIND):
            await self.wait(link.request(Pdu(CommandId.UNBIND), self._timeout), self._timeout)

    async def hang_up(self, link: Link) -> None:
        link.close()
        if not await self.wait(link.lost, self._timeout):
            link.abort()
            await link.lost

    async def wait(self, future: asyncio.Future[Any], seconds: float) -> bool:
        """Wait for `future` up to `seconds` of the injected clock; True if it is done."""
        if future.done():
            return True
        timer = asyncio.ensure_future(self._sleep(seconds))
        try:
            await asyncio.wait((future, timer), return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
        return future.done()
