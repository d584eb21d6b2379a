"""`herald campaign run --wait`: poll the campaign until one run's messages are all final.

The API counts messages per status for the whole campaign; a run's own counts are those
counters minus the ones read just before the run started (earlier runs are finished by then:
a campaign runs again only from scheduled, stopped or completed). The wait ends when every
message of the run is final and its batch has completed (or a few seconds after, should it
not), when its batch is final, or when the campaign is stopped or completed. Ctrl-C ends
the wait, never the campaign.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from herald.cli.client import ApiClient
from herald.cli.output import FINAL_STATUSES, MESSAGE_STATUSES

SHOWN_STATUSES = ("sent", "delivered", "failed", "rejected", "unknown")
FINAL_BATCH = ("completed", "stopped", "failed")
IDLE_CAMPAIGN = ("completed", "stopped")
# Once every message is final, the batch and the campaign complete within about a second
# (herald.delivery.completion): the wait polls that long more, so that it ends on the
# campaign's settled state rather than on `running`.
COMPLETION_GRACE = 5.0


@dataclass
class WaitResult:
    detail: Mapping[str, Any]  # the campaign as last read
    counts: dict[str, int] = field(default_factory=dict)  # the run's messages per status
    expected: int = 0
    seconds: float = 0.0
    ended_by: str = ""  # why the wait ended: "final", "batch <status>", "campaign <status>"
    interrupted: bool = False

    @property
    def settled(self) -> int:
        return min(self.expected, sum(self.counts.get(s, 0) for s in FINAL_STATUSES))


def run_counts(detail: Mapping[str, Any], baseline: Mapping[str, int]) -> dict[str, int]:
    messages = detail["progress"]["messages"]
    return {s: max(0, int(messages.get(s, 0)) - int(baseline.get(s, 0))) for s in MESSAGE_STATUSES}


def _batch(detail: Mapping[str, Any], batch_id: int) -> Mapping[str, Any] | None:
    return next((b for b in detail.get("batches", []) if b["id"] == batch_id), None)


class _Rate(ProgressColumn):
    """Messages settled per second, over rich's recent samples."""

    def render(self, task: Task) -> Text:
        speed = task.speed
        return Text(f"{speed:,.1f} msg/s" if speed else "- msg/s", style="progress.data.speed")


def _counts_text(counts: Mapping[str, int]) -> str:
    shown = [f"{s} {counts.get(s, 0)}" for s in SHOWN_STATUSES]
    for waiting in ("deferred", "stopped"):
        if counts.get(waiting):
            shown.append(f"{waiting} {counts[waiting]}")
    return " · ".join(shown)


DEFERRED_FOR_LONG = timedelta(minutes=1)


def _only_deferred_for_long(detail: Mapping[str, Any], result: WaitResult) -> bool:
    """Whether every message of the run not final yet is deferred, the first of them for
    longer than a minute (quiet hours until the morning): nothing to watch until then."""
    waiting = result.expected - result.settled
    groups = detail["progress"].get("deferred") or []
    if not waiting or result.counts.get("deferred", 0) < waiting or not groups:
        return False
    first = min(datetime.fromisoformat(g["next_at"]) for g in groups)
    return first - datetime.now(UTC) > DEFERRED_FOR_LONG


def wait_for_run(
    client: ApiClient,
    campaign_id: int,
    run: Mapping[str, Any],
    baseline: Mapping[str, int],
    *,
    interval: float,
    console: Console,
) -> WaitResult:
    batch_id = int(run["batch_id"])
    result = WaitResult(detail={}, expected=int(run["count"]) + int(run.get("rejected", 0)))
    started = time.monotonic()
    progress = Progress(
        TextColumn("[bold]batch {task.fields[batch]}[/] {task.fields[state]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        _Rate(),
        TimeElapsedColumn(),
        console=console,
    )
    interrupted = _InterruptFlag()
    settled_at: float | None = None  # when every message of the run was first seen final
    try:
        console.print(
            f"waiting for batch {batch_id} of campaign {campaign_id} "
            "(Ctrl-C stops waiting, not the campaign)"
        )
        with progress:
            task = progress.add_task(
                "run", total=result.expected, batch=batch_id, state="", counts=_counts_text({})
            )
            while True:
                detail = client.get(f"/campaigns/{campaign_id}")
                result.detail = detail
                result.counts = run_counts(detail, baseline)
                batch = _batch(detail, batch_id)
                if batch is not None:
                    result.expected = int(batch["messages_expected"])
                state = "" if detail["status"] == "running" else f"({detail['status']})"
                progress.update(
                    task,
                    total=result.expected,
                    completed=result.settled,
                    counts=_counts_text(result.counts),
                    state=state,
                )
                if result.settled >= result.expected:
                    settled_at = settled_at or time.monotonic()
                    batch_done = batch is None or batch["status"] in FINAL_BATCH
                    if batch_done or time.monotonic() - settled_at >= COMPLETION_GRACE:
                        result.ended_by = "final"
                elif batch is not None and batch["status"] in FINAL_BATCH:
                    result.ended_by = f"batch {batch['status']}"
                elif detail["status"] in IDLE_CAMPAIGN:
                    result.ended_by = f"campaign {detail['status']}"
                elif _only_deferred_for_long(detail, result):
                    result.ended_by = "the rest is deferred (quiet hours)"
                if result.ended_by:
                    break
                if interrupted.wait(interval):
                    result.interrupted = True
                    break
    except KeyboardInterrupt:  # the flag could not be installed (not the main thread)
        result.interrupted = True
    finally:
        interrupted.restore()
    result.seconds = time.monotonic() - started
    return result


class _InterruptFlag(threading.Event):
    """Ctrl-C as a flag the wait loop polls between requests. A KeyboardInterrupt raised in the
    middle of an HTTP request (inside the connection pool's locks, or while the progress bar's
    thread is being joined) could leave the command hung instead of ending the wait."""

    def __init__(self) -> None:
        super().__init__()
        self._previous: Any = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, lambda *_: self.set())

    def restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
