"""One SMSC-side connection: an asyncio Protocol around the sans-I/O `Connection` (SMSC role).

Framing is done here, on the received chunk in place. submit_sm on a bound TX/TRX connection
takes a fast path: the header is read with one struct unpack, the body decoded only when
receipts or recording need it, and the submit_sm_resp packed directly, never touching the
Connection (submits do not change its state). Every other PDU goes through the Connection,
which owns the bind state, the sequence numbers of what we send (receipts, MO, unbind) and
the matching of their responses. Writes are coalesced: one transport.write per received
chunk or per loop turn; or, with `coalesce_writes` off (a carrier's way), one per PDU.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import struct
import time
from collections import deque
from typing import TYPE_CHECKING, Any, cast

from herald.errors import RemoteProtocolError
from herald.simulator.behaviour import ACCEPT, NACK, SILENCE
from herald.simulator.receipts import ReceiptJob, preview, preview_text
from herald.simulator.recorder import decode_submit
from herald.smpp.codec import decode_pdu
from herald.smpp.connection import Connection, Response, Role, State, StrayResponse, Violation
from herald.smpp.framing import DEFAULT_MAX_COMMAND_LENGTH
from herald.smpp.layouts import RESPONSE_BIT, CommandId, Tag
from herald.smpp.pdu import Pdu
from herald.smpp.status import CommandStatus

if TYPE_CHECKING:
    from herald.simulator.server import Simulator
    from herald.simulator.switchboard import Delivery

C = CommandId
_HEADER = struct.Struct(">IIII")
_SUBMIT_SM = C.SUBMIT_SM.value
_SUBMIT_SM_RESP = C.SUBMIT_SM_RESP.value
_GENERIC_NACK = C.GENERIC_NACK.value
_DELIVER_SM_RESP = C.DELIVER_SM_RESP.value
_SUBMIT_STATES = frozenset({State.BOUND_TX, State.BOUND_TRX})
_RECEIVE_STATES = frozenset({State.BOUND_RX, State.BOUND_TRX})  # not UNBINDING: see forget()
_BIND_TYPES = {C.BIND_TRANSMITTER: "tx", C.BIND_RECEIVER: "rx", C.BIND_TRANSCEIVER: "trx"}
_REFUSED: dict[int, int] = {  # requests the simulator does not implement: their status
    C.QUERY_SM: CommandStatus.ESME_RQUERYFAIL,
    C.CANCEL_SM: CommandStatus.ESME_RCANCELFAIL,
    C.REPLACE_SM: CommandStatus.ESME_RREPLACEFAIL,
}
_THROTTLE_STATUSES = frozenset({CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RMSGQFUL})
UNBIND_TIMEOUT = 5.0  # seconds an ESME has to answer our unbind before we close anyway
_UNKNOWN_COMMAND = 0x000001FF  # not an SMPP 3.4 command: the client owes us a generic_nack


def _response(command_id: int, status: int, seq: int, message_id: str | None) -> bytes:
    if command_id == _GENERIC_NACK:
        return _HEADER.pack(16, command_id, status, seq)
    body = (message_id or "").encode("latin-1") + b"\0"
    return _HEADER.pack(16 + len(body), command_id, status, seq) + body


def _malformed(kind: str, response: bytes) -> bytes:
    """A broken variant of `response` (see SimulatorSettings.malformed_kind)."""
    if kind == "no_nul":  # message_id without its terminator: the response cannot be read
        _, command_id, status, seq = _HEADER.unpack_from(response)
        body = response[16:].rstrip(b"\0") or b"x"
        return _HEADER.pack(16 + len(body), command_id, status, seq) + body
    if kind == "bad_length":  # command_length under 16: the stream can never be framed again
        return _HEADER.pack(8, _SUBMIT_SM_RESP, 0, 0)
    # unknown_command: a request nobody knows, then the real answer
    return _HEADER.pack(16, _UNKNOWN_COMMAND, 0, 0x7FFFFFFF) + response


class DeliverWindow:
    """One connection's deliver_sm written and not answered yet, and the deliveries waiting
    for room: the switchboard keeps both (see SimulatorSettings.deliver_window)."""

    __slots__ = ("held", "in_flight")

    def __init__(self) -> None:
        self.in_flight = 0
        self.held: deque[Delivery] = deque()

    def abandon(self) -> list[Delivery]:
        """The connection is gone: what it held, never written."""
        held = list(self.held)
        self.held.clear()
        return held


class SmscProtocol(asyncio.Protocol):
    """One ESME's connection. It reads the simulator's settings, behaviour, ids, recorder and
    counters, and tells its switchboard (herald.simulator.switchboard) what happens to it."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.switchboard = sim.switchboard
        self.conn = Connection(Role.SMSC)
        self.transport: asyncio.Transport | None = None
        self.system_id = ""
        self.bind = ""  # tx | rx | trx once bound
        self.submits = 0  # submit_sm received on this connection
        self.pdus = 0  # PDUs received on this connection
        self.deliver_window = DeliverWindow()
        self.closed = False
        self._owed = 0  # answers waiting out their latency: an unbind's close waits for them
        self._close_when_owed_sent = False
        self._buf = b""
        self._out: list[bytes] = []
        self._in_data = False
        self._flush_scheduled = False
        self._loop = asyncio.get_running_loop()

    # --- the transport ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:  # set either way: asyncio and uvloop turn TCP_NODELAY on
            nodelay = 1 if self.sim.settings.tcp_nodelay else 0
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, nodelay)
        self.switchboard.connection_made(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._out.clear()
        unanswered = [context for _, _, context in self.conn.close() if context is not None]
        held = self.deliver_window.abandon()  # never written: route them elsewhere
        self.switchboard.connection_lost(self, unanswered + held)

    @property
    def receives(self) -> bool:
        """Bound as a receiver or transceiver: deliver_sm may be sent now."""
        return not self.closed and self.conn.may_send(C.DELIVER_SM)

    def write(self, data: bytes) -> None:
        """Queue bytes; they go out at the end of this chunk or this loop turn."""
        if self.closed:
            return
        self._out.append(data)
        if not self.sim.settings.coalesce_writes:
            self._flush()  # carrier-like: out as soon as it is made (after anything queued)
            return
        if not self._in_data and not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        out = self._out
        if out and not self.closed and self.transport is not None:
            if not self.sim.settings.coalesce_writes:  # each PDU its own write
                for data in out:
                    self.transport.write(data)
            else:
                self.transport.write(out[0] if len(out) == 1 else b"".join(out))
        out.clear()

    def close(self) -> None:
        """Flush, then close TCP (FIN): the end after an unbind."""
        if not self.closed and self.transport is not None:
            self._flush()
            self.closed = True
            self.transport.close()

    def abort(self) -> None:
        """Cut TCP now, unanswered requests and queued bytes lost (a flaky link)."""
        if not self.closed and self.transport is not None:
            self.closed = True
            self._out.clear()
            self.transport.abort()
            self.sim.stats.drops += 1

    # --- receiving --------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._buf:
            data = self._buf + data
            self._buf = b""
        sim = self.sim
        settings = sim.settings
        behaviour = sim.behaviour
        drop_after = settings.drop_after_pdus
        n, pos = len(data), 0
        self._in_data = True
        try:
            while n - pos >= 16 and not self.closed:
                length, command_id, status, seq = _HEADER.unpack_from(data, pos)
                if length < 16 or length > DEFAULT_MAX_COMMAND_LENGTH:
                    self._unframeable(length, command_id, seq)
                    return
                end = pos + length
                if end > n:
                    break
                self.pdus += 1
                if settings.drop_probability and behaviour.drop():
                    self.abort()
                    return
                if command_id == _SUBMIT_SM and self.conn.state in _SUBMIT_STATES:
                    self._submit(data, pos, end, seq)
                elif command_id == _DELIVER_SM_RESP and self.conn.state in _RECEIVE_STATES:
                    # its body (an empty message_id) says nothing: match by sequence only
                    context = self.conn.forget(seq)
                    if context is not None:
                        self.switchboard.delivered(self, context, status)
                else:
                    self._generic(data[pos:end])
                pos = end
                if drop_after is not None and self.pdus >= drop_after:
                    self.close()  # this PDU is answered, then the link goes
                    sim.stats.drops += 1
                    return
            if pos < n and not self.closed:
                self._buf = data[pos:]
        finally:
            self._in_data = False
            self._flush()
            sim.poke()

    def _unframeable(self, length: int, command_id: int, seq: int) -> None:
        """A command_length the stream cannot survive: nack it, then close (SMPP 3.4 §2.3)."""
        self.sim.stats.malformed_received += 1
        if not command_id & RESPONSE_BIT:
            self.write(_HEADER.pack(16, _GENERIC_NACK, CommandStatus.ESME_RINVCMDLEN, seq))
        self.close()

    def _submit(self, data: bytes, pos: int, end: int, seq: int) -> None:
        """The hot path: a submit_sm on a bound TX/TRX connection."""
        sim = self.sim
        sim.stats.submits += 1
        self.submits += 1
        pdu = None
        if sim.decode_submits:
            try:
                pdu = decode_pdu(data, pos, end)
            except RemoteProtocolError as error:
                self._violation(error)
                return
        behaviour = sim.behaviour
        # accepted, nothing to record or deliver, nothing held back
        if behaviour.trivial and pdu is None and sim.held is None:
            ids = sim.ids
            message_id = ids.submit_id(ids.next_number())
            body = message_id.encode() + b"\0"
            self._out.append(_HEADER.pack(16 + len(body), _SUBMIT_SM_RESP, 0, seq) + body)
            by_status = sim.stats.submits_by_status
            by_status[0] = by_status.get(0, 0) + 1
            if self.submits == sim.settings.unbind_after:
                self.send_unbind()
            return
        kind, status = behaviour.decide(self.system_id)
        self.answer(pdu, seq, _SUBMIT_SM_RESP, kind, status)

    def answer(self, pdu: Pdu | None, seq: int, resp_id: int, kind: int, status: int) -> None:
        """Answer one submit_sm/data_sm as decided; receipts, records, unbind_after."""
        sim, stats = self.sim, self.sim.stats
        message_id = None
        number = 0
        response = None
        if kind == SILENCE:
            stats.submits_unanswered += 1
        else:
            if kind == ACCEPT:
                number = sim.ids.next_number()
                message_id = sim.ids.submit_id(number)
            if kind == NACK:
                stats.generic_nacks += 1
                response = _response(_GENERIC_NACK, status, seq, None)
            else:
                by_status = stats.submits_by_status
                by_status[status] = by_status.get(status, 0) + 1
                response = _response(resp_id, status, seq, message_id)
            if status in _THROTTLE_STATUSES:
                stats.throttled += 1
            if sim.settings.malformed_share and sim.behaviour.malformed():
                stats.malformed_sent += 1
                response = _malformed(sim.settings.malformed_kind, response)
        text = None
        if pdu is not None and sim.recorder is not None:
            record = decode_submit(
                pdu,
                system_id=self.system_id,
                bind=self.bind,
                status=None if kind == SILENCE else status,
                message_id=message_id,
            )
            text = None if record.text is None else preview_text(record.text)
            if sim.recorder.add(record):
                stats.duplicate_messages += 1
        job = None
        if kind == ACCEPT and pdu is not None and sim.settings.receipts:
            job = self._receipt_job(pdu, number, message_id or "", text)
            if job is not None and sim.settings.early_receipt:
                self.switchboard.receipts_for(job, early=True)  # before the response
                job = None
        unbind = self.submits == sim.settings.unbind_after
        latency = sim.behaviour.latency() if kind != SILENCE else 0.0
        if sim.held is not None:  # Simulator.hold_answers(): until release_answers()
            self._owed += 1
            sim.held.append(functools.partial(self._late_answer, response, job, unbind, True))
        elif latency > 0:
            self._owed += 1
            self._loop.call_later(latency, self._late_answer, response, job, unbind, True)
        else:
            self._late_answer(response, job, unbind)

    def _late_answer(
        self, response: bytes | None, job: ReceiptJob | None, unbind: bool, owed: bool = False
    ) -> None:
        """The response goes out; its receipt delay starts now; then unbind_after's unbind."""
        if response is not None:
            self.write(response)
        if job is not None:
            self.switchboard.receipts_for(job, early=False)
        if unbind:
            self.send_unbind()
        if owed:
            self._owed -= 1
            if self._close_when_owed_sent and not self._owed:
                self.close()
        self.sim.poke()

    def _receipt_job(
        self, pdu: Pdu, number: int, message_id: str, text: str | None
    ) -> ReceiptJob | None:
        p: Any = pdu.params  # decoded: every field of the layout is there
        registered = p["registered_delivery"]
        if not registered & 0x13:  # no final receipt (bits 1-0) nor intermediate (bit 4)
            return None
        if text is None:
            user_data = p.get("short_message") or pdu.tlvs.get(Tag.MESSAGE_PAYLOAD, b"")
            text = preview(cast(bytes, user_data), p["data_coding"], p["esm_class"])
        return ReceiptJob(
            system_id=self.system_id,
            submit_id=message_id,
            text_id=self.sim.ids.receipt_text_id(number, message_id),
            source_addr=p["source_addr"],
            source_ton=p["source_addr_ton"],
            source_npi=p["source_addr_npi"],
            destination_addr=p["destination_addr"],
            dest_ton=p["dest_addr_ton"],
            dest_npi=p["dest_addr_npi"],
            registered_delivery=registered,
            preview=text[:20],
            submitted_at=time.time(),
            origin=self,
        )

    # --- everything else, through the Connection ------------------------------------------------

    def _generic(self, chunk: bytes) -> None:
        conn = self.conn
        conn.receive_data(chunk)
        try:
            for event in conn.events():
                if isinstance(event, Pdu):
                    self._request(event)
                elif isinstance(event, Response):
                    self._response(event)
                elif isinstance(event, Violation):
                    self._violation(event.error, event.reply)
                elif isinstance(event, StrayResponse):
                    pass  # e.g. the generic_nack a client owes an injected unknown command
        except RemoteProtocolError:  # pragma: no cover - we framed it, the length is sound
            self.close()
            return
        if conn.state is State.CLOSED and not self.closed and not self._close_when_owed_sent:
            self.close()

    def _violation(self, error: RemoteProtocolError, reply: Pdu | None = None) -> None:
        self.sim.stats.malformed_received += 1
        if reply is None and error.reply_command_id is not None:
            reply = Pdu(
                error.reply_command_id,
                command_status=error.reply_status,
                sequence_number=error.sequence_number or 0,
            )
        if reply is not None:
            self.write(self.conn.send(reply))

    def _request(self, pdu: Pdu) -> None:
        command_id = pdu.command_id
        sim = self.sim
        if command_id in _BIND_TYPES:
            self._bind(pdu)
        elif command_id == C.ENQUIRE_LINK:
            sim.stats.enquire_links += 1
            if sim.settings.answer_enquire_link:
                self.write(self.conn.send(pdu.reply()))
        elif command_id == C.UNBIND:
            sim.stats.unbinds += 1
            self.switchboard.unbound(self)
            self.write(self.conn.send(pdu.reply()))  # the Connection is CLOSED after this
        elif command_id in (C.SUBMIT_SM, C.DATA_SM):
            sim.stats.submits += 1
            self.submits += 1
            kind, status = sim.behaviour.decide(self.system_id)
            self.answer(pdu, pdu.sequence_number, command_id | RESPONSE_BIT, kind, status)
        else:
            status = _REFUSED.get(command_id, CommandStatus.ESME_RINVCMDID)
            self.write(self.conn.send(pdu.reply(status)))

    def _bind(self, pdu: Pdu) -> None:
        sim = self.sim
        settings = sim.settings
        system_id, password = str(pdu["system_id"]), str(pdu["password"])
        status = settings.credentials_ok(system_id, password) or settings.bind_status
        if status:
            sim.stats.bind_failures += 1
            self.write(self.conn.send(pdu.reply(status)))
            return
        reply = Pdu(
            pdu.command_id | RESPONSE_BIT,
            sequence_number=pdu.sequence_number,
            system_id=settings.smsc_system_id,
            tlvs={Tag.SC_INTERFACE_VERSION: 0x34},
        )
        self.write(self.conn.send(reply))
        self.system_id = system_id
        self.bind = _BIND_TYPES[C(pdu.command_id)]
        self.switchboard.bound(self)

    def _response(self, event: Response) -> None:
        if event.request_id == C.UNBIND:
            # A carrier that unbinds still sends the answers it owes before it closes (under
            # load, the ESME's unbind_resp could come back before they had all gone out).
            if self._owed:
                self._close_when_owed_sent = True
            else:
                self.close()
            return
        context: Delivery | None = event.context
        if context is not None:
            self.switchboard.delivered(self, context, event.pdu.command_status)

    # --- sending requests -------------------------------------------------------------------

    def send_request(self, pdu: Pdu, context: Delivery | None = None) -> None:
        self.write(self.conn.send(pdu, context))

    def send_encoded(self, data: bytes, context: Delivery | None = None) -> None:
        self.write(self.conn.send_encoded(data, context)[1])

    def send_unbind(self) -> None:
        """Unbind; close when it is answered, or after UNBIND_TIMEOUT if it never is (python-
        smpplib, for one, never answers an unbind)."""
        if not self.closed and self.conn.may_send(C.UNBIND):
            self.switchboard.unbound(self)
            self.sim.stats.unbinds_sent += 1
            self.send_request(Pdu(C.UNBIND))
            self._loop.call_later(UNBIND_TIMEOUT, self.close)
