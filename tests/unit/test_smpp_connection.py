"""The connection state machine, driven by two real Connections talking to each other."""

from __future__ import annotations

import pytest

from herald.errors import LocalProtocolError, RemoteProtocolError
from herald.smpp.codec import SubmitSmTemplate, encode
from herald.smpp.connection import (
    MAX_SEQUENCE,
    RULES,
    Connection,
    Response,
    Role,
    State,
    StrayResponse,
    Violation,
)
from herald.smpp.layouts import LAYOUTS, CommandId, Tag
from herald.smpp.pdu import Pdu
from herald.smpp.status import CommandStatus

C = CommandId
BINDS = {
    State.BOUND_TX: C.BIND_TRANSMITTER,
    State.BOUND_RX: C.BIND_RECEIVER,
    State.BOUND_TRX: C.BIND_TRANSCEIVER,
}
REQUESTS = [cid for cid in LAYOUTS if not cid & 0x80000000]


def one(conn: Connection) -> object:
    events = list(conn.events())
    assert len(events) == 1, events
    return events[0]


def bind(state: State) -> tuple[Connection, Connection]:
    """An ESME and an SMSC bound as `state`, through the real handshake."""
    esme, smsc = Connection(Role.ESME), Connection(Role.SMSC)
    smsc.receive_data(esme.send(Pdu(BINDS[state], system_id="u", password="p"), "bind"))
    request = one(smsc)
    assert isinstance(request, Pdu)
    assert smsc.state is State.OPEN  # bound only once it answers
    esme.receive_data(smsc.send(request.reply(system_id="SMSC")))
    response = one(esme)
    assert isinstance(response, Response) and response.context == "bind"
    assert esme.state is smsc.state is state
    return esme, smsc


def in_state(role: Role, state: State) -> Connection:
    if state is State.OPEN:
        return Connection(role)
    if state is State.CLOSED:
        conn = Connection(role)
        conn.close()
        return conn
    esme, smsc = bind(State.BOUND_TRX if state is State.UNBINDING else state)
    if state is State.UNBINDING:
        esme.send(Pdu(C.UNBIND))
        smsc.receive_data(encode(Pdu(C.UNBIND, sequence_number=99)))
        assert one(smsc).command_id == C.UNBIND  # type: ignore[attr-defined]
    conn = esme if role is Role.ESME else smsc
    assert conn.state is state
    return conn


def test_transceiver_bind_then_submit_and_receipt_both_ways() -> None:
    esme, smsc = bind(State.BOUND_TRX)
    template = SubmitSmTemplate(source_addr="Brand", registered_delivery=1)
    seq, data = esme.send_submit_sm(template, "447700900123", b"hi", context="part-1")
    assert esme.outstanding == 1
    smsc.receive_data(data)
    submit = one(smsc)
    assert isinstance(submit, Pdu) and submit.sequence_number == seq
    esme.receive_data(smsc.send(submit.reply(message_id="C085E0")))
    response = one(esme)
    assert isinstance(response, Response)
    assert (response.request_id, response.context) == (C.SUBMIT_SM, "part-1")
    assert response.pdu["message_id"] == "C085E0"
    assert esme.outstanding == 0
    esme.receive_data(smsc.send(Pdu(C.DELIVER_SM, esm_class=4), context="dlr"))
    receipt = one(esme)
    assert isinstance(receipt, Pdu)
    smsc.receive_data(esme.send(receipt.reply()))
    assert one(smsc).context == "dlr"  # type: ignore[attr-defined]


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("state", list(State))
def test_sending_follows_the_rules_table(role: Role, state: State) -> None:
    allowed = RULES[role, state].send
    for command_id in REQUESTS:
        conn = in_state(role, state)
        pdu = Pdu(command_id)
        if command_id in allowed:
            conn.send(pdu)
            assert pdu.sequence_number >= 1
        else:
            with pytest.raises(LocalProtocolError, match=f"may not send {pdu.name} in state"):
                conn.send(pdu)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("state", list(State))
