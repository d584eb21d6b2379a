"""One TCP connection to the SMSC: its sans-I/O `Connection` (ESME role), coalesced writes, the
reader, and the requests in flight on it.

- Writes made during one loop turn go out in one `transport.write` (call_soon; at the end of a
  read, at once), on a TCP_NODELAY socket: small deliver_sm_resp writes never wait for Nagle.
  A submit_sm counts as written once handed to the transport: until then it waits in
  `unflushed`, and a link closed or lost meanwhile gives it back unwritten
  (`SubmitSide.unwritten`: the dispatcher may send it anywhere, nothing is ambiguous).
- The reader (`data_received`) is where herald's CPU goes: bytes in, events out of the
  Connection, each handed on at once. A submit_sm_resp (or generic_nack) goes to the submit
  side (`SubmitSide.answered`), a deliver_sm / data_sm to the delivery side
  (`DeliverySide.deliver`); answers to bind, enquire_link and unbind resolve their futures
  here. While a large read is handled, the window's room is refilled every `_OVERLAP` PDUs.
- Requests from the SMSC that concern only the link are answered here: enquire_link at once;
  unbind is answered, nothing more is written, and the owner hears of it (`on_unbound`): it
  reads on until the submits in flight are answered (an SMSC refuses those it got after its
  unbind, and those refusals are answers), then closes. outbind and alert_notification are
  ignored.
- A generic_nack matching nothing in flight goes to the submit side (`SubmitSide.stray_nack`):
  a run of them means the stream is out of step.
- Malformed PDUs never crash the session: answered as the Connection says (generic_nack or
  their own *_resp) when the stream is still in sync (`_violation`), otherwise the link is
  closed and reopened (`_out_of_sync`).
- When the TCP connection goes (`connection_lost`), everything written on it is settled: each
  submit in flight goes back to the submit side (`SubmitSide.unanswered`: outcome unknown),
  those never handed to the transport too (`SubmitSide.unwritten`), each control request's
  future gets None, then the owner hears of it (`on_lost`).
- Reading paused for back-pressure (`pause_reads`) holds the SMSC's answers in the socket:
  `reads_held` tells the keepalive not to count that time against the SMSC.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import struct
from collections.abc import Callable, Collection
from typing import Protocol, cast

from herald.errors import LocalProtocolError, RemoteProtocolError
from herald.smpp.codec import encode
from herald.smpp.connection import Connection, Response, Role, State, StrayResponse, Violation
from herald.smpp.layouts import RESPONSE_BIT, CommandId
from herald.smpp.pdu import Pdu
from herald.smpp.session.pending import PendingControl, PendingSubmit, resolve

log = logging.getLogger(__name__)

_DELIVER_SM = CommandId.DELIVER_SM.value
_DATA_SM = CommandId.DATA_SM.value
_ENQUIRE_LINK = CommandId.ENQUIRE_LINK.value
_ENQUIRE_LINK_RESP = CommandId.ENQUIRE_LINK_RESP.value
_UNBIND = CommandId.UNBIND.value
_GENERIC_NACK = CommandId.GENERIC_NACK.value
_CLOSED = State.CLOSED

# While a large read is being handled, the window's room is refilled and written every this
# many PDUs: the SMSC (on the other core) starts on them instead of waiting for the whole read.
_OVERLAP = 32
_pack_header = struct.Struct(">IIII").pack


class SubmitSide(Protocol):
    """What the link tells the part that sends submit_sm (herald.smpp.session.submits)."""

    def answered(self, link: Link, pdu: Pdu, item: PendingSubmit) -> None:
        """A submit_sm_resp or generic_nack for `item`, already out of `link.in_flight`."""

    def unanswered(self, items: Collection[PendingSubmit]) -> None:
        """Written, and no answer will come (a malformed one, or the link is gone)."""

    def unwritten(self, items: Collection[PendingSubmit]) -> None:
        """Numbered for this link but never handed to its transport: not sent at all."""

    def stray_nack(self, link: Link, pdu: Pdu) -> None:
        """A generic_nack whose sequence_number matches nothing outstanding."""

    def pump(self) -> None:
        """Room may have opened in the window: write what is queued."""


class DeliverySide(Protocol):
    """What the link hands to the part that keeps deliveries (herald.smpp.session.deliveries)."""

    def deliver(self, link: Link, pdu: Pdu) -> None:
        """A deliver_sm or data_sm from the SMSC, to be answered through `link`."""


# The owner hears last, once the link has settled what was written on it: (the link, the
# error that ended it, how many submits were in flight).
OnLost = Callable[["Link", Exception | None, int], None]
# The SMSC unbound and was answered: the owner stops writing on the link and closes it.
OnUnbound = Callable[["Link"], None]


class Link(asyncio.Protocol):
    """One TCP connection and its Connection state machine; the parts do the thinking."""

    __slots__ = (
        "_answered",
        "_clock",
        "_deliver",
        "_on_lost",
        "_on_unbound",
        "_submits",
        "closing",
        "conn",
        "controls",
        "drained",
        "enquiring",
        "flush_handle",
        "in_flight",
        "last_rx",
        "loop",
        "lost",
        "name",
        "out",
        "peer_unbound",
        "pending_deliveries",
        "reading_paused",
        "reads_resumed_at",
        "transport",
        "unflushed",
        "watcher",
        "write_paused",
    )

    def __init__(
        self,
        *,
        name: str,
        loop: asyncio.AbstractEventLoop,
        clock: Callable[[], float],
        max_command_length: int,
        submits: SubmitSide,
        deliveries: DeliverySide,
        on_lost: OnLost,
        on_unbound: OnUnbound | None = None,
    ) -> None:
        self.name = name  # the bind's, for logs
        self.loop = loop
        self._clock = clock
        self._submits = submits
        self._answered = submits.answered  # bound once: called for every submit_sm_resp
        self._deliver = deliveries.deliver
        self._on_lost = on_lost
        self._on_unbound = on_unbound
        self.conn = Connection(Role.ESME, max_command_length=max_command_length)
        self.transport: asyncio.Transport | None = None
        self.in_flight: dict[int, PendingSubmit] = {}  # seq -> written submit_sm, write order
        self.controls: dict[int, PendingControl] = {}  # seq -> bind, enquire_link, unbind
        self.out: list[bytes] = []  # written this loop turn, flushed once (flush_soon)
        # submit_sm numbered this loop turn (each `data` holds its bytes), not yet handed to
        # the transport: flushed after `out`, or given back unwritten if the link goes first
        self.unflushed: list[PendingSubmit] = []
        self.flush_handle: asyncio.Handle | None = None
        self.lost: asyncio.Future[None] = loop.create_future()  # resolved when TCP is gone
        self.drained: asyncio.Future[None] | None = None  # see until_drained
        self.closing = False  # closed or closing: it takes nothing more
        self.peer_unbound = False  # the SMSC sent unbind: it takes no submit_sm any more
        self.write_paused = False  # the transport's buffer is full (pause_writing)
        self.reading_paused = False  # too many deliveries being kept (pause_reads)
        self.reads_resumed_at = -math.inf  # when reading last resumed after a pause
        self.pending_deliveries = 0  # deliver_sm / data_sm handed on, not yet answered
        self.enquiring = False  # an enquire_link is out, unanswered
        self.last_rx = clock()  # when the SMSC last sent anything
        self.watcher: asyncio.Task[None] | None = None  # the keepalive's timer (keepalive.py)

    # --- asyncio callbacks ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):  # asyncio sets it too; be sure
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self._submits.pump()

    def connection_lost(self, exc: Exception | None) -> None:
        """The TCP connection is gone: settle everything that was written on it."""
        self.closing = True
        if self.flush_handle is not None:
            self.flush_handle.cancel()
            self.flush_handle = None
        self.out.clear()
        unwritten = self._take_unflushed()
        self.conn.close()
        if self.watcher is not None:
            self.watcher.cancel()
        in_flight, self.in_flight = self.in_flight, {}
        self._submits.unanswered(in_flight.values())
        if unwritten:
            self._submits.unwritten(unwritten)
        controls, self.controls = self.controls, {}
        for control in controls.values():
            if control.future is not None:
                resolve(control.future, None)
        self._on_lost(self, exc, len(in_flight))
        if self.drained is not None:
            resolve(self.drained, None)
        resolve(self.lost, None)

    # --- reading ----------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.last_rx = self._clock()
        conn = self.conn
        conn.receive_data(data)
        next_event = conn.next_event
        in_flight = self.in_flight
        answered = self._answered
        handled = 0
        while True:
            handled += 1
            if handled == _OVERLAP:  # see _OVERLAP
                handled = 0
                self.refill()
            try:
                event = next_event()
            except RemoteProtocolError as error:  # fatal: the stream cannot be framed any more
                self._out_of_sync(error)
                return
            if event is None:
                break
            if isinstance(event, Response):
                context = event.context
                if isinstance(context, PendingSubmit):  # the hot path
                    pdu = event.pdu
                    del in_flight[pdu.sequence_number]
                    answered(self, pdu, context)
                    if self.drained is not None:
                        self.check_drained()
                else:
                    self._control_answered(event)
            elif isinstance(event, Pdu):
                self._request(event)
            elif isinstance(event, StrayResponse):
                log.warning("bind %s: %s: %r", self.name, event.reason, event.pdu)
                if event.pdu.command_id == _GENERIC_NACK:
                    self._submits.stray_nack(self, event.pdu)
            else:
                self._violation(event)
            if self.closing:
                return
        self.refill()

    def refill(self) -> None:
        """Write the next submits (and any answers) now, in one write."""
        self._submits.pump()
        if self.out or self.unflushed:
            handle = self.flush_handle
            if handle is not None:
                handle.cancel()
            self.flush()

    def _control_answered(self, response: Response) -> None:
        pdu = response.pdu
        control = self.controls.pop(pdu.sequence_number, None)
        if pdu.command_id == _ENQUIRE_LINK_RESP:
            self.enquiring = False
        if control is not None and control.future is not None:
            resolve(control.future, pdu)

    def _request(self, pdu: Pdu) -> None:
        command_id = pdu.command_id
        if command_id in (_DELIVER_SM, _DATA_SM):
            self._deliver(self, pdu)
        elif command_id == _ENQUIRE_LINK:
            self.write(self.conn.send(pdu.reply()))
        elif command_id == _UNBIND:
            log.warning(
                "bind %s: the SMSC unbound with %d submit_sm in flight; reconnecting",
                self.name,
                len(self.in_flight),
            )
            self.peer_unbound = True
            unwritten = self._take_unflushed()  # never written: the SMSC is unbinding
            self.write(self.conn.send(pdu.reply()))
            if unwritten:
                self._submits.unwritten(unwritten)
            if self._on_unbound is not None:
                self._on_unbound(self)
            else:
                self.close()
        else:  # outbind (we are connected already), alert_notification: nothing to answer
            log.info("bind %s: ignoring %r", self.name, pdu)

    def _violation(self, violation: Violation) -> None:
        error = violation.error
        log.warning("bind %s: %s", self.name, error)
        if violation.reply is not None:
            self.write(self.conn.send(violation.reply))
        context = violation.context
        seq = error.sequence_number
        if context is None or seq is None:
            return
        if isinstance(context, PendingSubmit):  # a malformed answer to our part: unknown
            self.in_flight.pop(seq, None)
            self._submits.unanswered((context,))
            self.check_drained()
        else:
            self.controls.pop(seq, None)
            control = cast(PendingControl, context)
            if control.future is not None:
                resolve(control.future, None)
            else:
                self.enquiring = False

    def _out_of_sync(self, error: RemoteProtocolError) -> None:
        log.warning("bind %s: %s", self.name, error)
        if error.reply_command_id is not None and error.sequence_number is not None:
            nack = Pdu(
                error.reply_command_id,
                command_status=error.reply_status,
                sequence_number=error.sequence_number,
            )
            with contextlib.suppress(LocalProtocolError):
                self.write(encode(nack))  # the Connection is closed: encode it by hand
        self.close()

    # --- reading back-pressure (the delivery side decides) ------------------------------------

    def pause_reads(self) -> None:
        """Stop reading from the socket: TCP pushes back on the SMSC."""
        self.reading_paused = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_reads(self) -> None:
        self.reading_paused = False
        self.reads_resumed_at = self._clock()
        if self.transport is not None and not self.closing:
            self.transport.resume_reading()

    def reads_held(self, now: float, grace: float) -> bool:
        """Whether the SMSC's answers may be waiting unread because we paused reading: paused
        now, or resumed less than `grace` seconds ago (what piled up is still being read)."""
        return self.reading_paused or now - self.reads_resumed_at < grace

    # --- writing ----------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        self.out.append(data)
        if self.flush_handle is None:
            self.flush_handle = self.loop.call_soon(self.flush)

    def flush_soon(self) -> None:
        """Flush at the end of this loop turn: for the submit pump, which appends a run of
        submit_sm to `out` itself and asks once."""
        if self.flush_handle is None:
            self.flush_handle = self.loop.call_soon(self.flush)

    def flush(self) -> None:
        """Hand what was written this turn to the transport: answers and control requests,
        then the submits (unless the link is closing: those stay unwritten)."""
        self.flush_handle = None
        out = self.out
        transport = self.transport
        if transport is None or transport.is_closing():
            out.clear()  # the submits in `unflushed` stay there: never written
            return
        unflushed = self.unflushed
        if unflushed and not self.closing:
            out += [item.data for item in unflushed]
            unflushed.clear()
        if out:
            data = out[0] if len(out) == 1 else b"".join(out)
            out.clear()
            transport.write(data)

    def _take_unflushed(self) -> list[PendingSubmit]:
        """The submits numbered for this link and never handed to its transport, out of
        `in_flight` and the Connection's books: they were not sent."""
        unflushed, self.unflushed = self.unflushed, []
        if unflushed:
            withdrawn = {id(item) for item in unflushed}
            for seq in [seq for seq, item in self.in_flight.items() if id(item) in withdrawn]:
                del self.in_flight[seq]
                self.conn.forget(seq)
        return unflushed

    def answer_delivery(self, pdu: Pdu, status: int) -> None:
        """deliver_sm_resp / data_sm_resp: the header and an empty message_id. Packed here
        rather than through Pdu.reply and the generic encoder (0.2 µs instead of 3 µs a
        receipt); they change no Connection state, so only its being open matters."""
        if self.conn.state is not _CLOSED:
            self.write(
                _pack_header(17, pdu.command_id | RESPONSE_BIT, status, pdu.sequence_number) + b"\0"
            )

    def request(self, pdu: Pdu, timeout: float) -> asyncio.Future[Pdu | None]:
        """Send bind or unbind; the future gets the response, or None if none comes within
        `timeout` seconds (see keepalive.py) or the link goes first."""
        future: asyncio.Future[Pdu | None] = self.loop.create_future()
        self._send_control(pdu, PendingControl(future, self._clock() + timeout))
        return future

    def enquire_link(self, timeout: float) -> None:
        """Send an enquire_link. Its answer clears `enquiring`; none within `timeout` seconds
        means a dead link (keepalive.py)."""
        self.enquiring = True
        self._send_control(
            Pdu(CommandId.ENQUIRE_LINK), PendingControl(None, self._clock() + timeout)
        )

    def _send_control(self, pdu: Pdu, control: PendingControl) -> None:
        self.write(self.conn.send(pdu, control))
        self.controls[pdu.sequence_number] = control

    # --- closing ----------------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """Nothing written awaits an answer and every delivery was answered."""
        return not self.in_flight and not self.pending_deliveries

    def until_drained(self) -> asyncio.Future[None]:
        """Closing: a future resolved once the link is idle (or lost). Who settles a submit or
        a delivery calls `check_drained`."""
        if self.drained is None:
            self.drained = self.loop.create_future()
            self.check_drained()
        return self.drained

    def check_drained(self) -> None:
        if self.drained is not None and self.idle:
            resolve(self.drained, None)

    def close(self) -> None:
        """Flush what was written but the submits not yet handed to the transport (they come
        back unwritten when the connection is gone), then close the TCP connection
        (connection_lost follows)."""
        if self.flush_handle is not None:
            self.flush_handle.cancel()
        self.closing = True
        self.flush()
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Cut the TCP connection now (a peer that never lets it close)."""
        if self.transport is not None:
            self.transport.abort()
