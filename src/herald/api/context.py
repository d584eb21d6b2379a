"""What the HTTP API needs from the process that serves it (built by the daemon)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from herald.campaigns.clicks import ClickRecorder
from herald.campaigns.lifecycle import RunStarter
from herald.campaigns.run_result import RunResult
from herald.config import Config
from herald.metrics import Metrics
from herald.store.db import Database

__all__ = ["AppContext", "RunResult", "RunStarter"]


def _nothing() -> None:
    return None


async def _at_once(within: float) -> None:
    return None


@dataclass(frozen=True)
class AppContext:
    """db: the open Database; config: the validated Config; clock: aware UTC now; runner:
    starts runs (herald.campaigns.runs.CampaignRunner); wake: wakes the dispatcher after a run
    or a resume (a no-op in tests); next_send: until the dispatcher next hands claimed parts
    to its binds, at most the seconds given (Dispatcher.next_send; at once in tests);
    metrics: the process's counters (a stop counts its stopped messages); clicks: records
    clicks on tracked links off the redirect's path (None: each click is written before its
    redirect answers); links_base_url: the base of short links
    (campaigns.links.links_base_url)."""

    db: Database
    config: Config
    clock: Callable[[], datetime]
    runner: RunStarter
    wake: Callable[[], None] = field(default=_nothing)
    next_send: Callable[[float], Awaitable[None]] = field(default=_at_once)
    metrics: Metrics = field(default_factory=Metrics)
    clicks: ClickRecorder | None = None
    links_base_url: str | None = None  # where phones reach /l/ and /o/ (None: from config)