def test_receiving_follows_the_rules_table(role: Role, state: State) -> None:
    allowed = RULES[role, state].receive
    for command_id in REQUESTS:
        conn = in_state(role, state)
        conn.receive_data(encode(Pdu(command_id, sequence_number=1234)))
        event = one(conn)
        if command_id in allowed:
            assert isinstance(event, Pdu) and event.command_id == command_id
        else:
            assert isinstance(event, Violation), (command_id, event)
            assert "is not allowed to a" in str(event.error)
            assert event.pdu is not None and event.pdu.command_id == command_id


def test_submit_only_from_transmitter_and_transceiver_binds() -> None:
    for state, may in [(State.BOUND_TX, True), (State.BOUND_TRX, True), (State.BOUND_RX, False)]:
        esme, _ = bind(state)
        assert esme.may_send(C.SUBMIT_SM) is may


def test_deliver_sm_on_a_transmitter_bind_is_answered_with_rinvbndsts() -> None:
    esme, smsc = bind(State.BOUND_TX)
    with pytest.raises(LocalProtocolError):
        smsc.send(Pdu(C.DELIVER_SM))  # our own SMSC refuses too
    esme.receive_data(encode(Pdu(C.DELIVER_SM, sequence_number=8)))
    event = one(esme)
    assert isinstance(event, Violation) and event.reply is not None
    assert (event.reply.command_id, event.reply.sequence_number) == (C.DELIVER_SM_RESP, 8)
    assert event.reply.command_status == CommandStatus.ESME_RINVBNDSTS
    esme.send(event.reply)  # answering a refused request is allowed; the bind goes on
    assert esme.state is State.BOUND_TX


def test_submit_on_a_receiver_bind_is_refused_by_the_smsc() -> None:
    _, smsc = bind(State.BOUND_RX)
    smsc.receive_data(encode(Pdu(C.SUBMIT_SM, sequence_number=4)))
    event = one(smsc)
    assert isinstance(event, Violation) and event.reply is not None
    assert event.reply.command_id == C.SUBMIT_SM_RESP
    assert event.reply.command_status == CommandStatus.ESME_RINVBNDSTS


def test_second_bind_is_answered_already_bound() -> None:
    _, smsc = bind(State.BOUND_TX)
    smsc.receive_data(encode(Pdu(C.BIND_RECEIVER, sequence_number=5)))
    event = one(smsc)
    assert isinstance(event, Violation) and event.reply is not None
    assert event.reply.command_id == C.BIND_RECEIVER_RESP
    assert event.reply.command_status == CommandStatus.ESME_RALYBND
    smsc.send(event.reply)
    assert smsc.state is State.BOUND_TX


@pytest.mark.parametrize(
    ("status", "state"),
    [
        (CommandStatus.ESME_RINVPASWD, State.OPEN),
        (CommandStatus.ESME_RBINDFAIL, State.OPEN),
        (CommandStatus.ESME_RALYBND, State.BOUND_TRX),  # Kannel treats it as bound
    ],
)
def test_bind_response_status_decides_the_esme_state(status: int, state: State) -> None:
    esme = Connection(Role.ESME)
    esme.send(Pdu(C.BIND_TRANSCEIVER))
    esme.receive_data(
        encode(Pdu(C.BIND_TRANSCEIVER_RESP, command_status=status, sequence_number=1))
    )
    assert isinstance(one(esme), Response)
    assert esme.state is state


def test_bind_refused_by_generic_nack_stays_open() -> None:
    esme = Connection(Role.ESME)
    esme.send(Pdu(C.BIND_TRANSMITTER))
    esme.receive_data(encode(Pdu(C.GENERIC_NACK, command_status=3, sequence_number=1)))
    event = one(esme)
    assert isinstance(event, Response) and event.request_id == C.BIND_TRANSMITTER
    assert esme.state is State.OPEN


