"""The link's one timer: response timeouts, enquire_link when idle, dead links.

- One periodic scan per link (every `tick`, a tenth of the shorter of response_timeout and
  enquire_link_interval, within 5 ms to 1 s), not a timer per PDU: submits unanswered after
  `response_timeout` are handed to the submit side (`ResponseTimeouts.expire`), control
  requests unanswered by their deadline resolve None.
- enquire_link after `enquire_link_interval` without traffic from the SMSC; no answer within
  `response_timeout` means a dead link: it is closed, and the session reconnects.
- None of it counts while reading is paused for back-pressure (too many receipts being stored,
  herald.smpp.session.deliveries), nor for `response_timeout` after it resumes: the SMSC's
  answers are then waiting in our socket, unread through no fault of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from herald.smpp.layouts import CommandId
from herald.smpp.session.pending import resolve
from herald.smpp.session_settings import SessionSettings

if TYPE_CHECKING:
    from herald.smpp.session.link import Link

log = logging.getLogger(__name__)

_ENQUIRE_LINK = CommandId.ENQUIRE_LINK.value


class ResponseTimeouts(Protocol):
    """The submit side's half of the scan (herald.smpp.session.submits.Submits.expire)."""

    def expire(self, link: Link, now: float) -> None: ...


def tick(settings: SessionSettings) -> float:
    """Seconds between two scans of a link."""
    interval = min(settings.response_timeout, settings.enquire_link_interval) / 10
    return min(1.0, max(0.005, interval))


class Keepalive:
    """Starts the timer of each link (`watch`); it ends with the link."""

    def __init__(
        self,
        settings: SessionSettings,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        submits: ResponseTimeouts,
    ) -> None:
        self.name = settings.name
        self._interval = settings.enquire_link_interval
        self._response_timeout = settings.response_timeout
        self._clock = clock
        self._sleep = sleep
        self._submits = submits
        self.tick = tick(settings)

    def watch(self, link: Link) -> None:
        """Start `link`'s timer (the link cancels it when it is lost)."""
        link.watcher = link.loop.create_task(self._watch(link))

    async def _watch(self, link: Link) -> None:
        while not link.closing:
            await self._sleep(self.tick)
            if link.closing:
                return
            now = self._clock()
            if link.reads_held(now, self._response_timeout):
                continue
            self._submits.expire(link, now)
            self._expire_controls(link, now)
            if link.closing:
                return
            if (
                not link.enquiring
                and now - link.last_rx >= self._interval
                and link.conn.may_send(_ENQUIRE_LINK)
            ):
                link.enquire_link(self._response_timeout)

    def _expire_controls(self, link: Link, now: float) -> None:
        controls = link.controls
        expired = [seq for seq, control in controls.items() if control.deadline <= now]
        for seq in expired:
            control = controls.pop(seq)
            link.conn.forget(seq)
            if control.future is not None:
                resolve(control.future, None)
            else:  # enquire_link: the link is dead
                log.warning(
                    "bind %s: no enquire_link_resp within %.1fs: the link is dead, reconnecting",
                    self.name,
                    self._response_timeout,
                )
                link.close()
                return
