"""Pure: one process's share of a carrier account that several herald processes bind to.

A carrier grants an account (a system_id) a rate and a number of binds, not each process.
Every herald process on the database writes, per account, what it has (node_accounts): its
configured binds, the bind slots it claims, the binds it has started and those bound, and the
account's grant as its configuration says. From what every live process wrote, each
computes the same answer (docs/operations.md, several processes):

- **Rate.** The account's rate (the lowest any process configures: a mistake errs on the
  safe side) is shared in proportion to bound binds: a process with one of four bound binds
  sends at a quarter of it. Its burst likewise (at least one each).
- **Binds.** With `max_binds` set, binds already started are never taken back; free slots go
  to the processes that claim them, oldest process first (by its start, then its name): a
  process counts its elders' claims and everybody's started binds, not its juniors' claims.
- **Never more than granted, while things change.** Lowering one's share is safe at once;
  raising it is not until every other live process has lowered its own. So a process that
  claims more (a bind bound or started) uses it only once every other live process has read
  the registry after that claim was stored (their `read_at`, the database's time, is later
  than this process's first read after the claim): they have seen it and given up their
  part. A process that joined after the claim read it in its very first read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from herald.store.node_rows import AccountClaim, AccountReport


@dataclass(frozen=True, slots=True)
class Grant:
    """This process's part of an account: its rate and burst (for all its bound binds of the
    account together), and how many of its binds it may have started."""

    rate: float
    burst: int
    bind_slots: int


def _age(claim: AccountClaim) -> tuple[datetime, str]:
    return claim.started_at, claim.node


def account_limits(claims: Iterable[AccountClaim]) -> tuple[float, int, int]:
    """The account's (rate, burst, max_binds): the strictest any live process configures."""
    claims = list(claims)
    limits = [c.max_binds for c in claims if c.max_binds > 0]
    return (
        min(c.rate for c in claims),
        min(c.burst for c in claims),
        min(limits) if limits else 0,
    )


def grant(me: str, claims: Sequence[AccountClaim], *, started: int) -> Grant:
    """This process's grant, from every live process's claim (its own among them, with
    `started`, its binds of the account started now: possibly more than it last wrote)."""
    mine = next(c for c in claims if c.node == me)
    rate, burst, max_binds = account_limits(claims)
    bound = sum(c.bound for c in claims)
    if mine.bound and bound:
        share = rate * mine.bound / bound
        burst_share = max(1, burst * mine.bound // bound)
    else:
        share, burst_share = 0.0, 1
    return Grant(share, burst_share, bind_slots(me, claims, max_binds, started=started))


def bind_slots(me: str, claims: Sequence[AccountClaim], max_binds: int, *, started: int) -> int:
    """How many binds this process may have started: all of them without a limit; else its
    started ones, and as many more as are free of everybody's started binds and its elders'
    claims."""
    mine = next(c for c in claims if c.node == me)
    if max_binds <= 0:
        return mine.binds
    others = [c for c in claims if c.node != me]
    free = max_binds - started - sum(c.started for c in others)
    free -= sum(max(0, c.claimed - c.started) for c in others if _age(c) < _age(mine))
    return started + max(0, min(mine.binds - started, free))


def acked(me: str, claims: Iterable[AccountClaim], claimed_read: datetime | None) -> bool:
    """Every other live process has read the registry since this process's claim grew (its
    first read after storing it was `claimed_read`; None: it never grew), or joined after."""
    if claimed_read is None:
        return True
    for claim in claims:
        if claim.node == me:
            continue
        if claim.started_at > claimed_read:
            continue
        if claim.read_at is None or claim.read_at < claimed_read:
            return False
    return True


@dataclass(frozen=True, slots=True)
class AccountTerms:
    """A carrier account as this process's configuration gives it, and its binds here."""

    name: str
    rate: float
    burst: int
    max_binds: int
    binds: int


@dataclass(frozen=True, slots=True)
class Decision:
    """After a read, for one account: the rate and burst this process's bound binds of it
    may use together, and how many more of its binds it may start now."""

    rate: float
    burst: int
    start: int


HOLD = Decision(0.0, 1, 0)


class Negotiator:
    """One process's side of the registry, without I/O: what to write at each heartbeat
    (`report`), and what follows from each read (`read`). herald.delivery.nodes does the
    writing and reading and applies the decisions to the binds."""

    def __init__(self, node: str, accounts: Iterable[AccountTerms]) -> None:
        self.node = node
        self.accounts = {a.name: a for a in accounts}
        # Bind slots to ask for: all binds without max_binds, none yet with it.
        self._want = {a.name: (a.binds if a.max_binds <= 0 else 0) for a in self.accounts.values()}
        self._written: dict[str, AccountReport] = {}
        self._applied = {name: HOLD for name in self.accounts}
        self._grew = True  # the first report is a claim: the others must see it
        self.claimed_read: datetime | None = None  # first read after the last claim grew
        self.last_read: datetime | None = None

    def report(self, *, started: dict[str, int], bound: dict[str, int]) -> list[AccountReport]:
        rows = []
        for name, terms in self.accounts.items():
            row = AccountReport(
                account=name,
                rate=terms.rate,
                burst=terms.burst,
                max_binds=terms.max_binds,
                binds=terms.binds,
                claimed=max(self._want[name], started.get(name, 0)),
                started=started.get(name, 0),
                bound=bound.get(name, 0),
            )
            before = self._written.get(name)
            if before is None or row.claimed > before.claimed or row.bound > before.bound:
                self._grew = True
            self._written[name] = row
            rows.append(row)
        return rows

    def read(
        self, read_at: datetime, claims: Sequence[AccountClaim], *, started: dict[str, int]
    ) -> dict[str, Decision]:
        """Decisions from a read of the registry (the live processes' claims), taken after
        this process's latest `report` was stored."""
        if self._grew:
            self.claimed_read, self._grew = read_at, False
        self.last_read = read_at
        decisions = {}
        for name in self.accounts:
            account_claims = [c for c in claims if c.account == name]
            if not any(c.node == self.node for c in account_claims):
                decisions[name] = self._applied[name] = HOLD  # our row is not there (yet)
                continue
            now_started = started.get(name, 0)
            g = grant(self.node, account_claims, started=now_started)
            self._want[name] = max(now_started, g.bind_slots)
            ok = acked(self.node, account_claims, self.claimed_read)
            written = self._written.get(name)
            claimed = written.claimed if written is not None else 0
            start = max(0, min(g.bind_slots, claimed) - now_started) if ok else 0
            applied = self._applied[name]
            if ok or g.rate <= applied.rate:
                applied = Decision(g.rate, g.burst, 0)
            decisions[name] = Decision(applied.rate, applied.burst, start)
            self._applied[name] = applied
        return decisions

    def hold(self) -> dict[str, Decision]:
        """Cut off from the registry (no read for half the time-out): send nothing on a shared
        account, and claim afresh once back (the others may have taken our part meanwhile)."""
        self._applied = {name: HOLD for name in self.accounts}
        self._grew = True
        return dict(self._applied)

    @property
    def wants_more(self) -> bool:
        """A claim to write has grown since the last report: heartbeat again soon."""
        return any(
            self._want[name] > (w.claimed if (w := self._written.get(name)) else 0)
            for name in self.accounts
        )
