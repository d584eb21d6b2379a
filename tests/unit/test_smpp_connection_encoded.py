"""Connection.send_encoded_submit_sm: a submit_sm encoded when queued, numbered when written."""

from __future__ import annotations

import pytest

from herald.errors import LocalProtocolError
from herald.smpp.codec import SubmitSmTemplate, decode, encode
from herald.smpp.connection import Connection, Response, Role, State
from herald.smpp.layouts import CommandId
from herald.smpp.pdu import Pdu

TEMPLATE = SubmitSmTemplate(source_addr="Brand", source_addr_ton=5, registered_delivery=1)


def bound_pair() -> tuple[Connection, Connection]:
    esme, smsc = Connection(Role.ESME), Connection(Role.SMSC)
    smsc.receive_data(esme.send(Pdu(CommandId.BIND_TRANSCEIVER, system_id="u", password="p")))
    (bind,) = list(smsc.events())
    assert isinstance(bind, Pdu)
    esme.receive_data(smsc.send(bind.reply(system_id="S")))
    list(esme.events())
    assert esme.state is State.BOUND_TRX
    return esme, smsc


def test_encoded_submit_gets_the_next_sequence_and_its_response_matches() -> None:
    esme, smsc = bound_pair()
    queued = TEMPLATE.encode(0, "447700900123", b"hello", esm_class=0x40, data_coding=8)
    seq, data = esme.send_encoded_submit_sm(queued, context="part-1")
    assert seq == 2  # the bind took 1
    assert data == TEMPLATE.encode(seq, "447700900123", b"hello", esm_class=0x40, data_coding=8)
    assert decode(data).sequence_number == seq and esme.outstanding == 1
    smsc.receive_data(data)
    (request,) = list(smsc.events())
    assert isinstance(request, Pdu)
    esme.receive_data(smsc.send(request.reply(message_id="abc")))
    (response,) = list(esme.events())
    assert isinstance(response, Response) and response.context == "part-1"
    assert esme.outstanding == 0


def test_the_same_bytes_may_be_sent_again_with_a_new_sequence() -> None:
    esme, _ = bound_pair()
    queued = TEMPLATE.encode(0, "1", b"x")
    first, _ = esme.send_encoded_submit_sm(queued)
    second, data = esme.send_encoded_submit_sm(queued)
    assert second == first + 1 and decode(data).sequence_number == second


def test_refused_when_not_bound_or_not_a_submit_sm() -> None:
    esme = Connection(Role.ESME)
    with pytest.raises(LocalProtocolError, match="may not send submit_sm in state open"):
        esme.send_encoded_submit_sm(TEMPLATE.encode(0, "1", b""))
    esme, _ = bound_pair()
    enquire = Pdu(CommandId.ENQUIRE_LINK)
    with pytest.raises(LocalProtocolError, match="not a submit_sm"):
        esme.send_encoded_submit_sm(encode(enquire))
    assert esme.outstanding == 0
