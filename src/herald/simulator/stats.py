"""What the simulator did, counted in plain ints (incremented on the hot path), and event-based
waiting on those counts for tests: no polling, no sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from herald.smpp.status import status_name


@dataclass(slots=True)
class SimulatorStats:
    connections: int = 0  # TCP connections accepted
    binds: int = 0  # successful binds, any type
    binds_tx: int = 0
    binds_rx: int = 0
    binds_trx: int = 0
    bind_failures: int = 0  # refused binds (credentials or bind_status)
    unbinds: int = 0  # unbind requests received
    unbinds_sent: int = 0  # unbind requests we sent (unbind_after, disconnect(unbind=True))
    disconnects: int = 0  # TCP connections ended, for any reason
    drops: int = 0  # connections we cut on purpose (flaky link, disconnect())
    submits: int = 0  # submit_sm (and data_sm) received on a bound connection
    submits_by_status: dict[int, int] = field(default_factory=dict)  # answered, by status
    submits_unanswered: int = 0  # black hole (and answers lost to a dropped link)
    generic_nacks: int = 0  # submits answered with generic_nack
    throttled: int = 0  # submits answered with the throttle status
    receipts_sent: int = 0  # deliver_sm receipts written (intermediate ones included)
    receipts_acked: int = 0  # deliver_sm_resp with ESME_ROK for a receipt
    receipts_nacked: int = 0  # deliver_sm_resp with an error status for a receipt
    receipts_requeued: int = 0  # unacknowledged at disconnect: queued for redelivery
    receipts_dropped: int = 0  # queue for a system_id with no receiver overflowed
    mo_sent: int = 0  # MO deliver_sm written
    mo_acked: int = 0
    enquire_links: int = 0  # enquire_link received
    malformed_received: int = 0  # PDUs we could not accept (answered with an error or nack)
    malformed_sent: int = 0  # broken PDUs injected on purpose
    duplicate_messages: int = 0  # accepted messages whose (destination, text) came before

    @property
    def accepted(self) -> int:
        return self.submits_by_status.get(0, 0)

    def as_dict(self) -> dict[str, Any]:
        """Counters as plain JSON-able values; statuses by name (`ESME_ROK`, ...)."""
        data = asdict(self)
        data["submits_by_status"] = {
            status_name(code): n for code, n in sorted(self.submits_by_status.items())
        }
        return data


Predicate = Callable[[SimulatorStats], bool]


class Waiters:
    """Futures waiting for a condition on the stats, checked whenever the simulator pokes."""

    __slots__ = ("_stats", "_waiting")

    def __init__(self, stats: SimulatorStats) -> None:
        self._stats = stats
        self._waiting: list[tuple[Predicate, asyncio.Future[None]]] = []

    def __bool__(self) -> bool:
        return bool(self._waiting)

    def check(self) -> None:
        stats = self._stats
        still = []
        for predicate, future in self._waiting:
            if future.done():
                continue
            if predicate(stats):
                future.set_result(None)
            else:
                still.append((predicate, future))
        self._waiting = still

    async def wait(
        self,
        predicate: Predicate,
        timeout: float | None,  # noqa: ASYNC109 - a deadline belongs to the test API
        what: str,
    ) -> None:
        if predicate(self._stats):
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((predicate, future))
        try:
            async with asyncio.timeout(timeout):
                await future
        except TimeoutError:
            raise TimeoutError(
                f"simulator: still waiting for {what} after {timeout} s; "
                f"counters: {self._stats.as_dict()}"
            ) from None
        finally:
            if not future.done():
                future.cancel()