def test_smsc_refusing_a_bind_stays_open() -> None:
    esme, smsc = Connection(Role.ESME), Connection(Role.SMSC)
    smsc.receive_data(esme.send(Pdu(C.BIND_TRANSCEIVER)))
    request = one(smsc)
    assert isinstance(request, Pdu)
    smsc.send(request.reply(CommandStatus.ESME_RINVPASWD))
    assert smsc.state is State.OPEN


def test_outbind_then_bind_receiver() -> None:
    esme, smsc = Connection(Role.ESME), Connection(Role.SMSC)
    esme.receive_data(smsc.send(Pdu(C.OUTBIND, system_id="smsc", password="pw")))
    outbind = one(esme)
    assert isinstance(outbind, Pdu) and outbind.command_id == C.OUTBIND
    assert smsc.outstanding == 0  # outbind has no response
    smsc.receive_data(esme.send(Pdu(C.BIND_RECEIVER)))
    request = one(smsc)
    assert isinstance(request, Pdu)
    esme.receive_data(smsc.send(request.reply()))
    one(esme)
    assert esme.state is smsc.state is State.BOUND_RX


def test_enquire_link_before_the_bind_is_tolerated() -> None:
    smsc = Connection(Role.SMSC)
    smsc.receive_data(encode(Pdu(C.ENQUIRE_LINK, sequence_number=3)))
    link = one(smsc)
    assert isinstance(link, Pdu)
    assert smsc.send(link.reply()) == bytes.fromhex("00000010800000150000000000000003")


def test_unbind_we_start() -> None:
    esme, smsc = bind(State.BOUND_TRX)
    smsc.receive_data(esme.send(Pdu(C.UNBIND)))
    assert esme.state is State.UNBINDING
    with pytest.raises(LocalProtocolError, match="may not send submit_sm in state unbinding"):
        esme.send(Pdu(C.SUBMIT_SM))
    unbind = one(smsc)
    assert isinstance(unbind, Pdu) and smsc.state is State.UNBINDING
    esme.receive_data(smsc.send(unbind.reply()))
    assert smsc.state is State.CLOSED
    assert isinstance(one(esme), Response)
    assert esme.state is State.CLOSED
    with pytest.raises(LocalProtocolError, match="the connection is closed"):
        esme.send(Pdu(C.ENQUIRE_LINK_RESP))


def test_deliver_sm_crossing_our_unbind_is_refused_so_the_smsc_redelivers() -> None:
    esme, _ = bind(State.BOUND_TRX)
    esme.send(Pdu(C.UNBIND))
    esme.receive_data(encode(Pdu(C.DELIVER_SM, sequence_number=50)))
    event = one(esme)
    assert isinstance(event, Violation) and event.reply is not None
    assert event.reply.command_status == CommandStatus.ESME_RINVBNDSTS
    esme.send(event.reply)  # responses may still go out while unbinding


def test_crossing_unbinds() -> None:
    esme, smsc = bind(State.BOUND_TRX)
    to_smsc = esme.send(Pdu(C.UNBIND))
    to_esme = smsc.send(Pdu(C.UNBIND))
    esme.receive_data(to_esme)
    unbind = one(esme)
    assert isinstance(unbind, Pdu)
    smsc.receive_data(to_smsc + esme.send(unbind.reply()))
    events = list(smsc.events())
    assert [type(e) for e in events] == [Pdu, Response]
    assert smsc.state is State.CLOSED and esme.state is State.CLOSED


def test_sequence_numbers_wrap_from_0x7fffffff_to_1_skipping_outstanding() -> None:
    esme, _ = bind(State.BOUND_TRX)
    esme._seq = MAX_SEQUENCE - 2  # as if 2**31 - 3 requests had gone out
    template = SubmitSmTemplate()
    seqs = [esme.send_submit_sm(template, "1", b"")[0] for _ in range(3)]
    assert seqs == [MAX_SEQUENCE - 1, MAX_SEQUENCE, 1]
    # seq 2 went out as the bind... long answered; make 2 and 3 outstanding now
    assert esme.send(Pdu(C.ENQUIRE_LINK)).endswith(b"\x00\x00\x00\x02")
    esme._seq = MAX_SEQUENCE
    assert esme.send_submit_sm(template, "1", b"")[0] == 3  # 1 and 2 are still outstanding


