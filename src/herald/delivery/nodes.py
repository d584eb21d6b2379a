"""This process in the registry of herald processes on the database: heartbeats, and the
binds' share of each carrier account (herald/delivery/shares.py says how it is shared and why
it is never exceeded).

Every `nodes.heartbeat_interval` (and at once when a bind is bound or lost) the registry
writes this process's heartbeat with its claims per account, reads every live process's, and
applies what follows to the binds: each bound bind of an account that submits (not a
receiver) gets an equal part of this process's share (`Session.limit`), binds not bound and
binds of an account without a share are held at 0; binds of an account with `max_binds` are
started only as slots are granted.
A process that could not read the registry for half of `nodes.timeout` holds its shared
binds (the others take its part after the time-out), and claims afresh when it can again. On
a graceful stop its rows go, and its part goes back to the others at their next read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from herald.delivery.shares import HOLD, AccountTerms, Decision, Negotiator
from herald.delivery.waits import wait_any
from herald.metrics import Metrics
from herald.smpp.session import Session
from herald.store import nodes as store
from herald.store.db import Database

log = logging.getLogger(__name__)

FORGET_AFTER = 24 * 3600.0  # rows of processes not heard from for a day are deleted


@dataclass(frozen=True, slots=True)
class SharedBind:
    """A bind and the carrier account it logs in to."""

    name: str
    account: str


class NodeRegistry:
    def __init__(
        self,
        db: Database,
        *,
        process: store.Process,
        accounts: Sequence[AccountTerms],
        binds: Sequence[SharedBind],
        sessions: Mapping[str, Session],
        interval: float,
        timeout: float,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._process = process
        self._negotiator = Negotiator(process.name, accounts)
        self._terms = {a.name: a for a in accounts}
        self._binds = {a.name: [b.name for b in binds if b.account == a.name] for a in accounts}
        self._sessions = sessions
        self._interval = interval
        self._timeout = timeout
        self._clock = clock
        self._started = {name for name, s in sessions.items() if s.state != "closed"}
        self._decisions: dict[str, Decision] = {name: HOLD for name in self._terms}
        self._last_read = clock()
        self._held = False
        self._poked = asyncio.Event()
        self.live_nodes = 0
        metrics.account_rate_share = lambda: {n: d.rate for n, d in self._decisions.items()}
        metrics.account_bind_slots = self._slots
        metrics.live_nodes = lambda: self.live_nodes

    def hold_all(self) -> None:
        """Before the first read: every bind holds its submits until its share is known."""
        for names in self._binds.values():
            for name in names:
                self._sessions[name].limit(0.0, 1)

    def poke(self) -> None:
        """Beat now (a bind was bound or lost): the others see it at their next read."""
        self._poked.set()

    def started(self, name: str) -> None:
        """The daemon started bind `name` itself (an account without max_binds)."""
        self._started.add(name)

    async def run(self, stop: asyncio.Event) -> None:
        failing = False
        while not stop.is_set():
            self._poked.clear()
            try:
                async with asyncio.timeout(max(self._timeout / 4, self._interval)):
                    await self.cycle()
            except Exception as exc:
                if not failing:
                    log.warning("node registry: %s: %s", type(exc).__name__, exc)
                failing = True
                self._check_cut_off()
            else:
                if failing:
                    log.info("node registry: reading again")
                failing = False
            # A claim that grew is written at once: the others' acknowledgement takes a read
            # of theirs anyway.
            wait = 0.05 if self._negotiator.wants_more else self._interval
            await wait_any(stop, self._poked, within=wait)

    async def cycle(self) -> None:
        """One heartbeat and one read, and what follows for the binds."""
        started = self._counts(lambda s: s.state != "closed")
        reports = self._negotiator.report(started=started, bound=self._counts(_sending))
        async with self._db.acquire() as conn:
            await store.heartbeat(conn, self._process, self._negotiator.last_read, reports)
            registry = await store.read(conn, self._timeout)
        decisions = self._negotiator.read(
            registry.read_at, registry.claims, started=self._counts(lambda s: s.state != "closed")
        )
        self._last_read = self._clock()
        self.live_nodes = len(registry.nodes)
        if self._held:
            self._held = False
            log.info("node registry: reading again; claiming this process's shares afresh")
        for account, decision in decisions.items():
            await self._apply(account, decision)

    async def leave(self) -> None:
        """A graceful stop: this process's rows go, its shares with them."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2.0), self._db.acquire() as conn:
                await store.leave(conn, self._process)
                await store.forget(conn, FORGET_AFTER)

    def status(self) -> dict[str, dict[str, Any]]:
        """Per carrier account: this process's share and slots, for /healthz/binds."""
        return {
            account: {
                "rate": round(self._decisions[account].rate, 3),
                "bind_slots": self._slots().get(account, 0),
                "binds": self._binds[account],
                "started": [b for b in self._binds[account] if b in self._started],
            }
            for account in self._terms
        }

    def _slots(self) -> dict[str, int]:
        return {
            account: sum(1 for b in names if b in self._started)
            for account, names in self._binds.items()
        }

    def _counts(self, test: Callable[[Session], bool]) -> dict[str, int]:
        return {
            account: sum(1 for b in names if test(self._sessions[b]))
            for account, names in self._binds.items()
        }

    async def _apply(self, account: str, decision: Decision) -> None:
        names = self._binds[account]
        waiting = [b for b in names if b not in self._started]
        for name in waiting[: decision.start]:
            log.info("bind %s: a slot of carrier account %s is free: starting it", name, account)
            self._started.add(name)
            await self._sessions[name].start()
        bound = [b for b in names if _sending(self._sessions[b])]
        previous = self._decisions.get(account, HOLD)
        self._decisions[account] = decision
        for name in names:
            session = self._sessions[name]
            if name in bound:
                session.limit(decision.rate / len(bound), max(1, decision.burst // len(bound)))
            else:
                session.limit(0.0, 1)
        if abs(previous.rate - decision.rate) > 1e-9:
            log.info(
                "carrier account %s: this process may send %.1f submit_sm/s on %d bound binds",
                account,
                decision.rate,
                len(bound),
                extra={"fields": {"account": account, "rate": round(decision.rate, 3)}},
            )

    def _check_cut_off(self) -> None:
        if self._held or self._clock() - self._last_read <= self._timeout / 2:
            return
        self._held = True
        log.warning(
            "node registry: not read for %.1f s: holding the binds of shared carrier accounts "
            "until it is (the other processes take this one's share after %.0f s)",
            self._clock() - self._last_read,
            self._timeout,
        )
        for account, decision in self._negotiator.hold().items():
            self._decisions[account] = decision
            for name in self._binds[account]:
                self._sessions[name].limit(0.0, 1)


def _sending(session: Session) -> bool:
    """Bound and able to submit: a receiver bind takes no part of an account's rate."""
    return session.bound and session.settings.bind_type != "rx"
