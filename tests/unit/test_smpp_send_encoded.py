"""Connection.send_encoded: a request packed elsewhere (the simulator's receipts), numbered and
tracked by the connection exactly as `send` would."""

from __future__ import annotations

import pytest

from herald.errors import LocalProtocolError
from herald.smpp import CommandId, Connection, Pdu, Response, Role, State, encode

C = CommandId


def bound_smsc(bind: CommandId = C.BIND_TRANSCEIVER) -> Connection:
    conn = Connection(Role.SMSC)
    conn.receive_data(encode(Pdu(bind, sequence_number=1, system_id="a", password="b")))
    (request,) = conn.events()
    assert isinstance(request, Pdu)
    conn.send(request.reply(system_id="smsc"))
    return conn


def test_send_encoded_numbers_tracks_and_matches_like_send() -> None:
    conn = bound_smsc()
    deliver = Pdu(C.DELIVER_SM, source_addr="447700900123", esm_class=4, short_message=b"x")
    seq, data = conn.send_encoded(encode(deliver), context="receipt 1")
    deliver.sequence_number = seq
    assert seq == 1 and data == encode(deliver) and conn.outstanding == 1
    conn.receive_data(encode(Pdu(C.DELIVER_SM_RESP, sequence_number=seq)))
    (event,) = conn.events()
    assert isinstance(event, Response) and event.context == "receipt 1"
    assert conn.outstanding == 0


def test_send_encoded_follows_the_rules_and_the_unbind_transition() -> None:
    transmitter = bound_smsc(C.BIND_TRANSMITTER)
    with pytest.raises(LocalProtocolError, match="may not send deliver_sm in state bound_tx"):
        transmitter.send_encoded(encode(Pdu(C.DELIVER_SM)))
    with pytest.raises(LocalProtocolError, match="responses go through send"):
        transmitter.send_encoded(encode(Pdu(C.ENQUIRE_LINK_RESP)))
    with pytest.raises(LocalProtocolError, match="not a PDU"):
        transmitter.send_encoded(b"\x00\x00")
    transmitter.send_encoded(encode(Pdu(C.UNBIND)))
    assert transmitter.state is State.UNBINDING and transmitter.outstanding == 1