def test_responses_are_matched_out_of_order() -> None:
    esme, smsc = bind(State.BOUND_TX)
    template = SubmitSmTemplate()
    sent = [esme.send_submit_sm(template, "1", b"", context=f"p{i}") for i in range(3)]
    smsc.receive_data(b"".join(data for _, data in sent))
    received = list(smsc.events())
    submits = [s for s in received if isinstance(s, Pdu)]
    assert submits == received
    answers = [submits[2], submits[0], submits[1]]
    esme.receive_data(
        b"".join(smsc.send(s.reply(message_id=f"id{s.sequence_number}")) for s in answers)
    )
    events = list(esme.events())
    assert [e.context for e in events] == ["p2", "p0", "p1"]  # type: ignore[union-attr]
    assert esme.outstanding == 0


def test_unknown_sequence_number_is_reported_not_fatal() -> None:
    esme, _ = bind(State.BOUND_TRX)
    esme.receive_data(encode(Pdu(C.SUBMIT_SM_RESP, sequence_number=777, message_id="x")))
    event = one(esme)
    assert isinstance(event, StrayResponse)
    assert "no request is outstanding with sequence_number 777" in event.reason
    esme.receive_data(encode(Pdu(C.GENERIC_NACK, command_status=2, sequence_number=778)))
    assert isinstance(one(esme), StrayResponse)
    assert esme.state is State.BOUND_TRX


def test_response_of_the_wrong_type_leaves_the_request_outstanding() -> None:
    esme, _ = bind(State.BOUND_TRX)
    seq, _ = esme.send_submit_sm(SubmitSmTemplate(), "1", b"", context="c")
    esme.receive_data(encode(Pdu(C.QUERY_SM_RESP, sequence_number=seq)))
    event = one(esme)
    assert isinstance(event, StrayResponse) and "is a submit_sm" in event.reason
    assert esme.outstanding == 1


def test_generic_nack_answers_the_submit_it_matches() -> None:
    esme, _ = bind(State.BOUND_TRX)
    seq, _ = esme.send_submit_sm(SubmitSmTemplate(), "1", b"", context="c")
    esme.receive_data(encode(Pdu(C.GENERIC_NACK, command_status=0x58, sequence_number=seq)))
    event = one(esme)
    assert isinstance(event, Response) and event.context == "c"
    assert event.pdu.command_status == 0x58


def test_malformed_response_gives_back_its_request_context() -> None:
    esme, _ = bind(State.BOUND_TRX)
    seq, _ = esme.send_submit_sm(SubmitSmTemplate(), "1", b"", context="c")
    bad = bytes.fromhex(f"00000013 80000004 00000000 {seq:08x} 616263")  # message_id, no NUL
    esme.receive_data(bad)
    event = one(esme)
    assert isinstance(event, Violation)
    assert event.context == "c" and event.reply is None
    assert esme.outstanding == 0 and esme.state is State.BOUND_TRX


def test_malformed_request_is_answered_and_the_stream_goes_on() -> None:
    esme, _ = bind(State.BOUND_TRX)
    bad = bytes.fromhex("00000014 00000005 00000000 0000000a 00 01 01 31")  # no NUL
    esme.receive_data(bad + encode(Pdu(C.ENQUIRE_LINK, sequence_number=11)))
    events = list(esme.events())
    assert isinstance(events[0], Violation) and events[0].reply is not None
    assert events[0].reply.command_id == C.DELIVER_SM_RESP
    assert events[0].reply.command_status == CommandStatus.ESME_RINVSRCADR
    assert isinstance(events[1], Pdu)


