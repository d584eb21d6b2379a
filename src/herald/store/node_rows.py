"""The registry's rows, declared once: what a herald process writes per carrier account at
each heartbeat (`AccountReport`) and what a read of the registry gives for each live process
(`AccountClaim`). They live in store/ because the store's functions take and give them, and
store/ imports nothing above it; herald/delivery/shares.py reasons about them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class AccountReport:
    """What this process writes for one carrier account at a heartbeat (node_accounts)."""

    account: str
    rate: float  # the account's grant as this process's configuration says
    burst: int
    max_binds: int  # 0: no limit
    binds: int  # configured here
    claimed: int  # bind slots asked for (all its binds, without max_binds)
    started: int  # binds started (connecting or bound); never taken back
    bound: int


@dataclass(frozen=True, slots=True)
class AccountClaim:
    """What one live process wrote for one carrier account, as a read gives it."""

    node: str
    account: str
    started_at: datetime  # when that process first beat (the database's time)
    read_at: datetime | None  # the start of that process's latest read of the registry
    rate: float
    burst: int
    max_binds: int
    binds: int
    claimed: int
    started: int
    bound: int
