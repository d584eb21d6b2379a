"""Sharing a carrier account between herald processes (herald.delivery.shares), without I/O:
the grant from a registry read, and a simulation of several processes heartbeating, reading,
binding, dying and being cut off in random order, in which the account's rate and binds are
never exceeded."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from herald.delivery.shares import (
    AccountTerms,
    Negotiator,
    account_limits,
    acked,
    bind_slots,
    grant,
)
from herald.store.node_rows import AccountClaim

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def claim(node: str, age: int = 0, **fields: object) -> AccountClaim:
    values: dict[str, object] = dict(
        node=node,
        account="acme",
        started_at=T0 + timedelta(seconds=age),
        read_at=None,
        rate=100.0,
        burst=10,
        max_binds=0,
        binds=1,
        claimed=1,
        started=1,
        bound=1,
    )
    values.update(fields)
    return AccountClaim(**values)  # type: ignore[arg-type]


def test_the_rate_is_shared_by_bound_binds_and_the_strictest_grant_holds() -> None:
    claims = [
        claim("a", 0, bound=1),
        claim("b", 1, bound=3, binds=3, rate=80.0, burst=8),
        claim("c", 2, bound=0),
    ]
    assert account_limits(claims) == (80.0, 8, 0)
    assert grant("a", claims, started=1).rate == pytest.approx(20.0)
    assert grant("b", claims, started=3).rate == pytest.approx(60.0)
    assert (grant("b", claims, started=3).burst, grant("a", claims, started=1).burst) == (6, 2)
    assert grant("c", claims, started=1).rate == 0.0  # nothing bound: nothing to send with


def test_bind_slots_keep_started_binds_and_serve_elders_first() -> None:
    older = claim("old", 0, binds=3, claimed=3, started=1)
    younger = claim("young", 5, binds=3, claimed=3, started=1)
    claims = [older, younger]
    # Four slots: one each started; the elder's claim of two more is served first.
    assert bind_slots("old", claims, 4, started=1) == 3
    assert bind_slots("young", claims, 4, started=1) == 1
    # Started binds are never taken back, even above the limit (lowered meanwhile).
    assert bind_slots("young", claims, 1, started=1) == 1
    assert bind_slots("old", [older], 0, started=0) == 3  # no limit: every bind


def test_a_claim_is_acked_once_every_other_live_process_read_after_it() -> None:
    read = T0 + timedelta(seconds=10)
    claims = [
        claim("me", 0),
        claim("b", 1, read_at=read + timedelta(seconds=1)),
        claim("c", 2, read_at=read - timedelta(seconds=1)),
    ]
    assert not acked("me", claims, read)
    assert acked("me", claims[:2], read)
    assert acked("me", [*claims[:2], claim("late", 20)], read)  # joined after: read it first
    assert acked("me", claims, None)


# --- the simulation ---------------------------------------------------------------------------

TIMEOUT = 5.0
INTERVAL = 1.0


@dataclass
class Row:
    node: str
    started_at: datetime
    heartbeat_at: datetime
    read_at: datetime | None
    reports: dict[str, tuple[int, int, int, int]]  # account -> binds, claimed, started, bound


@dataclass
class Process:
    name: str
    negotiator: Negotiator
    terms: dict[str, AccountTerms]
    started: dict[str, int] = field(default_factory=dict)
    bound: dict[str, int] = field(default_factory=dict)
    rate: dict[str, float] = field(default_factory=dict)
    last_read: float = 0.0
    connected: bool = True
    cut_until: float = 0.0


class World:
    """A registry (database rows, one clock) and processes stepping through it at random."""

    def __init__(self, rng: random.Random, accounts: list[AccountTerms]) -> None:
        self.rng = rng
        self.accounts = {a.name: a for a in accounts}
        self.now = 0.0
        self.rows: dict[str, Row] = {}
        self.processes: dict[str, Process] = {}
        self.names = iter(f"n{i}" for i in range(1000))

    def at(self, seconds: float) -> datetime:
        return T0 + timedelta(seconds=seconds)

    def tick(self, seconds: float) -> None:
        self.now += seconds
        for p in self.processes.values():  # herald.delivery.nodes: cut off too long, hold
            if not p.connected and self.now - p.last_read > TIMEOUT / 2:
                for name in p.rate:
                    p.rate[name] = 0.0
                p.negotiator.hold()

    def start(self) -> None:
        name = next(self.names)
        terms = {}
        for account in self.accounts.values():
            # each process configures its own number of binds of the account
            terms[account.name] = AccountTerms(
                account.name,
                account.rate,
                account.burst,
                account.max_binds,
                self.rng.randint(1, 3),
            )
        process = Process(name, Negotiator(name, terms.values()), terms)
        process.last_read = self.now
        self.processes[name] = process

    def cycle(self, p: Process) -> None:
        reports = p.negotiator.report(started=dict(p.started), bound=self._bound(p))
        self.tick(self.rng.uniform(0.001, 0.05))
        row = self.rows.get(p.name)
        self.rows[p.name] = Row(
            p.name,
            row.started_at if row else self.at(self.now),
            self.at(self.now),
            p.negotiator.last_read,
            {r.account: (r.binds, r.claimed, r.started, r.bound) for r in reports},
        )
        self.tick(self.rng.uniform(0.001, 0.05))  # the read starts after the write committed
        read_at = self.now
        for name in [n for n, r in self.rows.items() if self.now - self._age(r) > 3 * TIMEOUT]:
            del self.rows[name]  # herald.store.nodes forgets long-dead processes
        claims = [
            AccountClaim(
                r.node,
                account,
                r.started_at,
                r.read_at,
                self.processes[r.node].terms[account].rate if r.node in self.processes else 1.0,
                10,
                self.accounts[account].max_binds,
                binds,
                claimed,
                started,
                bound,
            )
            for r in self.rows.values()
            if (self.at(read_at) - r.heartbeat_at).total_seconds() < TIMEOUT
            for account, (binds, claimed, started, bound) in r.reports.items()
        ]
        decisions = p.negotiator.read(self.at(read_at), claims, started=dict(p.started))
        p.last_read = read_at
        for name, decision in decisions.items():
            p.rate[name] = decision.rate
            p.started[name] = p.started.get(name, 0) + decision.start

    def _age(self, row: Row) -> float:
        return (row.heartbeat_at - T0).total_seconds()

    def _bound(self, p: Process) -> dict[str, int]:
        return {name: min(p.bound.get(name, 0), p.started.get(name, 0)) for name in p.terms}

    def sending(self, account: str) -> float:
        """What the carrier sees: each process's rate while it has a bound bind."""
        return sum(
            p.rate.get(account, 0.0)
            for p in self.processes.values()
            if self._bound(p).get(account, 0) > 0
        )

    def binds(self, account: str) -> int:
        return sum(p.started.get(account, 0) for p in self.processes.values())

    def step(self) -> None:
        rng = self.rng
        for p in list(self.processes.values()):  # a connected process beats every interval
            if not p.connected and self.now >= p.cut_until:
                p.connected = True
            if p.connected and self.now - p.last_read > INTERVAL:
                self.cycle(p)
        roll = rng.random()
        live = list(self.processes.values())
        if (roll < 0.05 and len(live) < 5) or not live:
            self.start()
        elif roll < 0.08:
            victim = rng.choice(live)  # SIGKILL: its binds and its sending go with it
            del self.processes[victim.name]
        elif roll < 0.11:
            # Cut off from the database: its rate is held after half the time-out
            # (herald.delivery.nodes), and the others take its part after the time-out. Its
            # binds stay (docs/operations.md): with max_binds, cut-offs end before that.
            p = rng.choice(live)
            p.connected = False
            limited = any(a.max_binds for a in self.accounts.values())
            longest = TIMEOUT - 2 * INTERVAL if limited else 3 * TIMEOUT
            p.cut_until = self.now + rng.uniform(0.5, longest)
        elif roll < 0.35:
            p = rng.choice(live)
            account = rng.choice(list(p.terms))
            p.bound[account] = rng.randint(0, p.started.get(account, 0))
        elif roll < 0.75:
            p = rng.choice(live)
            if not p.connected and self.now >= p.cut_until:
                p.connected = True
            if p.connected:
                self.cycle(p)
        else:
            self.tick(rng.uniform(0.01, INTERVAL))


@pytest.mark.parametrize("seed", range(40))
def test_processes_never_exceed_the_accounts_rate_or_binds(seed: int) -> None:
    rng = random.Random(seed)
    accounts = [
        AccountTerms("acme", 100.0, 10, rng.choice((0, 2, 3)), 0),
        AccountTerms("zeta", 40.0, 4, 0, 0),
    ]
    world = World(rng, accounts)
    most = {a.name: 0.0 for a in accounts}
    for _ in range(800):
        world.step()
        for account in accounts:
            sending = world.sending(account.name)
            most[account.name] = max(most[account.name], sending)
            assert sending <= account.rate + 1e-6, (account.name, sending, world.now)
            if account.max_binds:
                assert world.binds(account.name) <= account.max_binds
    # ...and they do share it: at some point the account was used whole.
    assert most["acme"] == pytest.approx(100.0) and most["zeta"] == pytest.approx(40.0)
