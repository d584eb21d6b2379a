"""The submit side of a bind: queue, window, throttle, resend order, response timeouts, and the
one `SubmitResult` each part resolves with.

- `submit` is not a coroutine: it encodes the part at once (a bad part raises
  LocalProtocolError in the caller), puts it in a FIFO queue and returns a future that
  resolves exactly once with a `SubmitResult`. Parts go out as the window (outstanding
  submit_sm) and the throttle's tokens allow; callers never fail for lack of room. While the
  bind is down or closing, the future resolves NOT_SENT at once so the dispatcher can fail over.
- A response timeout (per request, checked by the keepalive's periodic scan, not a timer per
  PDU: `expire`) makes a submit UNKNOWN. At a disconnect, submits written and unanswered are
  UNKNOWN (`unanswered`); those numbered but never handed to the transport (`unwritten`) and
  the queued ones are NOT_SENT (`stop`), in their order.
- `max_timeouts` response timeouts in a row, with nothing answered between, mean a black hole:
  the owner takes the bind out of rotation (`BindOwner.silent`). Back on a new link it takes
  one submit at a time (`start(trial=True)`) until one is answered (`BindOwner.trial_passed`).
  Fewer timeouts with parts still in flight hold the window (`held`: nothing more is written
  until an answer comes or the window empties), so a black hole costs its window and no more
  however the scans split it (docs/operations.md, faults and guarantees).
- ESME_RTHROTTLED and ESME_RMSGQFUL pause the whole bind briefly and settle its rate under the
  carrier's (herald.smpp.throttle); the refused parts go out again first, ahead of the queue,
  in their order (`_throttled`). A part refused so more than `max_throttle_retries` times
  resolves RETRY.
- Any other refusal (`_refused`) resolves REJECTED or RETRY by the status table. A
  generic_nack carrying a submit's sequence_number is that submit's answer (ESME_RINVCMDID
  when it says 0) and the link stays. A status that asks for a rebind hands the link back to
  the owner (`BindOwner.retire`: it closes once the rest of the window is answered);
  `nack_reconnect_after` generic_nacks in a row that match nothing in flight mean the stream is
  out of step: the link closes at once (`stray_nack`). The owner reconnects either way.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING, Any, Protocol

from herald.metrics import BindStats
from herald.smpp.codec import SubmitSmTemplate
from herald.smpp.layouts import CommandId
from herald.smpp.message_ids import IdMode, canonical_submit_id
from herald.smpp.pdu import Pdu
from herald.smpp.session.pending import PendingSubmit, resolve
from herald.smpp.session_settings import SessionSettings, describe_status
from herald.smpp.status import CommandStatus, StatusClass, StatusTable, status_name
from herald.smpp.submit import SubmitOutcome, SubmitResult
from herald.smpp.throttle import Throttle, ThrottlePolicy

if TYPE_CHECKING:
    from herald.smpp.session.link import Link

log = logging.getLogger(__name__)

_SUBMIT_SM_RESP = CommandId.SUBMIT_SM_RESP.value
_GENERIC_NACK = CommandId.GENERIC_NACK.value
_RINVCMDID = CommandStatus.ESME_RINVCMDID.value

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


class BindOwner(Protocol):
    """What the submit side tells the session about its link (herald.smpp.session.bind)."""

    def retire(self, link: Link, why: str) -> None:
        """Write nothing more on `link`; close it once what is in flight is answered."""

    def silent(self, link: Link, why: str) -> None:
        """`max_timeouts` submits unanswered in a row: take the bind out of rotation."""

    def trial_passed(self) -> None:
        """The one submit of a trial (`start(trial=True)`) was answered."""


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
        owner: BindOwner,
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
        self._owner = owner
        # Throttled lately (accepted submits raise the rate again), on trial or held (the first
        # answer ends either): accepted submits go through `_watched`.
        self._watching = False
        self.trial = False  # one submit at a time until one is answered (`start`)
        self.held = False  # a timeout, parts still in flight: nothing written until an answer
        # Answers heard: `processed` counts those the carrier processed (accepted, or refused
        # other than for congestion: the throttle measures the carrier's rate by them),
        # `congested` the congestion refusals. A timeout or a stray generic_nack is "in a row"
        # when no answer came since the one before (`_heard_at_*`).
        self.processed = 0
        self.congested = 0
        self._timeouts = 0  # response timeouts in a row
        self._stray_nacks = 0  # generic_nacks matching nothing, in a row
        self._heard_at_timeout = 0
        self._heard_at_stray = 0
        self._wake_task: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # the session's, once started
        self.link: Link | None = None  # the bound link parts are written to
        self.sending = False  # bound as tx/trx, not closing: submit() queues

    @property
    def queued(self) -> int:
        """submit_sm accepted by `submit` and not yet written."""
        return len(self._queue) + len(self._resend)

    # --- starting and stopping ----------------------------------------------------------------

    def start(self, link: Link, *, trial: bool = False) -> None:
        """Bound as a transmitter or transceiver on `link`: write what comes; on `trial`, one
        submit at a time until one is answered (a bind back from being out of rotation)."""
        self.link = link
        self.sending = True
        self._stray_nacks = self._timeouts = 0
        self.trial = trial
        self.held = False
        self._window = 1 if trial else self.settings.window
        self._watching = trial or self._watching
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

    def limit(self, rate: float, burst: int) -> None:
        """Session.limit's work: a new ceiling; a sender waiting on the old rate waits on the
        new one."""
        throttle = self.throttle
        throttle.set_ceiling(rate, burst, self._clock())
        self._watching = self.trial or self.held or throttle.rate < throttle.ceiling
        if self.loop is not None and (self._queue or self._resend):
            if self._wake_task is not None:
                self._wake_task.cancel()
                self._wake_task = None
            self.pump()

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

    @property
    def _heard(self) -> int:
        """Answers heard on this bind so far, of any kind."""
        return self.processed + self.congested

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
        unflushed = link.unflushed
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
            seq, item.data = send(item.data, item)
            item.sent_at = now
            in_flight[seq] = item
            unflushed.append(item)  # handed to the transport at the end of this turn
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
            self.processed += 1
            params: dict[str, Any] = pdu.params
            message_id: str = params.get("message_id", "")  # a C-Octet String
            stats = self.stats
            stats.submits["ok"] += 1
            stats.segments_sent += 1
            if self._watching:  # throttled lately, on trial or held
                self._watched()
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

    def unwritten(self, items: Collection[PendingSubmit]) -> None:
        """Numbered for a link but never handed to its transport: back in line, in order,
        ahead of the queue (NOT_SENT with it when the link is going)."""
        for item in items:
            if self.sending:
                self._requeue(item)
            else:
                resolve(item.future, _NOT_SENT)

    def stray_nack(self, link: Link, pdu: Pdu) -> None:
        """A generic_nack for nothing in flight. `nack_reconnect_after` of them in a row
        (nothing answered between) mean the SMSC reads our stream out of step: close the link
        at once (the owner reconnects); nothing more written on it can be trusted."""
        heard = self._heard
        if heard != self._heard_at_stray:
            self._stray_nacks = 0
            self._heard_at_stray = heard
        self._stray_nacks += 1
        limit = self.settings.nack_reconnect_after
        if 0 < limit <= self._stray_nacks and not link.closing:
            log.warning(
                "bind %s: %d generic_nacks in a row matching no request (last %s): the stream "
                "is out of step, reconnecting",
                self.name,
                self._stray_nacks,
                describe_status(pdu.command_status),
            )
            link.close()

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
        self.stats.timeouts += len(late)
        log.warning(
            "bind %s: %d submit_sm unanswered after %.1fs: outcome unknown",
            self.name,
            len(late),
            self._response_timeout,
        )
        heard = self._heard
        if heard != self._heard_at_timeout:
            self._timeouts = 0
            self._heard_at_timeout = heard
        self._timeouts += len(late)
        link.check_drained()
        limit = self.settings.max_timeouts
        if self.trial:  # the one submit a bind back from a black hole was trusted with
            self._owner.silent(link, "the trial submit_sm went unanswered")
        elif 0 < limit <= self._timeouts:
            self._owner.silent(link, f"{self._timeouts} submit_sm unanswered in a row")
        elif link.in_flight:  # the rest of the window answers or times out first
            self.held = self._watching = True
            self._window = 0
        else:
            self._widen()

    def _watched(self) -> None:
        """An answer while throttled lately, on trial or held: the rate climbs back; a trial or
        a hold ends."""
        if self.trial or self.held:
            self._widen()
        throttle = self.throttle
        throttle.on_accepted(self._clock(), self.processed)
        self._watching = throttle.rate < throttle.ceiling

    def _widen(self) -> None:
        """The SMSC answered (or the held window emptied): the whole window again."""
        trial = self.trial
        self.trial = self.held = False
        self._window = self.settings.window
        if trial:
            self._owner.trial_passed()
        self.pump()

    def _refused(self, link: Link, pdu: Pdu, item: PendingSubmit) -> None:
        status = pdu.command_status
        if status == 0 and pdu.command_id == _GENERIC_NACK:
            status = _RINVCMDID  # a generic_nack saying ESME_ROK accepts nothing
        status_class = self._statuses.classify(status)
        self.stats.submits[status_class.value] += 1
        name = status_name(status)
        if self.trial or self.held:  # any answer shows the SMSC answers
            self._widen()
        if status_class is StatusClass.THROTTLED or status_class is StatusClass.QUEUE_FULL:
            self.congested += 1
            self._throttled(item, status, name, status_class is StatusClass.QUEUE_FULL)
            return
        self.processed += 1
        if status_class is StatusClass.REBIND and link.peer_unbound:
            # refused because the SMSC had unbound us before it read this part: it took
            # nothing, and another bind may take the part now
            resolve(item.future, SubmitResult(NOT_SENT, status, "", "", name, item.sent_at))
            return
        outcome = RETRY if status_class.temporary else REJECTED
        resolve(item.future, SubmitResult(outcome, status, "", "", name, item.sent_at))
        if status_class is StatusClass.REBIND:
            self._owner.retire(link, f"submit_sm answered {describe_status(status)}")

    def _throttled(self, item: PendingSubmit, status: int, name: str, queue_full: bool) -> None:
        """Pause the bind, lower its rate, and put the part first in line (in FIFO order)."""
        now = self._clock()
        pause = self.throttle.on_throttled(now, self.processed, queue_full=queue_full)
        self._watching = True
        self.stats.throttle_events += 1
        item.throttled += 1
        if item.throttled > self.settings.max_throttle_retries or not self.sending:
            resolve(item.future, SubmitResult(RETRY, status, "", "", name, item.sent_at))
            return
        self._requeue(item)
        log.info(
            "bind %s: %s, pausing %.1fs at %.1f submit_sm/s",
            self.name,
            name,
            pause,
            self.throttle.rate,
        )
        self._wake_later()

    def _requeue(self, item: PendingSubmit) -> None:
        """Back in line ahead of the queue, by the order the parts were submitted in."""
        resend = self._resend
        i = len(resend)
        while i and resend[i - 1].order > item.order:
            i -= 1
        resend.insert(i, item)
