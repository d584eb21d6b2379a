"""herald's session against smpp34's SMSC (`smpp34.Server`, a Rust SMPP 3.4 core nobody here
wrote): bind, submits accepted and rejected, the window measured at the peer, receipts
acknowledged only once on_deliver is done, an SMSC-initiated unbind, and our unbind.

smpp34's methods return Futures, not coroutines; the server is stopped before the loop ends.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from herald.smpp.pdu import Pdu
from herald.smpp.receipts import parse_receipt
from herald.smpp.session import Session, SessionSettings
from herald.smpp.submit import SubmitOutcome

smpp34 = pytest.importorskip("smpp34")

ACCEPTED, REJECTED = SubmitOutcome.ACCEPTED, SubmitOutcome.REJECTED


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
async def server() -> AsyncIterator[tuple[object, int]]:
    port = free_port()
    smsc = smpp34.Server("127.0.0.1", port, system_id="SMPP34")
    await smsc.start()
    try:
        yield smsc, port
    finally:
        await smsc.stop()


@pytest.fixture
async def closing() -> AsyncIterator[list[Session]]:
    """Sessions to close at the end, whatever happened (before the server stops)."""
    sessions: list[Session] = []
    yield sessions
    for session in sessions:
        await session.close(drain_timeout=1)


def settings(port: int, **overrides: object) -> SessionSettings:
    values: dict = dict(
        name="smpp34",
        host="127.0.0.1",
        port=port,
        system_id="herald",
        password="pw",
        rate=1e6,
        burst=1000,
    )
    values.update(overrides)
    return SessionSettings(**values)


def submit(session: Session, destination: str, text: bytes = b"hello") -> asyncio.Future:
    return session.submit(
        source_addr="Herald",
        source_ton=5,
        source_npi=0,
        destination_addr=destination,
        short_message=text,
    )


async def next_event(smsc: object, kind: str) -> object:
    event = await asyncio.wait_for(smsc.next(), 10)  # type: ignore[attr-defined]
    assert type(event).__name__ == kind, event
    return event


async def test_bind_submit_receipt_and_unbind(
    server: tuple[object, int], closing: list[Session]
) -> None:
    smsc, port = server
    loop = asyncio.get_running_loop()
    kept: list[Pdu] = []
    called, release = loop.create_future(), loop.create_future()

    async def on_deliver(pdu: Pdu) -> int:
        kept.append(pdu)
        called.set_result(None)
        await release
        return 0

    session = Session(settings(port), on_deliver=on_deliver)
    closing.append(session)
    await session.start()
    esme = await next_event(smsc, "Esme")
    assert esme.system_id == "herald" and esme.can_receive  # type: ignore[attr-defined]
    await session.wait_bound(10)

    accepted = submit(session, "447700900123", "héllo".encode("latin-1"))
    event = await next_event(smsc, "SubmitSmEvent")
    assert (event.source_addr, event.source_addr_ton, event.destination_addr) == (  # type: ignore[attr-defined]
        "Herald",
        5,
        "447700900123",
    )
    assert event.short_message == "héllo".encode("latin-1")  # type: ignore[attr-defined]
    assert event.registered_delivery == 1  # type: ignore[attr-defined]
    event.accept("0a1b2c")  # type: ignore[attr-defined]
    result = await accepted
    assert result.outcome is ACCEPTED and result.message_id == "0a1b2c"

    rejected = submit(session, "447700900124")
    (await next_event(smsc, "SubmitSmEvent")).reject(0x0B)  # type: ignore[attr-defined]
    result = await rejected
    assert result.outcome is REJECTED and result.status_name == "ESME_RINVDSTADR"

    temporary = submit(session, "447700900125")
    (await next_event(smsc, "SubmitSmEvent")).reject(smpp34.ESME_RSYSERR)  # type: ignore[attr-defined]
    result = await temporary
    assert result.outcome is SubmitOutcome.RETRY and result.status_name == "ESME_RSYSERR"

    # a receipt, acknowledged only after on_deliver has kept it
    text = (
        b"id:0A1B2C sub:001 dlvrd:001 submit date:2401011200 done date:2401011201 "
        b"stat:DELIVRD err:000 text:hello"
    )
    acked = asyncio.ensure_future(
        esme.deliver_sm(  # type: ignore[attr-defined]
            "Herald",
            text,
            source_addr="447700900123",
            esm_class=0x04,
            tlvs=[
                smpp34.Tlv(smpp34.TLV_RECEIPTED_MESSAGE_ID, b"0a1b2c\0"),
                smpp34.Tlv(smpp34.TLV_MESSAGE_STATE, b"\x02"),
            ],
        )
    )
    await called
    for _ in range(50):  # the answer waits for on_deliver, however many loop turns pass
        await asyncio.sleep(0)
    assert not acked.done()
    release.set_result(None)
    response = await asyncio.wait_for(acked, 10)
    assert response.is_success and response.command_status == 0
    parsed = parse_receipt(kept[0])  # matched to its submit by canonical id
    assert parsed is not None and parsed.state == "DELIVRD" and parsed.id_from_tlv
    assert parsed.canonical_id("as_is") == "A1B2C" == (await accepted).canonical_id

    unbinding = asyncio.ensure_future(session.close())
    await next_event(smsc, "Unbound")
    await unbinding
    assert session.state == "closed"


async def test_window_is_enforced_at_the_peer(
    server: tuple[object, int], closing: list[Session]
) -> None:
    smsc, port = server
    session = Session(settings(port, window=5))
    closing.append(session)
    await session.start()
    await next_event(smsc, "Esme")
    await session.wait_bound(10)
    futures = [submit(session, f"4477009{i:05d}") for i in range(40)]
    held: list[object] = []
    seen: list[str] = []
    while len(seen) < 40:
        event = await next_event(smsc, "SubmitSmEvent")
        seen.append(event.destination_addr)  # type: ignore[attr-defined]
        held.append(event)
        assert len(held) <= 5, "more than `window` submit_sm outstanding at the SMSC"
        if len(held) == 5 or len(seen) == 40:
            held.pop(0).accept(f"id{len(seen)}")  # type: ignore[attr-defined]
    for event in held:
        event.accept("last")  # type: ignore[attr-defined]
    results = await asyncio.gather(*futures)
    # smpp34 hands PDUs that arrived together to Python in any order: FIFO on the wire is
    # checked against the scripted SMSC (tests/integration/test_session.py)
    assert sorted(seen) == [f"4477009{i:05d}" for i in range(40)]
    assert all(r.outcome is ACCEPTED for r in results)
    await session.close()


async def test_smsc_unbind_is_answered_and_the_session_binds_again(
    server: tuple[object, int], closing: list[Session]
) -> None:
    smsc, port = server
    session = Session(settings(port, reconnect_min=0.05, reconnect_max=0.1))
    closing.append(session)
    await session.start()
    esme = await next_event(smsc, "Esme")
    await session.wait_bound(10)
    unbinding = asyncio.ensure_future(esme.unbind())  # type: ignore[attr-defined]
    await next_event(smsc, "Unbound")
    await asyncio.wait_for(unbinding, 10)  # our unbind_resp arrived
    await next_event(smsc, "Esme")  # bound again after the backoff
    await session.wait_bound(10)
    pending = submit(session, "447700900123")
    (await next_event(smsc, "SubmitSmEvent")).accept("again")  # type: ignore[attr-defined]
    assert (await pending).message_id == "again"
    await session.close()
