"""The session against every personality of herald's SMSC simulator, each with the assertions
that personality is there for. The session runs on fake time (timeouts, throttle pauses and
reconnect backoff pass when the test says); so does the simulator's throttle bucket."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from herald.metrics import BindStats
from herald.simulator import PERSONALITIES, Delay, Simulator, personality_settings
from herald.smpp.pdu import Pdu
from herald.smpp.receipts import Receipt, parse_receipt
from herald.smpp.session import Session, SessionSettings
from herald.smpp.submit import SubmitOutcome, SubmitResult
from herald.text import encode_message

from .session_support import FakeTime, settle, shut

ACCEPTED, REJECTED, RETRY = SubmitOutcome.ACCEPTED, SubmitOutcome.REJECTED, SubmitOutcome.RETRY
UNKNOWN, NOT_SENT = SubmitOutcome.UNKNOWN, SubmitOutcome.NOT_SENT
TESTED: set[str] = set()


def personality(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    TESTED.add(name)
    return pytest.mark.parametrize("spec", [name])


class Link:
    """One simulator, one session on fake time, and the receipts the session handed over."""

    def __init__(self, sim: Simulator, session: Session, time: FakeTime, stats: BindStats) -> None:
        self.sim, self.session, self.time, self.stats = sim, session, time, stats
        self.receipts: list[Receipt] = []
        self.received = asyncio.Event()
        self.probe: Callable[[], Any] | None = None  # called in on_deliver

    def submit(
        self,
        destination: str,
        short_message: bytes = b"hello",
        *,
        esm_class: int = 0,
        data_coding: int = 0,
        tlvs: bytes = b"",
    ) -> asyncio.Future[SubmitResult]:
        return self.session.submit(
            source_addr="Herald",
            source_ton=5,
            source_npi=0,
            destination_addr=destination,
            esm_class=esm_class,
            data_coding=data_coding,
            short_message=short_message,
            tlvs=tlvs,
        )

    def submit_text(self, destination: str, text: str) -> list[asyncio.Future[SubmitResult]]:
        message = encode_message(text)
        return [
            self.submit(
                destination,
                p.short_message,
                esm_class=message.esm_class,
                data_coding=message.data_coding,
                tlvs=p.tlvs,
            )
            for p in message.parts
        ]

    async def until(
        self,
        done: Callable[[], bool],
        step: float = 0.5,
        limit: float = 120.0,
    ) -> None:
        """Advance fake time in steps (letting real socket I/O through) until `done()`."""
        spent = 0.0
        while not done():
            if spent > limit:
                raise AssertionError(f"not done after {limit}s of fake time")
            await self.time.advance(step)
            await self.sim.wait_for(lambda s: True, timeout=1)
            await settle()
            spent += step

    async def receipts_for(
        self, results: list[SubmitResult], mode: str = "as_is", final: bool = True
    ) -> dict[str, Receipt]:
        wanted = {r.canonical_id for r in results}

        def have() -> dict[str, Receipt]:
            return {r.canonical_id(mode): r for r in self.receipts if r.final or not final}

        async def wait() -> None:
            while not wanted <= have().keys():
                self.received.clear()
                await self.received.wait()

        await asyncio.wait_for(wait(), 10)
        return have()


@pytest.fixture
async def link(spec: str) -> AsyncIterator[Callable[..., Awaitable[Link]]]:
    """link(simulator overrides, **session settings) -> a bound Link; all stopped after."""
    made: list[Link] = []
    time = FakeTime()

    async def make(sim_overrides: dict[str, Any] | None = None, **session: Any) -> Link:
        sim = Simulator(
            personality_settings(spec, seed=1, **(sim_overrides or {})), clock=time.clock
        )
        host, port = await sim.start()
        values: dict[str, Any] = dict(
            name=spec,
            host=host,
            port=port,
            system_id="herald",
            password="secret",
            window=10,
            rate=1e6,
            burst=10_000,
            response_timeout=10.0,
            reconnect_min=1.0,
            reconnect_max=4.0,
        )
        values.update(session)
        stats = BindStats(spec)
        holder: list[Link] = []

        async def on_deliver(pdu: Pdu) -> int:
            receipt = parse_receipt(pdu)
            if holder[0].probe is not None:
                holder[0].probe()
            if receipt is not None:
                holder[0].receipts.append(receipt)
                holder[0].received.set()
            return 0

        s = Session(
            SessionSettings(**values),
            on_deliver=on_deliver,
            stats=stats,
            clock=time.clock,
            sleep=time.sleep,
            rng=random.Random(2),
        )
        result = Link(sim, s, time, stats)
        holder.append(result)
        made.append(result)
        await s.start()
        await s.wait_bound(5)
        return result

    yield make
    for made_link in made:
        await shut(made_link.session, time)
        await made_link.sim.stop()


def test_every_personality_is_tested() -> None:
    assert set(PERSONALITIES) == TESTED, sorted(set(PERSONALITIES) ^ TESTED)


@personality("happy")
async def test_happy(link: Callable[..., Awaitable[Link]], spec: str) -> None:
    ln = await link()
    text = "Grüße from herald 😀 " * 5  # UCS-2, more than one part
    parts = len(encode_message(text).parts)
    results = list(await asyncio.gather(*ln.submit_text("447911123456", text)))
    assert parts > 1 and [r.outcome for r in results] == [ACCEPTED] * parts
    receipts = await ln.receipts_for(results)
    assert {receipts[r.canonical_id].state for r in results} == {"DELIVRD"}
    await ln.sim.wait_for_receipts_acked(parts)
    assert ln.sim.submits[-1].message_text == text  # the parts reassemble at the SMSC
    assert ln.stats.submits["ok"] == parts and ln.stats.segments_sent == parts


@personality("black_hole")
async def test_black_hole(link: Callable[..., Awaitable[Link]], spec: str) -> None:
    states: list[str] = []
    ln = await link(response_timeout=5.0, max_timeouts=3)

    def state() -> str:  # the bind's state, recorded each time the metrics read it
        states.append(ln.session.state)
        return ln.session.state

    ln.session.stats.state = state
    futures = [ln.submit(f"44791112345{i}") for i in range(5)]
    await ln.sim.wait_for_submits(5)
    await ln.time.advance(4.0)
    assert not any(f.done() for f in futures)
    await ln.time.advance(1.5)
    # written, never answered: unknown; and three in a row take the bind out of rotation
    assert [f.result().outcome for f in futures] == [UNKNOWN] * 5
    assert not ln.session.in_rotation and ln.stats.out_of_rotation == 1
    assert ln.stats.timeouts == 5 and ln.session.state != "bound"
    # reconnected, the bind is probed with an enquire_link, then trusted with one submit
    await ln.until(lambda: ln.session.bound)
    assert ln.sim.stats.binds == 2 and ln.sim.stats.enquire_links >= 1
    trial = [ln.submit(f"44791112346{i}") for i in range(3)]
    await ln.sim.wait_for_submits(6)
    await ln.time.advance(1.0)
    assert ln.sim.stats.submits == 6 and ln.session.queued == 2  # one at a time
    await ln.time.advance(4.5)  # the trial submit goes unanswered too: out again
    assert [f.result().outcome for f in trial] == [UNKNOWN, NOT_SENT, NOT_SENT]
    assert not ln.session.in_rotation and ln.stats.out_of_rotation == 1
    # the carrier recovers: the next probe and trial pass, and the bind is back in rotation
    ln.sim.set_personality("happy")
    await ln.until(lambda: ln.session.bound)
    back = await asyncio.gather(*(ln.submit(f"44791112347{i}") for i in range(10)))
    assert [r.outcome for r in back] == [ACCEPTED] * 10
    assert ln.session.in_rotation and ln.sim.stats.binds == 3
    assert ln.stats.reconnects >= 2


async def against_a_rate_limit(ln: Link, parts: int) -> float:
    """Send `parts` through a bind limited to 100/s by the SMSC; every part accepted in
    order. Returns the accepted rate over the second half, as a share of the limit."""
    destinations = [f"4479111{i:05d}" for i in range(parts)]
    answered: list[float] = []
    futures = [ln.submit(d) for d in destinations]
    for future in futures:
        future.add_done_callback(lambda _: answered.append(ln.time.now))
    await ln.until(lambda: all(f.done() for f in futures), step=0.25, limit=3 * parts / 100)
    assert [f.result().outcome for f in futures] == [ACCEPTED] * parts
    accepted = [r.destination_addr for r in ln.sim.submits if r.status == 0]
    assert accepted == destinations  # refused parts went out again first: order held
    half = answered[parts // 2]
    return (len(answered) - parts // 2) / (answered[-1] - half) / 100.0


@personality("throttling")
async def test_throttling(link: Callable[..., Awaitable[Link]], spec: str) -> None:
    # ten times the carrier's rate configured: the bind settles just under the carrier's
    # 100/s (it settled at 55/s, halving and pausing 1 s at each refusal)
    ln = await link(rate=1000.0, burst=50)
    share = await against_a_rate_limit(ln, 1200)
    assert 0.9 <= share <= 1.05, share
    assert ln.sim.stats.throttled >= 1 and ln.stats.throttle_events == ln.sim.stats.throttled
    assert 80.0 <= ln.session.rate <= 120.0


@personality("queue_full")
async def test_queue_full(link: Callable[..., Awaitable[Link]], spec: str) -> None:
    # the same with ESME_RMSGQFUL: short pauses, not 5 s a refusal (it settled at 18.5/s)
    ln = await link(rate=1000.0, burst=50)
    share = await against_a_rate_limit(ln, 1200)
    assert 0.9 <= share <= 1.05, share
    assert ln.sim.stats.submits_by_status.get(0x14, 0) >= 1


@personality("generic_nack")
async def test_generic_nack(link: Callable[..., Awaitable[Link]], spec: str) -> None:
    ln = await link(window=3, nack_reconnect_after=3)
    results = await asyncio.gather(*(ln.submit(f"44791112345{i}") for i in range(9)))
    assert {(r.outcome, r.status_name) for r in results} == {(REJECTED, "ESME_RINVCMDID")}
    # each nack answered its own submit: the stream is in step, the link stays
    await ln.time.advance(5.0)
    assert ln.sim.stats.binds == 1 and ln.stats.reconnects == 0 and ln.session.bound


@personality("nack_per_message")
async def test_nack_per_message(link: Callable[..., Awaitable[Link]], spec: str) -> None:
    ln = await link(window=10, nack_reconnect_after=3)
    results = await asyncio.gather(*(ln.submit(f"4479111{i:05d}") for i in range(60)))
    nacked = [r for r in results if r.outcome is REJECTED]
    assert {(r.command_status, r.status_name) for r in nacked} == {(0x03, "ESME_RINVCMDID")}
    assert len(nacked) == ln.sim.stats.generic_nacks >= 10  # seeded: about a third
    assert len(nacked) + sum(r.outcome is ACCEPTED for r in results) == 60
    assert ln.sim.stats.binds == 1 and ln.stats.reconnects == 0  # nacks in a row, link kept


@personality("unbind_on_submit")
async def test_unbind_on_submit(link: Callable[..., Awaitable[Link]], spec: str) -> None:
    # A window of 10 in one write: the SMSC takes 5, unbinds, and refuses the other 5 (they
    # reached it after its unbind). Read after the unbind, the refusals say "not sent":
    # nothing is unknown (all 5 were).
    ln = await link(window=10)
    futures = [ln.submit(f"4479111{i:05d}") for i in range(12)]
    await asyncio.gather(*futures)
    outcomes = [f.result().outcome for f in futures]
    assert outcomes == [ACCEPTED] * 5 + [NOT_SENT] * 7
    assert ln.sim.stats.unbinds_sent == 1
    await ln.until(lambda: ln.session.bound and ln.sim.stats.binds >= 2)
    assert (await ln.submit("447911199999")).outcome is ACCEPTED


@personality("unbind_mid_window")
async def test_unbind_mid_window(link: Callable[..., Awaitable[Link]], spec: str) -> None:
    # The SMSC answers 20 ms late and unbinds after its 5th answer: the answers it owed for
    # the rest of the window come after its unbind (accepted: the SMSC took them), then its
    # refusals of what reached it after the unbind. As a dispatcher would, resend what was
    # not sent until everything is accepted: nothing unknown, nothing sent twice.
    ln = await link(window=10)
    pending = [f"4479111{i:05d}" for i in range(40)]
    unknown: list[str] = []
    for _ in range(20):
        if not pending:
            break
        await ln.until(lambda: ln.session.bound)
        batch = {d: ln.submit(d) for d in pending}
        await asyncio.gather(*batch.values())
        unknown += [d for d, f in batch.items() if f.result().outcome is UNKNOWN]
        pending = [d for d, f in batch.items() if f.result().outcome is NOT_SENT]
    assert not pending and not unknown
    accepted = [r.destination_addr for r in ln.sim.submits if r.status == 0]
    assert sorted(accepted) == [f"4479111{i:05d}" for i in range(40)]  # each exactly once
    # At most a window of 10 a link: 5 answered before each unbind, 5 after it (they were
    # unknown once); fewer when a loaded machine writes the window in pieces that reach the
    # SMSC after its unbind (refused, not_sent, sent again on the next link).
    assert ln.sim.stats.unbinds_sent >= 4 and ln.sim.stats.duplicate_messages == 0


@personality("vendor_status")
async def test_vendor_status(link: Callable[..., Awaitable[Link]], spec: str) -> None:
    ln = await link()
    results = await asyncio.gather(*(ln.submit(f"4479111{i:05d}") for i in range(20)))
    vendor = [r for r in results if r.command_status == 0x401]
    assert vendor and all(
        r.outcome is REJECTED and r.status_name == "vendor_0x00000401" for r in vendor
    )
    assert len(vendor) + sum(r.outcome is ACCEPTED for r in results) == 20
    assert ln.sim.stats.connections == 1  # a vendor status never drops the bind
    # a carrier that documents 0x401 as temporary: the bind's table says so
    again = await link(temporary_statuses=(0x401,))
    results = await asyncio.gather(*(again.submit(f"4479222{i:05d}") for i in range(20)))
    assert {r.outcome for r in results if r.command_status == 0x401} == {RETRY}


@personality("early_receipt")
async def test_early_receipt(link: Callable[..., Awaitable[Link]], spec: str) -> None:
    ln = await link(window=1)
    seen: list[bool] = []  # when on_deliver runs: has the submitter seen its submit_sm_resp yet?
    resolved = False
    ln.probe = lambda: seen.append(resolved)

    async def submitter() -> SubmitResult:
        nonlocal resolved
        result = await ln.submit("447911123456")
        resolved = True
        return result

    result = await submitter()
    # the receipt reached on_deliver before the submitter saw its submit_sm_resp: the race
    # the tracker must tolerate (orphan receipts, matched later by canonical id)
    assert seen == [False]
    receipts = await ln.receipts_for([result])
    assert receipts[result.canonical_id].state == "DELIVRD"  # matched by canonical id


@personality("flaky_link")
async def test_flaky_link(link: Callable[..., Awaitable[Link]], spec: str) -> None:
    ln = await link(window=10)
    pending = {f"4479111{i:05d}" for i in range(150)}
    delivered: set[str] = set()
    for _ in range(40):  # what a dispatcher does: resend what was not accepted
        if not pending:
            break
        if not ln.session.bound:
            await ln.until(lambda: ln.session.bound)
        batch = {d: ln.submit(d) for d in sorted(pending)}
        await asyncio.gather(*batch.values())
        for destination, future in batch.items():
            if future.result().outcome is ACCEPTED:
                delivered.add(destination)
                pending.discard(destination)
    assert not pending and len(delivered) == 150
    assert ln.sim.stats.drops >= 1 and ln.stats.reconnects >= 1


@personality("nexmo")
async def test_nexmo(link: Callable[..., Awaitable[Link]], spec: str) -> None:
    ln = await link(id_mode="submit_hex_dlr_dec")
    result = await ln.submit("447911123456")
    assert result.message_id == result.message_id.upper()
    assert result.canonical_id == str(int(result.message_id, 16))
    receipts = await ln.receipts_for([result], mode="submit_hex_dlr_dec")
    assert receipts[result.canonical_id].state == "DELIVRD"
    # with the text only (no receipted_message_id TLV), the decimal id still matches
    text_only = await link({"receipt_format": "text"}, id_mode="submit_hex_dlr_dec")
    result = await text_only.submit("447911123457")
    receipts = await text_only.receipts_for([result], mode="submit_hex_dlr_dec")
    receipt = receipts[result.canonical_id]
    assert not receipt.id_from_tlv and len(receipt.message_id) == 10
    assert receipt.message_id.isdigit()


@personality("text_receipts")
async def test_text_receipts(link: Callable[..., Awaitable[Link]], spec: str) -> None:
    ln = await link()
    results = await asyncio.gather(*(ln.submit(f"44791112345{i}") for i in range(3)))
    receipts = await ln.receipts_for(list(results))
    assert all(not r.id_from_tlv and r.message_state is None for r in receipts.values())
    assert {r.state for r in receipts.values()} == {"DELIVRD"}


@personality("mixed_outcomes")
async def test_mixed_outcomes(link: Callable[..., Awaitable[Link]], spec: str) -> None:
    ln = await link({"receipt_delay": Delay.fixed(0)})  # no real waiting for the receipts
    results = list(await asyncio.gather(*(ln.submit(f"4479111{i:05d}") for i in range(60))))
    assert all(r.outcome is ACCEPTED for r in results)
    receipts = await ln.receipts_for(results)
    finals = {receipts[r.canonical_id].state for r in results}
    assert "DELIVRD" in finals and len(finals) >= 3  # seeded: several outcomes
    intermediates = [r for r in ln.receipts if not r.final]
    assert {r.state for r in intermediates} == {"ENROUTE"} and len(intermediates) == 60
    await ln.sim.wait_for_receipts_acked(120)


@personality("slow")
async def test_slow(link: Callable[..., Awaitable[Link]], spec: str) -> None:
    # 1-20 ms instead of 20-200 ms of real time: the same overtaking, a tenth of the wait
    ln = await link({"latency": Delay.uniform(0.001, 0.02)}, window=10)
    destinations = [f"4479111{i:05d}" for i in range(30)]
    results = await asyncio.gather(*(ln.submit(d) for d in destinations))
    assert all(r.outcome is ACCEPTED for r in results)
    # responses came back out of order, yet each part got its own message id
    ids = {r.destination_addr: r.message_id for r in ln.sim.submits}
    assert [r.message_id for r in results] == [ids[d] for d in destinations]


@personality("id_reuse")
async def test_id_reuse(link: Callable[..., Awaitable[Link]], spec: str) -> None:
    # A counter of 3 ids: the fourth message gets the first one's id again.
    ln = await link({"id_space": 3})
    results = [await ln.submit(f"4479111{i:05d}") for i in range(4)]
    assert [r.outcome for r in results] == [ACCEPTED] * 4
    ids = [r.message_id for r in results]
    assert len(set(ids[:3])) == 3 and ids[3] == ids[0]


@personality("carrier")
async def test_carrier(link: Callable[..., Awaitable[Link]], spec: str) -> None:
    # each response and receipt its own write, Nagle on: more messages than the window, so
    # the session refills it from what trickles in
    ln = await link(window=5)
    results = list(await asyncio.gather(*(ln.submit(f"4479111{i:05d}") for i in range(40))))
    assert all(r.outcome is ACCEPTED for r in results)
    receipts = await ln.receipts_for(results)
    assert {receipts[r.canonical_id].state for r in results} == {"DELIVRD"}
    await ln.sim.wait_for_receipts_acked(40)
