"""Back-pressure from a slow store never kills the link (issue 25, item 6).

herald stops reading a bind's socket while `max_pending_deliveries` receipts wait to be
stored, so the SMSC's answers wait unread too: its enquire_link_resp among them. The link's
own checks must not blame the SMSC for that. A real simulator, a store that does not
acknowledge until the test lets it, and fake time: a minute passes in no time."""

from __future__ import annotations

import asyncio
import random

from herald.metrics import BindStats
from herald.simulator import Simulator, personality_settings
from herald.smpp.pdu import Pdu
from herald.smpp.session import Session, SessionSettings
from herald.smpp.submit import SubmitOutcome

from .session_support import FakeTime, settle, shut


class SlowStore:
    """on_deliver for a store that keeps nothing until `release` (a database that hangs)."""

    def __init__(self) -> None:
        self.waiting: list[asyncio.Future[int | None]] = []
        self.changed = asyncio.Event()

    def __call__(self, pdu: Pdu) -> asyncio.Future[int | None]:
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        self.changed.set()
        return future

    def release(self) -> None:
        for future in self.waiting:
            if not future.done():
                future.set_result(None)

    async def until(self, count: int) -> None:
        async with asyncio.timeout(10):
            while len(self.waiting) < count:
                self.changed.clear()
                await self.changed.wait()


async def test_receipts_waiting_for_a_slow_store_never_kill_the_link() -> None:
    time = FakeTime()
    store = SlowStore()
    async with Simulator(personality_settings("happy", seed=1), clock=time.clock) as sim:
        host, port = sim.address or ("", 0)
        stats = BindStats("slow")
        session = Session(
            SessionSettings(
                name="slow",
                host=host,
                port=port,
                system_id="herald",
                password="secret",
                window=100,
                rate=1e6,
                burst=10_000,
                max_pending_deliveries=1000,
                enquire_link_interval=30.0,
                response_timeout=10.0,
            ),
            on_deliver=store,
            stats=stats,
            clock=time.clock,
            sleep=time.sleep,
            rng=random.Random(1),
        )
        await session.start()
        await session.wait_bound(5)
        futures = [
            session.submit(
                source_addr="Herald",
                source_ton=5,
                source_npi=0,
                destination_addr=f"4479111{i:05d}",
                short_message=b"hi",
            )
            for i in range(1200)
        ]
        await store.until(1000)  # a thousand receipts held: the bind stops reading
        await settle()
        assert len(store.waiting) == 1000 and session.in_flight == 100
        # two minutes without reading: an enquire_link would have gone out at 30 s and the
        # link been declared dead 10 s later (it reconnected every ~40 s)
        for _ in range(120):
            await time.advance(1.0)
        assert session.bound and stats.reconnects == 0 and sim.stats.connections == 1
        assert not any(f.done() and f.result().outcome is SubmitOutcome.UNKNOWN for f in futures)
        store.release()  # the store catches up: reading resumes, the rest comes in
        await store.until(1200)
        store.release()
        await asyncio.wait_for(asyncio.gather(*futures), 10)
        assert {f.result().outcome for f in futures} == {SubmitOutcome.ACCEPTED}
        await sim.wait_for_receipts_acked(1200)
        assert sim.stats.connections == 1 and stats.reconnects == 0 and stats.timeouts == 0
        await shut(session, time)
