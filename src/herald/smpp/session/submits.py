"""The submit side of a bind: queue, window, throttle, resend order, response timeouts, and the
one `SubmitResult` each part resolves with.

- `submit` is not a coroutine: it encodes the part at once (a bad part raises
  LocalProtocolError in the caller), puts it in a FIFO queue and returns a future that
  resolves exactly once with a `SubmitResult`. Parts go out as the window (outstanding
  submit_sm) and the throttle's tokens allow; callers never fail for lack of room. While the
  bind is down or closing, the future resolves NOT_SENT at once so the dispatcher can fail over.
- A response timeout (per request, checked by the keepalive's periodic scan, not a timer per
  PDU: `expire`) makes a submit UNKNOWN. At a disconnect, submits in flight are UNKNOWN
  (`unanswered`) and queued ones NOT_SENT (`stop`).
- ESME_RTHROTTLED pauses the whole bind and lowers its rate (herald.smpp.throttle); the
  throttled part goes out again first, ahead of the queue (`_throttled`). ESME_RMSGQFUL pauses
  longer. A part throttled more than `max_throttle_retries` times resolves RETRY.
- Any other refusal (`_refused`) resolves REJECTED or RETRY by the status table; a status that
  asks for a rebind, or `nack_reconnect_after` generic_nacks in a row, closes the link (the
  session reconnects).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING, Any

from herald.metrics import BindStats
from herald.smpp.codec import SubmitSmTemplate
from herald.smpp.layouts import CommandId
from herald.smpp.message_ids import IdMode, canonical_submit_id
from herald.smpp.pdu import Pdu
from herald.smpp.session.pending import PendingSubmit, resolve
from herald.smpp.session_settings import SessionSettings, describe_status
from herald.smpp.status import StatusClass, StatusTable, status_name
from herald.smpp.submit import SubmitOutcome, SubmitResult
from herald.smpp.throttle import Throttle, ThrottlePolicy

if TYPE_CHECKING:
    from herald.smpp.session.link import Link

log = logging.getLogger(__name__)

_SUBMIT_SM_RESP = CommandId.SUBMIT_SM_RESP.value
_GENERIC_NACK = CommandId.GENERIC_NACK.value

ACCEPTED, REJECTED, RETRY = SubmitOutcome.ACCEPTED, SubmitOutcome.REJECTED, SubmitOutcome.RETRY
UNKNOWN, NOT_SENT = SubmitOutcome.UNKNOWN, SubmitOutcome.NOT_SENT
_NOT_SENT = SubmitResult(NOT_SENT)

# SubmitResult is a frozen dataclass: its __init__ sets each field through object.__setattr__,
# twice the cost of writing the slots directly (0.76 µs against 0.40 µs a result). That is 5%
# of a part's CPU (bench/smpp.py --in-process; under callgrind 74.3k instructions a part
# against 78.3k). Only the hot path, an accepted part, builds its result this way;
# RESULT_FIELDS must name the class's fields in order (tests/unit/test_smpp_session_parts.py).
RESULT_FIELDS = (
    "outcome",
    "command_status",
    "message_id",
    "canonical_id",
    "status_name",
    "sent_at",
)
_set_outcome, _set_status, _set_message_id, _set_canonical_id, _set_status_name, _set_sent_at = (
    getattr(SubmitResult, name).__set__ for name in RESULT_FIELDS
)
_new_result = object.__new__


def accepted_result(message_id: str, canonical_id: str, sent_at: float) -> SubmitResult:
    """SubmitResult(ACCEPTED, 0, message_id, canonical_id, "ESME_ROK", sent_at), faster."""
    result: SubmitResult = _new_result(SubmitResult)
    _set_outcome(result, ACCEPTED)
    _set_status(result, 0)
    _set_message_id(result, message_id)
    _set_canonical_id(result, canonical_id)
    _set_status_name(result, "ESME_ROK")
    _set_sent_at(result, sent_at)
    return result


# What a template is cached by: the fields campaigns repeat from part to part.
TemplateKey = tuple[str, int, int, int, int, int, str, int]
MAX_TEMPLATES = 256  # a bounded cache: campaigns reuse a few senders


class Submits:
    """Everything between `Session.submit` and the part's SubmitResult."""

    def __init__(
        self,
        settings: SessionSettings,
        *,
        stats: BindStats,
        statuses: StatusTable,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self.stats = stats
        self._statuses = statuses
        self._clock = clock
        self._sleep = sleep
        self._id_mode = IdMode(settings.id_mode)
        self._window = settings.window
        self._response_timeout = settings.response_timeout
        self.throttle = Throttle(ThrottlePolicy(rate=settings.rate, burst=settings.burst), clock())
        self._templates: dict[TemplateKey, SubmitSmTemplate] = {}
        self._queue: deque[PendingSubmit] = deque()
        self._resend: list[PendingSubmit] = []  # throttled parts, by order: they go out first
        self._order = itertools.count()
        self._recovering = False  # throttled lately: accepted submits raise the rate again
        self._nacks = 0  # consecutive generic_nacks on this link
        self._wake_task: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # the session's, once started
        self.link: Link | None = None  # the bound link parts are written to
        self.sending = False  # bound as tx/trx, not closing: submit() queues

    @property
    def queued(self) -> int:
        """submit_sm accepted by `submit` and not yet written."""
        return len(self._queue) + len(self._resend)

    # --- starting and stopping ----------------------------------------------------------------

    def start(self, link: Link) -> None:
        """Bound as a transmitter or transceiver on `link`: write what comes."""
        self.link = link
        self.sending = True
        self._nacks = 0
        self.pump()

    def stop(self) -> None:
        """The link is gone or the session closes: everything queued and not written resolves
        NOT_SENT (the dispatcher requeues it), and so does every later submit."""
        self.sending = False
        self.link = None
        if self._wake_task is not None:
            self._wake_task.cancel()
            self._wake_task = None
        pending = [*self._resend, *self._queue]
        self._resend.clear()
        self._queue.clear()
        for item in pending:
            resolve(item.future, _NOT_SENT)

    def withdraw(self) -> int:
        """Resolve every part queued and not yet written NOT_SENT, keep sending what comes:
        the dispatcher takes back what it claimed ahead when it stops (what is in the window
        stays and is answered). How many were withdrawn."""
        pending = [*self._resend, *self._queue]
        self._resend.clear()
        self._queue.clear()
        for item in pending:
            resolve(item.future, _NOT_SENT)
        return len(pending)

    # --- queueing and writing -----------------------------------------------------------------

    def submit(
        self,
        source_addr: str,
        source_ton: int,
        source_npi: int,
        destination_addr: str,
        dest_ton: int,
        dest_npi: int,
        esm_class: int,
        data_coding: int,
        short_message: bytes,
        tlvs: bytes,
        registered_delivery: int,
        validity_period: str,
        priority_flag: int,
    ) -> asyncio.Future[SubmitResult]:
        """Session.submit's work (positional: it is called once per part)."""
        loop = self.loop or asyncio.get_running_loop()
        future: asyncio.Future[SubmitResult] = loop.create_future()
        if not self.sending:
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
        self._queue.append(PendingSubmit(future, data, next(self._order)))
        link = self.link
        if link is not None and len(link.in_flight) < self._window:
            self.pump()
        return future

    def _template(self, key: TemplateKey) -> SubmitSmTemplate:
        if len(self._templates) >= MAX_TEMPLATES:
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

    def pump(self) -> None:
        """Write queued submits while the window has room and the throttle has tokens."""
        link = self.link
        if link is None or not self.sending or link.write_paused or link.closing:
            return  # a closing link takes nothing more: what is queued will be NOT_SENT
        in_flight = link.in_flight
        room = self._window - len(in_flight)
        queue, resend = self._queue, self._resend
        if room <= 0 or not (queue or resend):
            return
        throttle = self.throttle
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
            in_flight[seq] = item
            out.append(data)
            written += 1
            room -= 1
        if written and link.flush_handle is None:
            link.flush_soon()

    def _wake_later(self) -> None:
        if self._wake_task is None or self._wake_task.done():
            loop = self.loop or asyncio.get_running_loop()
            self._wake_task = loop.create_task(self._wake())

    async def _wake(self) -> None:
        """The sender's wait for throttle tokens (or the end of a pause), then pump."""
        throttle = self.throttle
        while self.sending and (self._queue or self._resend):
            delay = throttle.delay(self._clock())
            if delay <= 0.0:
                self._wake_task = None
                self.pump()
                return
            # at least a millisecond: at high rates tokens come back in useful numbers
            await self._sleep(max(delay, 0.001))
        self._wake_task = None

    # --- answers --------------------------------------------------------------------------------

    def answered(self, link: Link, pdu: Pdu, item: PendingSubmit) -> None:
        """A submit_sm_resp (or generic_nack) for one of our parts."""
        if pdu.command_status == 0 and pdu.command_id == _SUBMIT_SM_RESP:  # the hot path
            self._nacks = 0
            params: dict[str, Any] = pdu.params
            message_id: str = params.get("message_id", "")  # a C-Octet String
            stats = self.stats
            stats.submits["ok"] += 1
            stats.segments_sent += 1
            if self._recovering:  # additive increase back to the configured rate
                self._recover()
            future = item.future
            if not future.done():
                canonical = canonical_submit_id(message_id, self._id_mode)
                future.set_result(accepted_result(message_id, canonical, item.sent_at))
        else:
            self._refused(link, pdu, item)

    def unanswered(self, items: Collection[PendingSubmit]) -> None:
        """Written, and no answer will come: each resolves UNKNOWN (it may have gone out)."""
        for item in items:
            resolve(item.future, SubmitResult(UNKNOWN, 0, "", "", "", item.sent_at))

    def expire(self, link: Link, now: float) -> None:
        """Response timeouts: parts written `response_timeout` ago and unanswered are UNKNOWN."""
        oldest = now - self._response_timeout
        in_flight = link.in_flight
        late = [seq for seq, item in in_flight.items() if item.sent_at <= oldest]
        if not late:
            return
        for seq in late:
            item = in_flight.pop(seq)
            link.conn.forget(seq)  # an answer arriving later is a StrayResponse
            resolve(item.future, SubmitResult(UNKNOWN, 0, "", "", "", item.sent_at))
        log.warning(
            "bind %s: %d submit_sm unanswered after %.1fs: outcome unknown",
            self.name,
            len(late),
            self._response_timeout,
        )
        link.check_drained()
        self.pump()

    def _recover(self) -> None:
        throttle = self.throttle
        throttle.on_accepted(self._clock())
        self._recovering = throttle.rate < self.settings.rate

    def _refused(self, link: Link, pdu: Pdu, item: PendingSubmit) -> None:
        status = pdu.command_status
        nack = pdu.command_id == _GENERIC_NACK
        status_class = self._statuses.classify(status)
        self.stats.submits[status_class.value] += 1
        name = status_name(status)
        if status_class is StatusClass.THROTTLED or status_class is StatusClass.QUEUE_FULL:
            self._throttled(item, status, name, status_class is StatusClass.QUEUE_FULL)
            return
        if nack:
            self._nacks += 1
        else:
            self._nacks = 0
        # (a generic_nack saying ESME_ROK is not an acceptance either)
        temporary = status_class.temporary or status_class is StatusClass.OK
        outcome = RETRY if temporary else REJECTED
        resolve(item.future, SubmitResult(outcome, status, "", "", name, item.sent_at))
        if status_class is StatusClass.REBIND:
            log.warning(
                "bind %s: submit_sm answered %s: rebinding", self.name, describe_status(status)
            )
            link.close()
        elif nack and 0 < self.settings.nack_reconnect_after <= self._nacks:
            log.warning(
                "bind %s: %d generic_nacks in a row (last %s): the stream may be "
                "out of sync, reconnecting",
                self.name,
                self._nacks,
                describe_status(status),
            )
            link.close()

    def _throttled(self, item: PendingSubmit, status: int, name: str, queue_full: bool) -> None:
        """Pause the bind, lower its rate, and put the part first in line (in FIFO order)."""
        now = self._clock()
        pause = self.throttle.on_throttled(now, queue_full=queue_full)
        self._recovering = True
        self.stats.throttle_events += 1
        item.throttled += 1
        if item.throttled > self.settings.max_throttle_retries or not self.sending:
            resolve(item.future, SubmitResult(RETRY, status, "", "", name, item.sent_at))
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
            self.throttle.rate,
        )
        self._wake_later()
