"""`Session`, the public face of one bind: it builds the parts (see the package docstring),
wires them together, and runs the lifecycle: start, wait_bound, close.

Losing the link (`_link_lost`) is settled in one place: the link has already resolved what
was written on it; here queued submits resolve NOT_SENT and the state goes back to
"connecting" (the connector reconnects).

Retiring a link (`retire`: the SMSC unbound, or answered a submit as if we were not bound)
stops the submits at once (queued ones NOT_SENT), shows the bind "unbinding" so nothing more is
routed to it, and closes the link once the submits written on it are answered (at most
`response_timeout`): an SMSC answers those it got after its unbind with a refusal, and a
refusal is a result, not an unknown.

Rotation (docs/operations.md, faults and guarantees): a bind whose submits go unanswered
`max_timeouts` times in a row (`silent`, a black hole) is out of rotation: its link is retired,
and the next one, once bound, is "probing" (not "bound": the router and the dispatcher leave it
alone) until an enquire_link is answered; it is then "bound" on trial, one submit at a time, and
back in rotation when that submit is answered (`trial_passed`). Until then each reconnect waits
longer (the connector's backoff is not reset).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from herald.errors import SessionClosedError
from herald.metrics import BindStats
from herald.smpp.layouts import CommandId
from herald.smpp.pdu import Pdu
from herald.smpp.session.closing import Closer
from herald.smpp.session.connector import Connect, Connector
from herald.smpp.session.deliveries import Deliveries, OnDeliver
from herald.smpp.session.keepalive import Keepalive
from herald.smpp.session.link import Link
from herald.smpp.session.state import BindState
from herald.smpp.session.submits import Submits
from herald.smpp.session_settings import SessionSettings
from herald.smpp.status import StatusTable
from herald.smpp.submit import SubmitResult

log = logging.getLogger(__name__)


class Session:
    """One bind: connect, bind, submit, receive, keep alive, reconnect, close."""

    def __init__(
        self,
        settings: SessionSettings,
        *,
        on_deliver: OnDeliver | None = None,
        on_state: Callable[[str], None] | None = None,
        stats: BindStats | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        connect: Connect | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.name = settings.name
        # time.monotonic is what asyncio's loop.time() returns (uvloop's is cached per turn)
        self._clock = clock or time.monotonic
        sleep = sleep or asyncio.sleep
        self.stats = stats if stats is not None else BindStats(settings.name)
        statuses = StatusTable.with_temporary(settings.temporary_statuses)
        self._state = BindState(settings.name, on_state)
        self._submits = Submits(
            settings,
            stats=self.stats,
            statuses=statuses,
            clock=self._clock,
            sleep=sleep,
            owner=self,
        )
        self._deliveries = Deliveries(settings.name, on_deliver, settings.max_pending_deliveries)
        self._keepalive = Keepalive(settings, clock=self._clock, sleep=sleep, submits=self._submits)
        self._connector = Connector(
            settings,
            state=self._state,
            statuses=statuses,
            stats=self.stats,
            sleep=sleep,
            rng=rng or random.Random(),
            connect=connect,
            new_link=self._new_link,
            on_opened=self._link_opened,
            on_bound=self._link_bound,
            in_rotation=lambda: self._in_rotation,
        )
        self._closer = Closer(settings.name, sleep, settings.response_timeout)
        self._loop: asyncio.AbstractEventLoop | None = None  # set in start
        self._link: Link | None = None  # connected (binding or bound), until lost
        self._close_task: asyncio.Task[None] | None = None
        # what a retired link or a probe is doing (retire, _probe): one at a time
        self._aside: asyncio.Task[None] | None = None
        self._in_rotation = True  # False from `silent` until `trial_passed`
        self.stats.rate = lambda: self._submits.throttle.rate
        self.stats.window_in_use = lambda: self.in_flight
        self.stats.state = lambda: self._state.state
        self.stats.in_rotation = lambda: self._in_rotation

    # --- what the dispatcher reads ------------------------------------------------------------

    @property
    def state(self) -> str:
        """closed, connecting, probing, bound, unbinding or refused
        (herald.smpp.session.state)."""
        return self._state.state

    @property
    def routable(self) -> bool:
        """Whether the router may give it a message now: bound and in rotation, or bound on
        trial with nothing queued or in flight (a trial takes one message at a time)."""
        if self._state.state != "bound":
            return False
        return self._in_rotation or not (self.in_flight or self._submits.queued)

    @property
    def in_rotation(self) -> bool:
        """False once submits went unanswered `max_timeouts` times in a row, until a probe and
        a trial submit on a new link were answered."""
        return self._in_rotation

    @property
    def last_error(self) -> str:
        """Why the last connect or bind attempt failed, for people."""
        return self._state.last_error

    @property
    def bound(self) -> bool:
        return self._state.state == "bound"

    @property
    def in_flight(self) -> int:
        """submit_sm written and not yet answered (the window in use)."""
        link = self._link
        return 0 if link is None else len(link.in_flight)

    @property
    def queued(self) -> int:
        """submit_sm accepted by `submit` and not yet written."""
        return self._submits.queued

    @property
    def rate(self) -> float:
        """The throttle's current rate, submit_sm per second."""
        return self._submits.throttle.rate

    def limit(self, rate: float, burst: int) -> None:
        """Hold the bind to `rate` submit_sm per second and `burst` (never above its settings;
        0 holds every submit): its share of a carrier account shared with other herald
        processes (herald.delivery.nodes)."""
        self._submits.limit(rate, burst)

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start connecting and binding in the background; returns at once."""
        if self._connector.started:
            return
        if self._state.closing:
            raise SessionClosedError(f"bind {self.name}: the session is closed")
        self._loop = self._submits.loop = asyncio.get_running_loop()
        self._connector.start(self._loop)

    async def wait_bound(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 - the API
        """Return once bound. Raises BindError when the SMSC refused the bind for good,
        SessionClosedError once closed, TimeoutError after `timeout` seconds."""
        state = self._state
        if state.state == "bound":
            return
        if state.refusal is not None:
            raise state.refusal
        if state.closing or self._loop is None or not self._connector.started:
            raise SessionClosedError(f"bind {self.name}: the session is not running")
        await state.wait_bound(self._loop, timeout)

    async def close(self, drain_timeout: float = 10.0) -> None:
        """Stop accepting (new and queued submits resolve NOT_SENT), let the window drain for
        up to `drain_timeout` seconds, unbind, close the connection. Idempotent."""
        if self._close_task is None:
            if self._loop is None:  # never started
                self._state.closing = True
                self._state.set("closed")
                return
            self._close_task = self._loop.create_task(self._close(drain_timeout))
        await asyncio.shield(self._close_task)

    async def __aenter__(self) -> Session:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- submitting ---------------------------------------------------------------------------

    def submit(
        self,
        *,
        source_addr: str,
        source_ton: int,
        source_npi: int,
        destination_addr: str,
        dest_ton: int = 1,
        dest_npi: int = 1,
        esm_class: int = 0,
        data_coding: int = 0,
        short_message: bytes = b"",
        tlvs: bytes = b"",
        registered_delivery: int = 1,
        validity_period: str = "",
        priority_flag: int = 0,
    ) -> asyncio.Future[SubmitResult]:
        """Queue one submit_sm (one part). Returns a future resolving once with its
        SubmitResult. Raises LocalProtocolError at once if the part cannot be encoded.
        (herald.smpp.session.submits says how parts go out and what each result means.)"""
        return self._submits.submit(
            source_addr,
            source_ton,
            source_npi,
            destination_addr,
            dest_ton,
            dest_npi,
            esm_class,
            data_coding,
            short_message,
            tlvs,
            registered_delivery,
            validity_period,
            priority_flag,
        )

    def withdraw(self) -> int:
        """Resolve every submit queued and not yet written NOT_SENT (what is in the window
        stays); how many. The dispatcher's stop takes back the parts it claimed ahead."""
        return self._submits.withdraw()

    # --- the parts' callbacks -----------------------------------------------------------------

    def _new_link(self) -> Link:
        assert self._loop is not None  # the connector runs once started
        return Link(
            name=self.name,
            loop=self._loop,
            clock=self._clock,
            max_command_length=self.settings.max_command_length,
            submits=self._submits,
            deliveries=self._deliveries,
            on_lost=self._link_lost,
            on_unbound=lambda link: self.retire(link, "the SMSC unbound"),
        )

    def _link_opened(self, link: Link) -> None:
        """Connected, about to bind: it is the session's link, and its timer runs."""
        self._link = link
        self._keepalive.watch(link)

    def _link_bound(self, link: Link) -> None:
        if self.settings.bind_type == "rx" or self._state.closing:
            self._state.bound()
        elif self._in_rotation:
            self._submits.start(link)
            self._state.bound()
        else:
            self._state.set("probing")
            self._set_aside(self._probe(link))

    async def _probe(self, link: Link) -> None:
        """Out of rotation, newly bound: an enquire_link first; answered, the bind takes one
        submit at a time until one is answered; not answered, the link is closed."""
        answer = await link.request(Pdu(CommandId.ENQUIRE_LINK), self.settings.response_timeout)
        if link is not self._link or link.closing or self._state.closing:
            return
        if answer is None:
            log.warning(
                "bind %s: no answer to the probe's enquire_link within %.1fs; reconnecting",
                self.name,
                self.settings.response_timeout,
            )
            link.close()
            return
        log.info("bind %s: the probe was answered: one submit at a time until one is", self.name)
        self._submits.start(link, trial=True)
        self._state.bound()

    # --- what the submit side and the link say (submits.BindOwner, link.OnUnbound) ------------

    def retire(self, link: Link, why: str) -> None:
        """Write nothing more on `link`; close it once the submits written on it are answered
        (or after `response_timeout`); the connector then binds again."""
        if link is not self._link or link.closing or self._state.state == "unbinding":
            return
        log.warning("bind %s: %s: %d in flight; closing the link", self.name, why, self.in_flight)
        self._submits.stop()  # queued: NOT_SENT, in order; the dispatcher requeues them
        if not self._state.closing:
            self._state.set("unbinding")
        self._set_aside(self._retire(link))

    async def _retire(self, link: Link) -> None:
        timeout = self.settings.response_timeout
        await self._closer.drain(link, timeout)
        await self._closer.unbind(link)
        await self._closer.hang_up(link)

    def silent(self, link: Link, why: str) -> None:
        """A black hole: out of rotation until a probe and a trial submit are answered."""
        if self._in_rotation:
            self._in_rotation = False
            self.stats.out_of_rotation += 1
            log.warning(
                "bind %s: %s: out of rotation until a new link answers a probe", self.name, why
            )
        self.retire(link, why)

    def trial_passed(self) -> None:
        if not self._in_rotation:
            self._in_rotation = True
            log.warning("bind %s: a submit was answered: back in rotation", self.name)

    def _set_aside(self, work: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None  # links exist once started
        aside = self._aside
        if aside is not None and not aside.done():
            aside.cancel()
        self._aside = self._loop.create_task(work)

    def _link_lost(self, link: Link, exc: Exception | None, in_flight: int) -> None:
        """The TCP connection is gone, and what was written on it settled."""
        if self._link is not link:
            return
        self._link = None
        self._submits.stop()
        state = self._state
        if state.state in ("bound", "probing", "unbinding") and not state.closing:
            state.last_error = f"connection lost: {exc or 'closed'}"
            log.warning(
                "bind %s: connection lost (%s), %d in flight now unknown",
                self.name,
                exc or "closed",
                in_flight,
            )
            state.set("connecting")

    # --- closing ------------------------------------------------------------------------------

    async def _close(self, drain_timeout: float) -> None:
        state = self._state
        state.closing = True
        self._submits.stop()
        if self._aside is not None:
            self._aside.cancel()
        link = self._link
        if link is not None and state.state == "bound" and not link.closing:
            state.set("unbinding")
            await self._closer.drain(link, drain_timeout)
            await self._closer.unbind(link)
        await self._connector.stop()
        link = self._link
        if link is not None:
            await self._closer.hang_up(link)
        self._submits.stop()
        state.closed()
