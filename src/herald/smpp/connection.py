"""The SMPP connection as a state machine, sans I/O: bytes in, events out, bytes to send.

    conn = Connection(Role.ESME)
    transport.write(conn.send(Pdu(CommandId.BIND_TRANSCEIVER, system_id="u", password="p")))
    conn.receive_data(chunk)                  # whatever the socket gave
    for event in conn.events():               # Pdu | Response | StrayResponse | Violation
        ...

The same class serves both ends: the gateway is `Role.ESME`, the simulator `Role.SMSC`.
Every rule about which request may travel in which state is in `RULES` below, one row per
(role, state), after h11's `_state.py`. Responses are matched to requests by sequence_number
only (they may arrive in any order). Events:

- a `Pdu`: a request from the peer, legal in this state. Answer it with `conn.send(pdu.reply())`.
- `Response(pdu, request_id, context)`: the answer (its *_resp or a generic_nack) to a request
  we sent; `context` is whatever was given to `send`. A successful bind response binds us.
- `StrayResponse(pdu, reason)`: a response to nothing we have outstanding. Log it, go on.
- `Violation(error, pdu, reply, context)`: the peer broke the protocol in a way we survive: a
  malformed PDU (the stream is still in sync) or a request not allowed in this state (e.g. a
  deliver_sm on a transmitter bind). Send `reply` if it is not None (a *_resp with
  ESME_RINVBNDSTS, a generic_nack, ...) and go on. `context` is set when the malformed PDU was
  the response to one of our requests: that request's outcome is unknown.

A malformed command_length is not survivable: `next_event` raises RemoteProtocolError with
`fatal` set and the connection is CLOSED (answer `error` if you like, then close the socket).
Sending something this state does not allow raises LocalProtocolError and sends nothing.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from enum import Enum
from typing import Any, NamedTuple

from herald.errors import LocalProtocolError, RemoteProtocolError
from herald.smpp.codec import SubmitSmTemplate, encode
from herald.smpp.framing import DEFAULT_MAX_COMMAND_LENGTH, PduReader
from herald.smpp.layouts import NO_RESPONSE, RESPONSE_BIT, CommandId, command_name
from herald.smpp.pdu import Pdu
from herald.smpp.status import CommandStatus

MAX_SEQUENCE = 0x7FFFFFFF


class Role(Enum):
    ESME = "esme"
    SMSC = "smsc"


class State(Enum):
    OPEN = "open"  # TCP up, not bound (an SMSC may send outbind here)
    BOUND_TX = "bound_tx"
    BOUND_RX = "bound_rx"
    BOUND_TRX = "bound_trx"
    UNBINDING = "unbinding"  # unbind sent or received: only responses may follow
    CLOSED = "closed"


ESME, SMSC = Role.ESME, Role.SMSC
OPEN, BOUND_TX, BOUND_RX, BOUND_TRX = State.OPEN, State.BOUND_TX, State.BOUND_RX, State.BOUND_TRX
UNBINDING, CLOSED = State.UNBINDING, State.CLOSED
C = CommandId

# --- the rules --------------------------------------------------------------------------------

_BINDS = frozenset({C.BIND_TRANSMITTER, C.BIND_RECEIVER, C.BIND_TRANSCEIVER})
_SUBMITS = frozenset({C.SUBMIT_SM, C.DATA_SM, C.QUERY_SM, C.CANCEL_SM, C.REPLACE_SM})
_DELIVERIES = frozenset({C.DELIVER_SM, C.DATA_SM, C.ALERT_NOTIFICATION})
_LINK = frozenset({C.ENQUIRE_LINK, C.UNBIND})
_NONE: frozenset[int] = frozenset()


class Rules(NamedTuple):
    send: frozenset[int]  # requests this side may send
    receive: frozenset[int]  # requests this side accepts; any other gets a Violation


# Requests only: responses may be sent in any state but CLOSED (answers to refused requests
# included); received ones are matched by sequence_number in any state. What one side may
# receive is what the other may send, plus two tolerances: enquire_link before the bind (3.4
# says bound only; SMPP 5.0 and many SMSCs allow it) and a peer's unbind crossing ours.
RULES: dict[tuple[Role, State], Rules] = {
    (ESME, OPEN): Rules(_BINDS | {C.ENQUIRE_LINK}, frozenset({C.OUTBIND, C.ENQUIRE_LINK})),
    (ESME, BOUND_TX): Rules(_SUBMITS | _LINK, _LINK),
    (ESME, BOUND_RX): Rules(_LINK, _DELIVERIES | _LINK),
    (ESME, BOUND_TRX): Rules(_SUBMITS | _LINK, _DELIVERIES | _LINK),
    (ESME, UNBINDING): Rules(_NONE, _LINK),
    (ESME, CLOSED): Rules(_NONE, _NONE),
    (SMSC, OPEN): Rules(frozenset({C.OUTBIND, C.ENQUIRE_LINK}), _BINDS | {C.ENQUIRE_LINK}),
    (SMSC, BOUND_TX): Rules(_LINK, _SUBMITS | _LINK),
    (SMSC, BOUND_RX): Rules(_DELIVERIES | _LINK, _LINK),
    (SMSC, BOUND_TRX): Rules(_DELIVERIES | _LINK, _SUBMITS | _LINK),
    (SMSC, UNBINDING): Rules(_NONE, _LINK),
    (SMSC, CLOSED): Rules(_NONE, _NONE),
}

# State changes. A bind moves OPEN to its bound state when its response says ESME_ROK (an ESME
# also takes ESME_RALYBND as bound, as Kannel does); an unbind, sent or received, moves to
# UNBINDING; its answer (either way) closes.
# Keyed by plain int: a request is tracked under its raw command_id (send_encoded reads it from
# the bytes), and a CommandId member is equal to, and hashes as, its int.
BOUND_BY: dict[int, State] = {
    C.BIND_TRANSMITTER: BOUND_TX,
    C.BIND_RECEIVER: BOUND_RX,
    C.BIND_TRANSCEIVER: BOUND_TRX,
}
_BIND_RESPONSES = {bind | RESPONSE_BIT: state for bind, state in BOUND_BY.items()}
_BOUND_STATUSES = frozenset({CommandStatus.ESME_ROK, CommandStatus.ESME_RALYBND})

_UNBIND, _UNBIND_RESP, _SUBMIT_SM = C.UNBIND.value, C.UNBIND_RESP.value, C.SUBMIT_SM.value
_GENERIC_NACK = C.GENERIC_NACK.value
_SUBMIT_SM_ID = _SUBMIT_SM.to_bytes(4, "big")
_SEQUENCE = struct.Struct(">I")

# --- events ----------------------------------------------------------------------------------


class Response:
    """The answer to one of our requests (its own *_resp, or a generic_nack)."""

    __slots__ = ("context", "pdu", "request_id")

    def __init__(self, pdu: Pdu, request_id: int, context: Any) -> None:
        self.pdu = pdu
        self.request_id = request_id  # command_id of the request it answers
        self.context = context

    def __repr__(self) -> str:
        return f"<Response to {command_name(self.request_id)}: {self.pdu!r}>"


class StrayResponse(NamedTuple):
    """A response matching no outstanding request (unknown sequence_number, or wrong type)."""

    pdu: Pdu
    reason: str


class Violation(NamedTuple):
    """A protocol error the connection survives; send `reply` when it is not None."""

    error: RemoteProtocolError
    pdu: Pdu | None  # the offending request, when it decoded
    reply: Pdu | None
    context: Any = None  # set when a malformed response left one of our requests unanswered


Event = Pdu | Response | StrayResponse | Violation

# --- the connection ----------------------------------------------------------------------------


class Connection:
    __slots__ = ("_outstanding", "_reader", "_rules", "_seq", "_state", "role")

    def __init__(self, role: Role, *, max_command_length: int = DEFAULT_MAX_COMMAND_LENGTH) -> None:
        self.role = role
        self._reader = PduReader(max_command_length)
        self._seq = 0  # last sequence_number used
        self._outstanding: dict[int, tuple[int, Any]] = {}  # seq -> (command_id, context)
        self._state = OPEN
        self._rules = RULES[role, OPEN]

    # --- state -------------------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def outstanding(self) -> int:
        """Requests sent and not yet answered (the window in use)."""
        return len(self._outstanding)

    def _enter(self, state: State) -> None:
        self._state = state
        self._rules = RULES[self.role, state]

    def may_send(self, command_id: int) -> bool:
        """Whether a request with this command_id may be sent now."""
        return command_id in self._rules.send

    def forget(self, sequence_number: int) -> Any:
        """Stop waiting for a response (its timer expired); returns the request's context.
        A response arriving later is reported as a StrayResponse."""
        entry = self._outstanding.pop(sequence_number, None)
        return None if entry is None else entry[1]

    def close(self) -> list[tuple[int, int, Any]]:
        """The socket is gone: CLOSED. Returns the unanswered requests as
        (sequence_number, command_id, context): their outcome is unknown."""
        self._enter(CLOSED)
        lost = [(seq, cid, ctx) for seq, (cid, ctx) in self._outstanding.items()]
        self._outstanding.clear()
        return lost

    # --- sending -----------------------------------------------------------------------------

    def _next_sequence(self) -> int:
        seq = self._seq
        while True:  # 1..0x7FFFFFFF then 1 again, skipping any still outstanding
            seq = seq + 1 if seq < MAX_SEQUENCE else 1
            if seq not in self._outstanding:
                return seq

    def send(self, pdu: Pdu, context: Any = None) -> bytes:
        """The bytes to write for `pdu`. A request gets the next sequence_number (set on the
        PDU) and is tracked until its response; `context` comes back with that Response."""
        command_id = pdu.command_id
        if command_id & RESPONSE_BIT:
            return self._send_response(pdu)
        if command_id not in self._rules.send:
            raise LocalProtocolError(
                f"{self.role.value} may not send {pdu.name} in state {self._state.value}"
            )
        seq = self._next_sequence()
        pdu.sequence_number = seq
        data = encode(pdu)
        self._seq = seq
        if command_id not in NO_RESPONSE:
            self._outstanding[seq] = (command_id, context)
        if command_id == _UNBIND:
            self._enter(UNBINDING)
        return data

    def _send_response(self, pdu: Pdu) -> bytes:
        command_id = pdu.command_id
        if self._state is CLOSED:
            raise LocalProtocolError(f"{pdu.name}: the connection is closed")
        data = encode(pdu)
        if command_id == _UNBIND_RESP:
            self._enter(CLOSED)
        elif self._state is OPEN and pdu.command_status == 0 and command_id in _BIND_RESPONSES:
            self._enter(_BIND_RESPONSES[command_id])
        return data

    def send_submit_sm(
        self,
        template: SubmitSmTemplate,
        destination_addr: str,
        short_message: bytes,
        tlvs: bytes = b"",
        esm_class: int = 0,
        data_coding: int = 0,
        context: Any = None,
    ) -> tuple[int, bytes]:
        """The hot path: one submit_sm from a template and pre-encoded parts.
        Returns (sequence_number, bytes to write)."""
        if _SUBMIT_SM not in self._rules.send:
            raise LocalProtocolError(
                f"{self.role.value} may not send submit_sm in state {self._state.value}"
            )
        seq = self._next_sequence()
        data = template.encode(seq, destination_addr, short_message, tlvs, esm_class, data_coding)
        self._seq = seq
        self._outstanding[seq] = (_SUBMIT_SM, context)
        return seq, data

    def send_encoded_submit_sm(self, data: bytes, context: Any = None) -> tuple[int, bytes]:
        """A submit_sm encoded ahead with sequence_number 0 (`SubmitSmTemplate.encode(0, ...)`
        when a part is queued, so a bad part fails its caller at once): gives it the next
        sequence_number and tracks it as `send_submit_sm` does. Returns (sequence_number,
        bytes to write)."""
        if _SUBMIT_SM not in self._rules.send:
            raise LocalProtocolError(
                f"{self.role.value} may not send submit_sm in state {self._state.value}"
            )
        if data[4:8] != _SUBMIT_SM_ID or len(data) < 16:
            raise LocalProtocolError("send_encoded_submit_sm: the bytes are not a submit_sm")
        seq = self._next_sequence()
        self._seq = seq
        self._outstanding[seq] = (_SUBMIT_SM, context)
        return seq, data[:12] + _SEQUENCE.pack(seq) + data[16:]

    def send_encoded(self, data: bytes, context: Any = None) -> tuple[int, bytes]:
        """Any request already encoded with sequence_number 0 (the simulator packs its
        receipts' deliver_sm itself): checked against the rules, numbered and tracked as
        `send` does. Returns (sequence_number, bytes to write)."""
        if len(data) < 16:
            raise LocalProtocolError("send_encoded: fewer than 16 octets, not a PDU")
        command_id = int.from_bytes(data[4:8], "big")
        if command_id & RESPONSE_BIT:
            raise LocalProtocolError("send_encoded: responses go through send()")
        if command_id not in self._rules.send:
            raise LocalProtocolError(
                f"{self.role.value} may not send {command_name(command_id)} "
                f"in state {self._state.value}"
            )
        seq = self._next_sequence()
        self._seq = seq
        if command_id not in NO_RESPONSE:
            self._outstanding[seq] = (command_id, context)
        if command_id == _UNBIND:
            self._enter(UNBINDING)
        return seq, data[:12] + _SEQUENCE.pack(seq) + data[16:]

    # --- receiving ---------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Bytes from the socket, any amount; then read `events()`."""
        self._reader.feed(data)

    def events(self) -> Iterator[Event]:
        """Every event the data received so far completes."""
        next_event = self.next_event
        while (event := next_event()) is not None:
            yield event

    def next_event(self) -> Event | None:
        """The next event, or None until more data arrives."""
        try:
            pdu = self._reader.next_pdu()
        except RemoteProtocolError as error:
            if error.fatal:
                self._enter(CLOSED)
                raise
            return self._malformed(error)
        if pdu is None:
            return None
        command_id = pdu.command_id
        if command_id & RESPONSE_BIT:
            return self._match(pdu)
        if command_id not in self._rules.receive:
            return self._refuse(pdu)
        if command_id == _UNBIND:
            self._enter(UNBINDING)
        return pdu

    def _match(self, pdu: Pdu) -> Response | StrayResponse:
        seq = pdu.sequence_number
        entry = self._outstanding.pop(seq, None)
        if entry is None:
            return StrayResponse(pdu, f"no request is outstanding with sequence_number {seq}")
        request_id, context = entry
        command_id = pdu.command_id
        if command_id != request_id | RESPONSE_BIT and command_id != _GENERIC_NACK:
            self._outstanding[seq] = entry  # the real answer may still come
            return StrayResponse(
                pdu, f"sequence_number {seq} is a {command_name(request_id)}, not answered by this"
            )
        if request_id == _UNBIND:
            self._enter(CLOSED)
        elif (
            self._state is OPEN
            and request_id in BOUND_BY
            and command_id != _GENERIC_NACK
            and pdu.command_status in _BOUND_STATUSES
        ):
            self._enter(BOUND_BY[request_id])
        return Response(pdu, request_id, context)

    def _refuse(self, pdu: Pdu) -> Violation:
        """A well-formed request this state does not allow: answer it and carry on."""
        command_id = pdu.command_id
        if command_id in _BINDS and self._state in (BOUND_TX, BOUND_RX, BOUND_TRX):
            status = CommandStatus.ESME_RALYBND
        else:
            status = CommandStatus.ESME_RINVBNDSTS
        error = RemoteProtocolError(
            f"{pdu.name} (seq {pdu.sequence_number}) is not allowed to a {self.role.value} "
            f"in state {self._state.value}",
            command_id=command_id,
            sequence_number=pdu.sequence_number,
            reply_command_id=_GENERIC_NACK
            if command_id in NO_RESPONSE
            else command_id | RESPONSE_BIT,
            reply_status=status,
        )
        return Violation(error, pdu, self._reply_pdu(error), None)

    def _malformed(self, error: RemoteProtocolError) -> Violation:
        context = None
        command_id, seq = error.command_id, error.sequence_number
        if command_id is not None and command_id & RESPONSE_BIT and seq is not None:
            entry = self._outstanding.get(seq)
            if entry is not None and (
                command_id == entry[0] | RESPONSE_BIT or command_id == _GENERIC_NACK
            ):
                del self._outstanding[seq]
                context = entry[1]
        return Violation(error, None, self._reply_pdu(error), context)

    def _reply_pdu(self, error: RemoteProtocolError) -> Pdu | None:
        if error.reply_command_id is None or self._state is CLOSED:
            return None
        return Pdu(
            error.reply_command_id,
            command_status=error.reply_status,
            sequence_number=error.sequence_number or 0,
        )
