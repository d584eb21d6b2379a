"""`herald prune`: retention's sweep, once, from the command line (herald.delivery.retention).

It opens the configured database (or the embedded one in the state directory), migrates it,
deletes what is past its time in chunks, and says what it did; with `--dry-run` it says what
it would delete and deletes nothing. Safe while herald processes run: they may prune at the
same time without deleting anything twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from herald.config import Config
from herald.delivery.retention import PruneReport, Retention, cutoff
from herald.metrics import Metrics
from herald.store.db import Database


async def prune(
    config: Config,
    *,
    messages: timedelta | None,
    callbacks: timedelta | None,
    dry_run: bool,
) -> PruneReport:
    dsn = config.database.dsn.get_secret_value() if config.database.dsn else None
    async with Database(dsn, state_dir=config.state_dir, min_size=1, max_size=2) as db:
        await db.migrate()
        retention = Retention(
            db,
            metrics=Metrics(),
            clock=lambda: datetime.now(UTC),
            receipt_window=config.tracker.receipt_window,
            chunk=config.retention.chunk,
        )
        if dry_run:
            return await retention.preview(messages=messages, callbacks=callbacks)
        return await retention.sweep(messages=messages, callbacks=callbacks)


def describe(
    report: PruneReport,
    *,
    messages: timedelta | None,
    callbacks: timedelta | None,
    receipt_window: float,
    dry_run: bool,
    now: datetime,
) -> list[str]:
    """What `herald prune` prints: one line per kind, with the time it cut at."""
    lines = []
    verb = "would delete" if dry_run else "deleted"
    if messages is not None:
        before = cutoff(now, messages, receipt_window)
        parts = "" if dry_run else f" with {report.parts:,} parts"
        lines.append(
            f"{verb} {report.messages:,} messages{parts} of {report.batches:,} batches "
            f"finished before {_when(before)}"
            + (" (their counts are kept)" if report.batches else "")
        )
        if before < now - messages:
            lines.append(
                f"  (not later than {_when(before)}: receipts may still come for the parts "
                "of batches finished since, tracker.validity_hours + receipt_margin_hours)"
            )
        if report.waiting:
            lines.append(
                f"{report.waiting:,} batches wait for messages that are not final yet "
                "(a later prune takes them)"
            )
    if callbacks is not None:
        lines.append(
            f"{verb} {report.callbacks:,} delivered or dead callbacks created before "
            f"{_when(now - callbacks)}"
        )
    return lines


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
