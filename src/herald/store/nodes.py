"""The registry of herald processes (sql/nodes.sql): heartbeats with claims per carrier
account, and what the live processes claim."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from herald.store.node_rows import AccountClaim, AccountReport
from herald.store.queries import queries
from herald.store.rows import Conn


@dataclass(frozen=True, slots=True)
class Registry:
    """One read: the database's time at its start, the live processes, their claims."""

    read_at: datetime
    nodes: tuple[str, ...]
    claims: tuple[AccountClaim, ...]


@dataclass(frozen=True, slots=True)
class Process:
    """Who is beating: the node's name, and which process holds it."""

    name: str
    version: str
    host: str
    pid: int


async def heartbeat(
    conn: Conn, process: Process, read_at: datetime | None, reports: Sequence[AccountReport]
) -> None:
    await conn.execute(
        queries.node_heartbeat,
        process.name,
        process.version,
        process.host,
        process.pid,
        read_at,
        [r.account for r in reports],
        [r.rate for r in reports],
        [r.burst for r in reports],
        [r.max_binds for r in reports],
        [r.binds for r in reports],
        [r.claimed for r in reports],
        [r.started for r in reports],
        [r.bound for r in reports],
    )


async def read(conn: Conn, live_within: float) -> Registry:
    """Every process heard from within `live_within` seconds, and its claims."""
    rows = await conn.fetch(queries.read_nodes, live_within)
    claims = tuple(
        AccountClaim(
            node=r["name"],
            account=r["account"],
            started_at=r["started_at"],
            read_at=r["node_read_at"],
            rate=r["rate"],
            burst=r["burst"],
            max_binds=r["max_binds"],
            binds=r["binds"],
            claimed=r["claimed"],
            started=r["started"],
            bound=r["bound"],
        )
        for r in rows
        if r["account"] is not None
    )
    nodes = tuple(sorted({r["name"] for r in rows if r["name"] is not None}))
    return Registry(rows[0]["read_at"], nodes, claims)


async def leave(conn: Conn, process: Process) -> None:
    await conn.execute(queries.leave_nodes, process.name, process.host, process.pid)


async def forget(conn: Conn, older_than: float) -> int:
    status = await conn.execute(queries.forget_nodes, older_than)
    return int(status.split()[-1])