def test_unknown_command_is_generic_nacked() -> None:
    _, smsc = bind(State.BOUND_TRX)
    smsc.receive_data(bytes.fromhex("00000010 00000021 00000000 00000006"))
    event = one(smsc)
    assert isinstance(event, Violation) and event.reply is not None
    assert event.reply.command_id == C.GENERIC_NACK
    assert event.reply.command_status == CommandStatus.ESME_RINVCMDID
    assert smsc.send(event.reply) == bytes.fromhex("00000010800000000000000300000006")


def test_bad_command_length_raises_fatal_and_closes() -> None:
    esme, _ = bind(State.BOUND_TRX)
    esme.send_submit_sm(SubmitSmTemplate(), "1", b"", context="c")
    esme.receive_data(bytes.fromhex("00000008 00000004 00000000 00000001"))
    with pytest.raises(RemoteProtocolError) as info:
        list(esme.events())
    assert info.value.fatal and esme.state is State.CLOSED
    assert esme.close() == [(2, C.SUBMIT_SM, "c")]


def test_close_returns_unanswered_requests_and_forget_makes_late_answers_stray() -> None:
    esme, _ = bind(State.BOUND_TRX)
    seq_a, _ = esme.send_submit_sm(SubmitSmTemplate(), "1", b"", context="a")
    seq_b, _ = esme.send_submit_sm(SubmitSmTemplate(), "1", b"", context="b")
    assert esme.forget(seq_a) == "a"
    assert esme.forget(seq_a) is None
    esme.receive_data(encode(Pdu(C.SUBMIT_SM_RESP, sequence_number=seq_a)))
    assert isinstance(one(esme), StrayResponse)
    assert esme.close() == [(seq_b, C.SUBMIT_SM, "b")]
    assert esme.state is State.CLOSED and esme.outstanding == 0


def test_requests_after_close_get_no_reply() -> None:
    esme = Connection(Role.ESME)
    esme.close()
    esme.receive_data(encode(Pdu(C.DELIVER_SM, sequence_number=1)))
    event = one(esme)
    assert isinstance(event, Violation) and event.reply is None


def test_encode_failure_sends_nothing_and_tracks_nothing() -> None:
    esme, _ = bind(State.BOUND_TRX)
    with pytest.raises(LocalProtocolError):
        esme.send(Pdu(C.SUBMIT_SM, short_message=b"x" * 300))
    with pytest.raises(LocalProtocolError):
        esme.send_submit_sm(SubmitSmTemplate(), "1" * 30, b"")
    assert esme.outstanding == 0
    seq, _ = esme.send_submit_sm(SubmitSmTemplate(), "1", b"")
    assert seq == 2  # no sequence number was burnt


def test_data_sm_both_directions_on_a_transceiver() -> None:
    esme, smsc = bind(State.BOUND_TRX)
    smsc.receive_data(esme.send(Pdu(C.DATA_SM, tlvs={Tag.MESSAGE_PAYLOAD: b"x"})))
    assert isinstance(one(smsc), Pdu)
    esme.receive_data(smsc.send(Pdu(C.DATA_SM)))
    assert isinstance(one(esme), Pdu)


@pytest.mark.parametrize("state", [State.BOUND_TX, State.BOUND_RX, State.BOUND_TRX])
def test_a_bind_tracked_under_its_plain_command_id_binds(state: State) -> None:
    # send_encoded tracks a request under the int it reads from the bytes, not a CommandId:
    # the bind's answer must still move the ESME to the bound state.
    esme = Connection(Role.ESME)
    seq, _ = esme.send_encoded(encode(Pdu(int(BINDS[state]), system_id="u", password="p")))
    esme.receive_data(encode(Pdu(BINDS[state] | 0x80000000, sequence_number=seq)))
    event = one(esme)
    assert isinstance(event, Response) and type(event.request_id) is int
    assert esme.state is state
