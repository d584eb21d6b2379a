"""One bind to one SMSC: the asyncio adapter around the sans-I/O `Connection` (the only socket
code in herald.smpp).

    session = Session(SessionSettings(name="acme", host="10.0.0.1", port=2775,
                                      system_id="herald", password="secret"),
                      on_deliver=keep_receipt, stats=metrics.bind("acme"))
    await session.start()                  # connect, bind, reconnect: in the background
    await session.wait_bound(10)           # BindError if the SMSC refuses the credentials
    result = await session.submit(source_addr="Brand", source_ton=5, source_npi=0,
                                  destination_addr="447700900123", short_message=b"hi")
    await session.close()                  # stop accepting, drain the window, unbind, close

What it does, and why (docs/protocol.md §4-5):

- `submit` is not a coroutine: it encodes the part at once (a bad part raises
  LocalProtocolError in the caller), puts it in a FIFO queue and returns a future that
  resolves exactly once with a `SubmitResult`. Parts go out as the window (outstanding
  submit_sm) and the throttle's tokens allow; callers never fail for lack of room. While the
  bind is down or closing, the future resolves NOT_SENT at once so the dispatcher can fail over.
- Writes made during one loop turn go out in one `transport.write` (call_soon; at the end of a
  read, at once), on a TCP_NODELAY socket: small deliver_sm_resp writes never wait for Nagle.
- A response timeout (per request, checked by one periodic scan, not a timer per PDU) makes a
  submit UNKNOWN. At a disconnect, submits in flight are UNKNOWN and queued ones NOT_SENT.
- ESME_RTHROTTLED pauses the whole bind and lowers its rate (herald.smpp.throttle); the
  throttled part goes out again first, ahead of the queue. ESME_RMSGQFUL pauses longer. A part
  throttled more than `max_throttle_retries` times resolves RETRY.
- deliver_sm / data_sm go to `on_deliver` without stopping the reader; the answer is sent
  when its awaitable completes, with the status it returns (0x64, temporary, if it raises), so
  a receipt herald did not keep is never acknowledged.
- enquire_link after `enquire_link_interval` without traffic from the SMSC; no answer within
  `response_timeout` means a dead link: close and reconnect, with exponential backoff and
  jitter between `reconnect_min` and `reconnect_max`. A bind refused as bind-fatal (bad
  password, system_id, system_type) stops reconnecting: state "refused".
- Malformed PDUs never crash the session: answered as the core says (generic_nack or their
  own *_resp) when the stream is still in sync, otherwise the link is closed and reopened.

Clock, sleep, network and randomness are injected, so tests drive timeouts, throttling and
backoff without real waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import socket
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from herald.errors import BindError, LocalProtocolError, RemoteProtocolError, SessionClosedError
from herald.metrics import BindStats
from herald.smpp.codec import SubmitSmTemplate, encode
from herald.smpp.connection import Connection, Response, Role, State, StrayResponse, Violation
from herald.smpp.layouts import RESPONSE_BIT, CommandId
from herald.smpp.message_ids import IdMode, canonical_submit_id
from herald.smpp.pdu import Pdu
from herald.smpp.session_settings import BIND_COMMANDS, SessionSettings, describe_status
from herald.smpp.status import CommandStatus, StatusClass, StatusTable, status_name
from herald.smpp.submit import SubmitOutcome, SubmitResult
from herald.smpp.throttle import Throttle, ThrottlePolicy
from herald.smpp.tls import connector as tls_connector

log = logging.getLogger(__name__)

__all__ = ["Connect", "OnDeliver", "Session", "SessionSettings", "describe_status"]

ProtocolFactory = Callable[[], asyncio.Protocol]
Connect = Callable[[ProtocolFactory, str, int], Awaitable[tuple[asyncio.BaseTransport, Any]]]
# Returns the command_status to answer (None: ESME_ROK) through an awaitable: a coroutine
# (run as a task) or a future (answered from its done-callback, no task per PDU).
OnDeliver = Callable[[Pdu], Awaitable[int | None]]

_SUBMIT_SM_RESP = CommandId.SUBMIT_SM_RESP.value
_GENERIC_NACK = CommandId.GENERIC_NACK.value
_DELIVER_SM = CommandId.DELIVER_SM.value
_DATA_SM = CommandId.DATA_SM.value
_ENQUIRE_LINK = CommandId.ENQUIRE_LINK.value
_UNBIND = CommandId.UNBIND.value
_ROK = CommandStatus.ESME_ROK.value
_RALYBND = CommandStatus.ESME_RALYBND.value
_RX_T_APPN = CommandStatus.ESME_RX_T_APPN.value
_CLOSED = State.CLOSED

ACCEPTED, REJECTED, RETRY = SubmitOutcome.ACCEPTED, SubmitOutcome.REJECTED, SubmitOutcome.RETRY
UNKNOWN, NOT_SENT = SubmitOutcome.UNKNOWN, SubmitOutcome.NOT_SENT
_NOT_SENT = SubmitResult(NOT_SENT)


# --- requests in flight ---------------------------------------------------------------------


class _Submit:
    """One queued or written submit_sm; its bytes carry sequence_number 0 until written."""

    __slots__ = ("data", "future", "order", "sent_at", "throttled")

    def __init__(self, future: asyncio.Future[SubmitResult], data: bytes, order: int) -> None:
        self.future = future
        self.data = data
        self.order = order  # FIFO position: throttled parts go back in this order
        self.sent_at = 0.0
        self.throttled = 0


class _Control:
    """bind, enquire_link or unbind: `future` gets the response Pdu, or None (no answer)."""

    __slots__ = ("deadline", "future")

    def __init__(self, future: asyncio.Future[Pdu | None] | None, deadline: float) -> None:
        self.future = future
        self.deadline = deadline


# SubmitResult is a frozen dataclass: its __init__ costs about twice these slot writes.
_new = object.__new__
_set = tuple(
    getattr(SubmitResult, f).__set__
    for f in ("outcome", "command_status", "message_id", "canonical_id", "status_name", "sent_at")
)


def _result(
    outcome: SubmitOutcome, status: int, message_id: str, canonical: str, name: str, sent: float
) -> SubmitResult:
    r = _new(SubmitResult)
    s0, s1, s2, s3, s4, s5 = _set
    s0(r, outcome)
    s1(r, status)
    s2(r, message_id)
    s3(r, canonical)
    s4(r, name)
    s5(r, sent)
    return r


# While a large read is being handled, the window's room is refilled and written every this
# many PDUs: the SMSC (on the other core) starts on them instead of waiting for the whole read.
_OVERLAP = 32
_pack_header = struct.Struct(">IIII").pack


def _answer(link: _Link, pdu: Pdu, status: int) -> None:
    """deliver_sm_resp / data_sm_resp: the header and an empty message_id. Packed here rather
    than through Pdu.reply and the generic encoder (0.2 µs instead of 3 µs a receipt); they
    change no Connection state, so only its being open matters."""
    if link.conn.state is not _CLOSED:
        link.write(
            _pack_header(17, pdu.command_id | RESPONSE_BIT, status, pdu.sequence_number) + b"\0"
        )


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():  # a caller may have cancelled it
        future.set_result(value)


# --- the protocol: one TCP connection ---------------------------------------------------------


class _Link(asyncio.Protocol):
    """One TCP connection and its Connection state machine; the Session does the thinking."""

    __slots__ = (
        "closing",
        "conn",
        "controls",
        "deliveries",
        "enquiring",
        "flush_handle",
        "keeping",
        "keeping_futures",
        "last_rx",
        "lost",
        "nacks",
        "out",
        "reading_paused",
        "session",
        "submits",
        "transport",
        "watcher",
        "write_paused",
    )

    def __init__(self, session: Session, max_command_length: int) -> None:
        self.session = session
        self.conn = Connection(Role.ESME, max_command_length=max_command_length)
        self.transport: asyncio.Transport | None = None
        self.submits: dict[int, _Submit] = {}  # seq -> written submit_sm, in write order
        self.controls: dict[int, _Control] = {}
        self.out: list[bytes] = []  # written this loop turn, flushed once by call_soon
        self.flush_handle: asyncio.Handle | None = None
        self.lost: asyncio.Future[None] = session._loop.create_future()
        self.closing = False
        self.write_paused = False
        self.reading_paused = False
        self.deliveries = 0  # on_deliver calls not yet answered
        self.keeping: set[asyncio.Task[None]] = set()  # their tasks (coroutine callbacks)
        self.keeping_futures: set[asyncio.Future[Any]] = set()  # or the futures they returned
        self.nacks = 0  # consecutive generic_nacks
        self.enquiring = False
        self.last_rx = session._clock()
        self.watcher: asyncio.Task[None] | None = None

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):  # asyncio sets it too; be sure
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.session._received(self, data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.session._lost(self, exc)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self.session._pump()

    # writing

    def write(self, data: bytes) -> None:
        self.out.append(data)
        if self.flush_handle is None:
            self.flush_handle = self.session._loop.call_soon(self.flush)

    def flush(self) -> None:
        self.flush_handle = None
        out = self.out
        if out:
            data = out[0] if len(out) == 1 else b"".join(out)
            out.clear()
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(data)

    def close(self) -> None:
        """Flush what was written, then close the TCP connection (connection_lost follows)."""
        if self.flush_handle is not None:
            self.flush_handle.cancel()
        self.flush()
        self.closing = True
        if self.transport is not None:
            self.transport.close()


# --- the session ------------------------------------------------------------------------------


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
        self._on_deliver = on_deliver
        self._on_state = on_state
        # time.monotonic is what asyncio's loop.time() returns (uvloop's is cached per turn)
        self._clock = clock or time.monotonic
        self._sleep = sleep or asyncio.sleep
        self._connect = connect
        self._rng = rng or random.Random()
        self.stats = stats if stats is not None else BindStats(settings.name)
        self._statuses = StatusTable.with_temporary(settings.temporary_statuses)
        self._id_mode = IdMode(settings.id_mode)
        self._window = settings.window
        self._response_timeout = settings.response_timeout
        self._throttle = Throttle(
            ThrottlePolicy(rate=settings.rate, burst=settings.burst), self._clock()
        )
        self._templates: dict[tuple[Any, ...], SubmitSmTemplate] = {}
        self._queue: deque[_Submit] = deque()
        self._resend: list[_Submit] = []  # throttled parts, by order: they go out first
        self._order = itertools.count()
        self._recovering = False  # throttled lately: accepted submits raise the rate again
        self._link: _Link | None = None
        self._sending = False  # bound as tx/trx, not closing: submit() queues
        self._closing = False
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # set in start
        self._run_task: asyncio.Task[None] | None = None
        self._wake_task: asyncio.Task[None] | None = None
        self._close_task: asyncio.Task[None] | None = None
        self._drained: asyncio.Future[None] | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self._refusal: BindError | None = None
        self.state = "closed"
        self.last_error = ""  # why the last connect or bind attempt failed, for people
        tick = min(settings.response_timeout, settings.enquire_link_interval) / 10
        self._tick = min(1.0, max(0.005, tick))
        self.stats.rate = lambda: self._throttle.rate
        self.stats.window_in_use = lambda: self.in_flight
        self.stats.state = lambda: self.state

    # --- what the dispatcher reads ------------------------------------------------------------

    @property
    def bound(self) -> bool:
        return self.state == "bound"

    @property
    def in_flight(self) -> int:
        """submit_sm written and not yet answered (the window in use)."""
        link = self._link
        return 0 if link is None else len(link.submits)

    @property
    def queued(self) -> int:
        """submit_sm accepted by `submit` and not yet written."""
        return len(self._queue) + len(self._resend)

    @property
    def rate(self) -> float:
        """The throttle's current rate, submit_sm per second."""
        return self._throttle.rate

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start connecting and binding in the background; returns at once."""
        if self._run_task is not None:
            return
        if self._closing:
            raise SessionClosedError(f"bind {self.name}: the session is closed")
        self._loop = asyncio.get_running_loop()
        if self._connect is None:  # plain TCP, or TLS when the settings ask for it
            self._connect = tls_connector(self._loop, self.settings)
        self._run_task = self._loop.create_task(self._run(), name=f"smpp-session-{self.name}")

    async def wait_bound(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 - the API
        """Return once bound. Raises BindError when the SMSC refused the bind for good,
        SessionClosedError once closed, TimeoutError after `timeout` seconds."""
        if self.state == "bound":
            return
        if self._refusal is not None:
            raise self._refusal
        if self._closing or self._run_task is None:
            raise SessionClosedError(f"bind {self.name}: the session is not running")
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    async def close(self, drain_timeout: float = 10.0) -> None:
        """Stop accepting (new and queued submits resolve NOT_SENT), let the window drain for
        up to `drain_timeout` seconds, unbind, close the connection. Idempotent."""
        if self._close_task is None:
            if self._loop is None:  # never started
                self._closing = True
                self._set_state("closed")
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
        SubmitResult. Raises LocalProtocolError at once if the part cannot be encoded."""
        loop = self._loop or asyncio.get_running_loop()
        future: asyncio.Future[SubmitResult] = loop.create_future()
        if not self._sending:
            future.set_result(_NOT_SENT)
            return future
        key = (
            source_addr,
            source_ton,
            source_npi,
            dest_ton,
            dest_npi,
            registered_delivery,
            validity_period,
            priority_flag,
        )
        template = self._templates.get(key)
        if template is None:
            template = self._template(key)
        data = template.encode(0, destination_addr, short_message, tlvs, esm_class, data_coding)
        self._queue.append(_Submit(future, data, next(self._order)))
        link = self._link
        if link is not None and len(link.submits) < self._window:
            self._pump()
        return future

    def _template(self, key: tuple[Any, ...]) -> SubmitSmTemplate:
        if len(self._templates) >= 256:  # a bounded cache: campaigns reuse a few senders
            self._templates.clear()
        source, ston, snpi, dton, dnpi, registered, validity, priority = key
        template = SubmitSmTemplate(
            service_type=self.settings.service_type,
            source_addr=source,
            source_addr_ton=ston,
            source_addr_npi=snpi,
            dest_addr_ton=dton,
            dest_addr_npi=dnpi,
            registered_delivery=registered,
            validity_period=validity,
            priority_flag=priority,
        )
        self._templates[key] = template
        return template

    def _pump(self) -> None:
        """Write queued submits while the window has room and the throttle has tokens."""
        link = self._link
        if link is None or not self._sending or link.write_paused or link.closing:
            return  # a closing link takes nothing more: what is queued will be NOT_SENT
        submits = link.submits
        room = self._window - len(submits)
        queue, resend = self._queue, self._resend
        if room <= 0 or not (queue or resend):
            return
        throttle = self._throttle
        now = self._clock()
        send = link.conn.send_encoded_submit_sm
        out = link.out
        written = 0
        while room > 0:
            if resend:
                item = resend[0]
            elif queue:
                item = queue[0]
            else:
                break
            if throttle.delay(now) > 0.0:
                self._wake_later()
                break
            if resend:
                del resend[0]
            else:
                queue.popleft()
            if item.future.done():  # cancelled by its caller while queued
                continue
            throttle.take(now)
            seq, data = send(item.data, item)
            item.sent_at = now
            submits[seq] = item
            out.append(data)
            written += 1
            room -= 1
        if written and link.flush_handle is None:
            link.flush_handle = self._loop.call_soon(link.flush)

    def _wake_later(self) -> None:
        if self._wake_task is None or self._wake_task.done():
            self._wake_task = self._loop.create_task(self._wake())

    async def _wake(self) -> None:
        """The sender's wait for throttle tokens (or the end of a pause), then pump."""
        throttle = self._throttle
        while self._sending and (self._queue or self._resend):
            delay = throttle.delay(self._clock())
            if delay <= 0.0:
                self._wake_task = None
                self._pump()
                return
            # at least a millisecond: at high rates tokens come back in useful numbers
            await self._sleep(max(delay, 0.001))
        self._wake_task = None

    # --- the reader ---------------------------------------------------------------------------

    def _received(self, link: _Link, data: bytes) -> None:
        if link.closing:
            return
        link.last_rx = self._clock()
        conn = link.conn
        conn.receive_data(data)
        next_event = conn.next_event
        handled = 0
        while True:
            handled += 1
            if handled == _OVERLAP:  # see _OVERLAP
                handled = 0
                self._refill(link)
            try:
                event = next_event()
            except RemoteProtocolError as error:  # fatal: the stream cannot be framed any more
                self._out_of_sync(link, error)
                return
            if event is None:
                break
            kind = type(event)
            if kind is Response:
                context = event.context  # type: ignore[union-attr]
                if type(context) is _Submit:
                    self._answered(link, event.pdu, context)  # type: ignore[union-attr]
                else:
                    self._control_answered(link, event)  # type: ignore[arg-type]
            elif kind is Pdu:
                self._request(link, event)  # type: ignore[arg-type]
            elif kind is StrayResponse:
                log.warning("bind %s: %s: %r", self.name, event.reason, event.pdu)  # type: ignore[union-attr]
            else:
                self._violation(link, event)  # type: ignore[arg-type]
            if link.closing:
                return
        self._refill(link)

    def _refill(self, link: _Link) -> None:
        """Write the next submits (and any answers) now, in one write."""
        if self._queue or self._resend:
            self._pump()
        if link.out:
            handle = link.flush_handle
            if handle is not None:
                handle.cancel()
            link.flush()

    def _answered(self, link: _Link, pdu: Pdu, item: _Submit) -> None:
        """A submit_sm_resp (or generic_nack) for one of our parts."""
        del link.submits[pdu.sequence_number]
        if pdu.command_status == 0 and pdu.command_id == _SUBMIT_SM_RESP:  # the hot path
            link.nacks = 0
            message_id = pdu.params.get("message_id", "")
            stats = self.stats
            stats.submits["ok"] += 1
            stats.segments_sent += 1
            if self._recovering:  # additive increase back to the configured rate
                self._recover()
            future = item.future
            if not future.done():
                canonical = canonical_submit_id(message_id, self._id_mode)  # type: ignore[arg-type]
                future.set_result(
                    _result(ACCEPTED, 0, message_id, canonical, "ESME_ROK", item.sent_at)  # type: ignore[arg-type]
                )
        else:
            self._refused(link, pdu, item)
        if self._drained is not None:
            self._check_drained(link)

    def _check_drained(self, link: _Link) -> None:
        """Closing: the window is empty and every delivery kept, so unbind may go."""
        if not link.submits and not link.deliveries and self._drained is not None:
            _resolve(self._drained, None)

    def _recover(self) -> None:
        throttle = self._throttle
        throttle.on_accepted(self._clock())
        self._recovering = throttle.rate < self.settings.rate

    def _refused(self, link: _Link, pdu: Pdu, item: _Submit) -> None:
        status = pdu.command_status
        nack = pdu.command_id == _GENERIC_NACK
        status_class = self._statuses.classify(status)
        self.stats.submits[status_class.value] += 1
        name = status_name(status)
        if status_class is StatusClass.THROTTLED or status_class is StatusClass.QUEUE_FULL:
            self._throttled(item, status, name, status_class is StatusClass.QUEUE_FULL)
            return
        if nack:
            link.nacks += 1
        else:
            link.nacks = 0
        # (a generic_nack saying ESME_ROK is not an acceptance either)
        temporary = status_class.temporary or status_class is StatusClass.OK
        outcome = RETRY if temporary else REJECTED
        _resolve(item.future, _result(outcome, status, "", "", name, item.sent_at))
        if status_class is StatusClass.REBIND:
            log.warning(
                "bind %s: submit_sm answered %s: rebinding", self.name, describe_status(status)
            )
            link.close()
        elif nack and 0 < self.settings.nack_reconnect_after <= link.nacks:
            log.warning(
                "bind %s: %d generic_nacks in a row (last %s): the stream may be "
                "out of sync, reconnecting",
                self.name,
                link.nacks,
                describe_status(status),
            )
            link.close()

    def _throttled(self, item: _Submit, status: int, name: str, queue_full: bool) -> None:
        """Pause the bind, lower its rate, and put the part first in line (in FIFO order)."""
        now = self._clock()
        pause = self._throttle.on_throttled(now, queue_full=queue_full)
        self._recovering = True
        self.stats.throttle_events += 1
        item.throttled += 1
        if item.throttled > self.settings.max_throttle_retries or not self._sending:
            _resolve(item.future, _result(RETRY, status, "", "", name, item.sent_at))
            return
        resend = self._resend
        i = len(resend)
        while i and resend[i - 1].order > item.order:
            i -= 1
        resend.insert(i, item)
        log.info(
            "bind %s: %s, pausing %.1fs at %.1f submit_sm/s",
            self.name,
            name,
            pause,
            self._throttle.rate,
        )
        self._wake_later()

    def _request(self, link: _Link, pdu: Pdu) -> None:
        command_id = pdu.command_id
        if command_id in (_DELIVER_SM, _DATA_SM):
            self._deliver(link, pdu)
        elif command_id == _ENQUIRE_LINK:
            link.write(link.conn.send(pdu.reply()))
        elif command_id == _UNBIND:
            log.warning("bind %s: the SMSC unbound; reconnecting", self.name)
            link.write(link.conn.send(pdu.reply()))
            link.close()
        else:  # outbind (we are connected already), alert_notification: nothing to answer
            log.info("bind %s: ignoring %r", self.name, pdu)

    def _deliver(self, link: _Link, pdu: Pdu) -> None:
        """Hand a deliver_sm/data_sm to on_deliver; answer when it is done, not before."""
        on_deliver = self._on_deliver
        if on_deliver is None:
            _answer(link, pdu, _ROK)
            return
        try:
            awaitable = on_deliver(pdu)
        except Exception:
            log.exception(
                "bind %s: on_deliver failed for %r; answering ESME_RX_T_APPN", self.name, pdu
            )
            _answer(link, pdu, _RX_T_APPN)
            return
        link.deliveries += 1
        if link.deliveries >= self.settings.max_pending_deliveries and not link.reading_paused:
            link.reading_paused = True
            if link.transport is not None:
                link.transport.pause_reading()
        if isinstance(awaitable, asyncio.Future):
            # A future (the tracker's "stored" future): answer from its callback, no task.
            link.keeping_futures.add(awaitable)
            awaitable.add_done_callback(partial(self._kept, link, pdu))
            return
        task = self._loop.create_task(self._keep(link, pdu, awaitable))
        link.keeping.add(task)  # a strong reference until it is done
        task.add_done_callback(link.keeping.discard)

    async def _keep(self, link: _Link, pdu: Pdu, awaitable: Awaitable[int | None]) -> None:
        """Await on_deliver's answer, then send it in the same loop turn."""
        try:
            status = await awaitable
        except asyncio.CancelledError:  # shutting down: no answer, the SMSC redelivers
            self._delivery_done(link)
            raise
        except Exception as error:
            self._answer_delivery(link, pdu, None, error)
        else:
            self._answer_delivery(link, pdu, status, None)

    def _kept(self, link: _Link, pdu: Pdu, future: asyncio.Future[int | None]) -> None:
        link.keeping_futures.discard(future)
        if future.cancelled():  # shutting down: no answer, the SMSC redelivers
            self._delivery_done(link)
            return
        error = future.exception()
        self._answer_delivery(link, pdu, None if error else future.result(), error)

    def _answer_delivery(
        self, link: _Link, pdu: Pdu, status: int | None, error: BaseException | None
    ) -> None:
        if error is not None:
            log.error(
                "bind %s: on_deliver failed for %r; answering ESME_RX_T_APPN: %r",
                self.name,
                pdu,
                error,
            )
            status = _RX_T_APPN
        elif status is None:
            status = _ROK
        elif type(status) is not int or not 0 <= status <= 0xFFFFFFFF:
            log.error(
                "bind %s: on_deliver returned %r, not a command_status; answering ESME_RX_T_APPN",
                self.name,
                status,
            )
            status = _RX_T_APPN
        if not link.closing:  # else the SMSC redelivers it: it never got an answer
            _answer(link, pdu, status)
        self._delivery_done(link)

    def _delivery_done(self, link: _Link) -> None:
        link.deliveries -= 1
        if link.reading_paused and link.deliveries <= self.settings.max_pending_deliveries // 2:
            link.reading_paused = False
            if link.transport is not None and not link.closing:
                link.transport.resume_reading()
        if self._drained is not None:
            self._check_drained(link)

    def _violation(self, link: _Link, violation: Violation) -> None:
        error = violation.error
        log.warning("bind %s: %s", self.name, error)
        if violation.reply is not None:
            link.write(link.conn.send(violation.reply))
        context = violation.context
        seq = error.sequence_number
        if context is None or seq is None:
            return
        if type(context) is _Submit:  # a malformed answer to our part: its outcome is unknown
            link.submits.pop(seq, None)
            _resolve(context.future, _result(UNKNOWN, 0, "", "", "", context.sent_at))
            if self._drained is not None:
                self._check_drained(link)
        else:
            link.controls.pop(seq, None)
            if context.future is not None:
                _resolve(context.future, None)
            else:
                link.enquiring = False

    def _out_of_sync(self, link: _Link, error: RemoteProtocolError) -> None:
        log.warning("bind %s: %s", self.name, error)
        if error.reply_command_id is not None and error.sequence_number is not None:
            nack = Pdu(
                error.reply_command_id,
                command_status=error.reply_status,
                sequence_number=error.sequence_number,
            )
            with contextlib.suppress(LocalProtocolError):
                link.write(encode(nack))  # the Connection is closed: encode it by hand
        link.close()

    # --- control requests: bind, enquire_link, unbind -----------------------------------------

    def _send_control(
        self, link: _Link, pdu: Pdu, timeout: float, *, answer: bool = True
    ) -> asyncio.Future[Pdu | None] | None:
        future = self._loop.create_future() if answer else None
        control = _Control(future, self._clock() + timeout)
        link.write(link.conn.send(pdu, control))
        link.controls[pdu.sequence_number] = control
        return future

    def _control_answered(self, link: _Link, response: Response) -> None:
        pdu = response.pdu
        control = link.controls.pop(pdu.sequence_number, None)
        if pdu.command_id == CommandId.ENQUIRE_LINK_RESP:
            link.enquiring = False
        if control is not None and control.future is not None:
            _resolve(control.future, pdu)

    async def _watch(self, link: _Link) -> None:
        """The link's one timer: response timeouts, enquire_link when idle, dead links."""
        interval = self.settings.enquire_link_interval
        while not link.closing:
            await self._sleep(self._tick)
            if link.closing:
                return
            now = self._clock()
            self._expire(link, now)
            if link.closing:
                return
            if (
                not link.enquiring
                and now - link.last_rx >= interval
                and link.conn.may_send(_ENQUIRE_LINK)
            ):
                link.enquiring = True
                self._send_control(
                    link, Pdu(CommandId.ENQUIRE_LINK), self._response_timeout, answer=False
                )

    def _expire(self, link: _Link, now: float) -> None:
        oldest = now - self._response_timeout
        late = [seq for seq, item in link.submits.items() if item.sent_at <= oldest]
        for seq in late:
            item = link.submits.pop(seq)
            link.conn.forget(seq)  # an answer arriving later is a StrayResponse
            _resolve(item.future, _result(UNKNOWN, 0, "", "", "", item.sent_at))
        if late:
            log.warning(
                "bind %s: %d submit_sm unanswered after %.1fs: outcome unknown",
                self.name,
                len(late),
                self._response_timeout,
            )
            if self._drained is not None:
                self._check_drained(link)
            self._pump()
        expired = [seq for seq, c in link.controls.items() if c.deadline <= now]
        for seq in expired:
            control = link.controls.pop(seq)
            link.conn.forget(seq)
            if control.future is not None:
                _resolve(control.future, None)
            else:  # enquire_link: the link is dead
                log.warning(
                    "bind %s: no enquire_link_resp within %.1fs: the link is dead, reconnecting",
                    self.name,
                    self._response_timeout,
                )
                link.close()
                return

    # --- connecting, binding, reconnecting ----------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        while not self._closing:
            self._set_state("connecting")
            link: _Link | None = None
            try:
                link = await self._open()
            except BindError as error:
                self.last_error = str(error)
                if self._statuses.classify(error.status) is StatusClass.BIND_FATAL:
                    self._refuse(error)
                    return
                log.warning("%s", error)
            except (OSError, TimeoutError, ConnectionError) as error:
                self.last_error = (
                    f"cannot connect to {self.settings.host}:{self.settings.port}: "
                    f"{error or type(error).__name__}"
                )
                log.warning("bind %s: %s", self.name, self.last_error)
            except Exception as error:  # a bug: log it, keep the bind alive
                self.last_error = f"unexpected error while connecting: {error!r}"
                log.exception("bind %s: unexpected error while connecting", self.name)
            else:
                attempt = 0
                await link.lost
                if self._closing:
                    return
            if self._closing:
                return
            self._set_state("connecting")
            await self._sleep(self._backoff(attempt))
            attempt += 1
            self.stats.reconnects += 1

    def _backoff(self, attempt: int) -> float:
        """Exponential with jitter, always within [reconnect_min, reconnect_max]: the first
        wait is reconnect_min, the k-th is drawn from [ceiling/2, ceiling], ceiling doubling."""
        lo, hi = self.settings.reconnect_min, self.settings.reconnect_max
        ceiling = min(hi, lo * 2.0 ** min(attempt, 60))
        return self._rng.uniform(max(lo, ceiling / 2), ceiling)

    async def _open(self) -> _Link:
        """Connect and bind; the bound link, or an exception (the link is then closed)."""
        s = self.settings
        link = _Link(self, s.max_command_length)
        try:
            await asyncio.wait_for(
                self._connect(lambda: link, s.host, s.port),  # type: ignore[misc]
                s.connect_timeout,
            )
        except TimeoutError:
            raise TimeoutError(f"no TCP connection within {s.connect_timeout}s") from None
        if link.transport is None:  # pragma: no cover - connect() always calls connection_made
            raise ConnectionError("the connect function did not start the protocol")
        self._link = link
        link.watcher = self._loop.create_task(self._watch(link))
        bind = Pdu(
            BIND_COMMANDS[s.bind_type],
            system_id=s.system_id,
            password=s.password,
            system_type=s.system_type,
            interface_version=0x34,
            addr_ton=s.addr_ton,
            addr_npi=s.addr_npi,
            address_range=s.address_range,
        )
        try:
            future = self._send_control(link, bind, s.bind_timeout)
            assert future is not None
            response = await future
        except BaseException:
            link.close()
            raise
        if response is None:
            link.close()
            if link.lost.done():
                raise ConnectionError("the connection closed before the bind was answered")
            raise TimeoutError(f"no bind response within {s.bind_timeout}s")
        status = response.command_status
        if response.command_id == _GENERIC_NACK or status not in (_ROK, _RALYBND):
            link.close()
            what = "generic_nack" if response.command_id == _GENERIC_NACK else response.name
            description = self._statuses.describe(status).description
            fatal = self._statuses.classify(status) is StatusClass.BIND_FATAL
            raise BindError(
                f"bind {self.name}: {s.host}:{s.port} refused {bind.name} as {s.system_id!r} "
                f"with {what} {describe_status(status)}: {description}"
                + ("; not reconnecting (fix the credentials)" if fatal else ""),
                status,
            )
        if link.closing:
            raise ConnectionError("the connection closed while binding")
        self._bound(link)
        return link

    def _bound(self, link: _Link) -> None:
        log.info(
            "bind %s: bound (%s) to %s:%d",
            self.name,
            self.settings.bind_type,
            self.settings.host,
            self.settings.port,
        )
        self._sending = self.settings.bind_type != "rx" and not self._closing
        self._set_state("bound")
        for waiter in self._waiters:
            _resolve(waiter, None)
        self._pump()

    def _refuse(self, error: BindError) -> None:
        log.error("%s", error)
        self._refusal = error
        self._set_state("refused")
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(error)

    def _lost(self, link: _Link, exc: Exception | None) -> None:
        """The TCP connection is gone: settle everything that depended on it."""
        link.closing = True
        if link.flush_handle is not None:
            link.flush_handle.cancel()
            link.flush_handle = None
        link.out.clear()
        link.conn.close()
        if link.watcher is not None:
            link.watcher.cancel()
        submits, link.submits = link.submits, {}
        for item in submits.values():
            _resolve(item.future, _result(UNKNOWN, 0, "", "", "", item.sent_at))
        controls, link.controls = link.controls, {}
        for control in controls.values():
            if control.future is not None:
                _resolve(control.future, None)
        if self._link is link:
            self._link = None
            self._sending = False
            self._not_sent()
            if self.state in ("bound", "unbinding") and not self._closing:
                self.last_error = f"connection lost: {exc or 'closed'}"
                log.warning(
                    "bind %s: connection lost (%s), %d in flight now unknown",
                    self.name,
                    exc or "closed",
                    len(submits),
                )
                self._set_state("connecting")
        if self._drained is not None:
            _resolve(self._drained, None)
        _resolve(link.lost, None)

    def _not_sent(self) -> None:
        """Everything queued and not written resolves NOT_SENT (the dispatcher requeues it)."""
        if self._wake_task is not None:
            self._wake_task.cancel()
            self._wake_task = None
        pending = [*self._resend, *self._queue]
        self._resend.clear()
        self._queue.clear()
        for item in pending:
            _resolve(item.future, _NOT_SENT)

    def _set_state(self, state: str) -> None:
        if state == self.state:
            return
        self.state = state
        if self._on_state is not None:
            try:
                self._on_state(state)
            except Exception:
                log.exception("bind %s: on_state callback failed", self.name)

    # --- closing ------------------------------------------------------------------------------

    async def _close(self, drain_timeout: float) -> None:
        self._closing = True
        self._sending = False
        self._not_sent()
        link = self._link
        if link is not None and self.state == "bound" and not link.closing:
            self._set_state("unbinding")
            if link.submits or link.deliveries:
                self._drained = self._loop.create_future()
                if not await self._wait(self._drained, drain_timeout):
                    log.warning(
                        "bind %s: after %.1fs, %d submit_sm still unanswered and %d "
                        "deliveries not yet kept; closing",
                        self.name,
                        drain_timeout,
                        len(link.submits),
                        link.deliveries,
                    )
            if not link.closing and link.conn.may_send(_UNBIND):
                future = self._send_control(link, Pdu(CommandId.UNBIND), self._response_timeout)
                assert future is not None
                await self._wait(future, self._response_timeout)
        if self._run_task is not None:
            self._run_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._run_task
        link = self._link
        if link is not None:
            link.close()
            if not await self._wait(link.lost, self._response_timeout):
                if link.transport is not None:
                    link.transport.abort()
                await link.lost
        self._not_sent()
        self._set_state("closed")
        error = SessionClosedError(f"bind {self.name}: the session was closed")
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(error)

    async def _wait(self, future: asyncio.Future[Any], seconds: float) -> bool:
        """Wait for `future` up to `seconds` of the injected clock; True if it is done."""
        if future.done():
            return True
        timer = self._loop.create_task(self._sleep(seconds))  # type: ignore[arg-type]
        try:
            await asyncio.wait((future, timer), return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
        return future.done()
