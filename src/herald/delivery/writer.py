"""Batched writes of the send path, one transaction per flush.

The dispatcher hands over submit results and message statuses, the tracker hands over
receipts; the writer stores them together, flushing when the buffer reaches `flush_size` or
`flush_interval` after its first item. In each flush, in order:

1. part results (carrier ids), then message statuses (compare-and-set),
2. orphan receipts whose part id has now landed are taken back,
3. receipts are applied to their parts; those with no part yet are parked as orphans,
4. messages touched by receipts are settled from their parts (multipart aggregation),
5. the status changes go to `on_changes` (callbacks outbox) in the same transaction.

A receipt's future resolves only after the transaction commits, so a deliver_sm is
acknowledged only once its receipt is stored. A failed flush keeps its rows and retries with
backoff; compare-and-set queries make a replay harmless.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from herald.delivery.waits import wait_any
from herald.errors import StateError
from herald.metrics import Metrics
from herald.states import MESSAGE, RECEIPT_STATES, is_final, settle_message
from herald.store import dispatch as store
from herald.store.db import Database

log = logging.getLogger(__name__)


class StatusChange(NamedTuple):
    message_id: int
    old: str
    new: str
    reason: str | None
    at: datetime
    campaign_id: int | None = None  # lets the callbacks hook skip campaigns without a URL


@dataclass(slots=True)
class ReceiptRow:
    bind: str
    canonical_id: str
    state: str  # one of RECEIPT_STATES
    receipt_state: int | None
    error: str | None
    network_error: str | None
    at: datetime
    payload: dict[str, Any] = field(default_factory=dict)

    def row(self) -> tuple:
        return (
            self.bind,
            self.canonical_id,
            self.state,
            self.receipt_state,
            self.error,
            self.network_error,
            self.at,
        )


_FINAL_RECEIPT = frozenset(RECEIPT_STATES) - {"enroute", "accepted"}


class _Buffer:
    __slots__ = (
        "campaigns",
        "committed",
        "parts",
        "receipts",
        "receipts_since",
        "since",
        "single",
        "statuses",
    )

    def __init__(self) -> None:
        self.parts: list[tuple] = []
        self.statuses: list[tuple] = []
        # One receipt per (bind, canonical id): a final state beats an intermediate one,
        # otherwise the later receipt wins. Every sender's future resolves at the flush.
        self.receipts: dict[tuple[str, str], tuple[ReceiptRow, list[asyncio.Future[None]]]] = {}
        self.committed: list[Callable[[], None]] = []  # run after the commit, in order
        self.single: set[int] = set()  # single-part messages among `statuses`
        self.campaigns: dict[int, int] = {}  # message id -> campaign id, when known
        self.since: float | None = None  # when the first row came in (the writer's clock)
        self.receipts_since: float | None = None  # when the first receipt came in

    def __len__(self) -> int:
        return len(self.parts) + len(self.statuses) + len(self.receipts)

    def absorb(self, older: _Buffer) -> None:
        """Put a failed flush's rows back in front of this buffer's."""
        self.parts[:0] = older.parts
        self.statuses[:0] = older.statuses
        for key, (row, futures) in older.receipts.items():
            if key in self.receipts:
                newer, newer_futures = self.receipts[key]
                self.receipts[key] = (_latest(row, newer), futures + newer_futures)
            else:
                self.receipts[key] = (row, futures)
        self.committed[:0] = older.committed
        self.single |= older.single
        self.campaigns.update(older.campaigns)
        self.since = _earlier(older.since, self.since)
        self.receipts_since = _earlier(older.receipts_since, self.receipts_since)


def _earlier(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(old: ReceiptRow, new: ReceiptRow) -> ReceiptRow:
    if old.state in _FINAL_RECEIPT and new.state not in _FINAL_RECEIPT:
        return old
    return new


OnChanges = Callable[[Any, Sequence[StatusChange]], Awaitable[None]]


class Writer:
    def __init__(
        self,
        db: Database,
        *,
        metrics: Metrics,
        flush_size: int = 1000,
        flush_interval: float = 0.2,
        receipt_flush_interval: float = 0.0,
        on_changes: OnChanges | None = None,
        on_final: Callable[[set[int]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._clock = clock
        self._metrics = metrics
        self._flush_size = flush_size
        self._interval = flush_interval
        self._receipt_interval = receipt_flush_interval
        self._on_changes = on_changes
        # After each flush: the campaigns whose messages it made final (completion checks them).
        self._on_final = on_final
        self._buffer = _Buffer()
        self._wake = asyncio.Event()
        self._urgent = asyncio.Event()
        self._sooner = asyncio.Event()  # the buffer's deadline moved earlier (a receipt)
        self._lock = asyncio.Lock()  # one flush at a time
        self._failures = 0
        # Orphans are looked for when this process parked some (or may have, at start) and
        # when maintenance asks; not on every flush, which would cost a join each time.
        self._orphans_possible = True
        self._orphan_sweep = False

    # --- producers ---------------------------------------------------------------------------

    def record_part(self, row: tuple) -> None:
        """(message_id, seq, state, smsc_id, canonical_id, command_status, submitted_at)."""
        self._buffer.parts.append(row)
        self._added()

    def set_status(
        self,
        row: tuple,
        on_commit: Callable[[], None] | None = None,
        *,
        parts: int = 0,
        campaign: int | None = None,
    ) -> None:
        """(message_id, expected, status, reason, not_before, at[, bind]); `on_commit` runs
        once the status is stored (the dispatcher frees the message's in-flight slot then).
        `parts` is the message's part count when known: a single-part message whose receipt
        lands in the same flush is settled without reading its parts back."""
        self._buffer.statuses.append(row)
        if parts == 1:
            self._buffer.single.add(row[0])
        if campaign is not None:
            self._buffer.campaigns[row[0]] = campaign
        if on_commit is not None:
            self._buffer.committed.append(on_commit)
        self._added()

    def sweep_orphans(self) -> None:
        """Look for orphan receipts whose part has landed at the next flush, whatever it
        holds (maintenance calls this: another process may have parked them)."""
        self._orphan_sweep = True
        self.request_flush()

    def add_receipt(self, receipt: ReceiptRow) -> asyncio.Future[None]:
        """Buffer a receipt; the future resolves once it is stored (applied or parked)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        key = (receipt.bind, receipt.canonical_id)
        if self._buffer.receipts_since is None:
            self._buffer.receipts_since = self._clock()
            self._sooner.set()
        held = self._buffer.receipts.get(key)
        if held is None:
            self._buffer.receipts[key] = (receipt, [future])
        else:
            held[1].append(future)
            self._buffer.receipts[key] = (_latest(held[0], receipt), held[1])
        self._added()
        return future

    def request_flush(self) -> None:
        """Flush now rather than at the interval (someone is waiting on the result)."""
        self._urgent.set()
        self._wake.set()

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def _added(self) -> None:
        if self._buffer.since is None:
            self._buffer.since = self._clock()
        self._wake.set()
        if len(self._buffer) >= self._flush_size:
            self._urgent.set()

    # --- the flush loop ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Flush until `stop` is set, then flush what remains and return."""
        while True:
            if not self._buffer and not self._buffer.committed and not self._orphan_sweep:
                if stop.is_set():
                    return
                self._wake.clear()
                await wait_any(self._wake, stop)
                continue
            self._sooner.clear()
            await wait_any(self._urgent, self._sooner, stop, within=self._time_left())
            if self._sooner.is_set() and not (self._urgent.is_set() or stop.is_set()):
                continue  # a receipt came in: wait again, for its shorter interval
            self._urgent.clear()
            if not await self.flush():
                await asyncio.sleep(min(5.0, 0.05 * 2 ** min(self._failures, 7)))

    def _time_left(self) -> float:
        """Until the buffer is due. The interval counts from its first row, not from the end
        of the last flush: rows that came in while that ran have already waited. A receipt
        is due much sooner: the carrier is waiting for its acknowledgement, and one that
        holds back its next deliver_sm until then (a deliver window of 1 is common) would
        otherwise get one receipt through per flush interval."""
        now, buffer = self._clock(), self._buffer
        left = self._interval - (now - buffer.since) if buffer.since is not None else self._interval
        if buffer.receipts_since is not None:
            left = min(left, self._receipt_interval - (now - buffer.receipts_since))
        return max(0.0, left)

    async def flush(self) -> bool:
        """Write the buffer in one transaction. False (rows kept for a retry) on failure."""
        async with self._lock:
            batch, self._buffer = self._buffer, _Buffer()
            if not batch and not batch.committed and not self._orphan_sweep:
                return True
            started = time.perf_counter()
            try:
                changes, latencies, parked = await self._write(batch)
            except Exception:
                self._failures += 1
                self._metrics.flush_failures += 1
                log.exception("database flush of %d rows failed; keeping them", len(batch))
                self._buffer.absorb(batch)
                return False
            self._failures = 0
        elapsed = time.perf_counter() - started
        log.debug(
            "flushed %d results, %d statuses, %d receipts in %.1f ms",
            len(batch.parts),
            len(batch.statuses),
            len(batch.receipts),
            elapsed * 1000,
        )
        m = self._metrics
        m.flush_seconds.observe(elapsed)
        m.flush_rows.observe(len(batch))
        m.orphan_receipts += parked
        final: set[int] = set()
        final_states = MESSAGE.final
        for change in changes:
            m.messages[change.new] += 1
            if change.new in final_states and change.campaign_id is not None:
                final.add(change.campaign_id)
        for seconds in latencies:
            m.receipt_latency.observe(seconds)
        for _, futures in batch.receipts.values():
            for future in futures:
                if not future.done():
                    future.set_result(None)
        for callback in batch.committed:
            callback()
        if final and self._on_final is not None:
            self._on_final(final)
        return True

    async def _write(self, batch: _Buffer) -> tuple[list[StatusChange], list[float], int]:
        plain, receipted, folded = _fold(batch.parts, batch.receipts)
        statuses, touched = _settle_single(batch, receipted)
        leftover = [row for key, (row, _) in batch.receipts.items() if key not in folded]
        sweep, self._orphan_sweep = self._orphan_sweep, False
        take_orphans = sweep or (bool(batch.parts) and self._orphans_possible)
        latencies = [
            (row[11] - row[6]).total_seconds() for row in receipted if row[2] in _FINAL_RECEIPT
        ]
        # Statuses of messages that settling may move wait for it; the others go at once.
        early = [r for r in statuses if r[0] not in touched] if touched else statuses
        late = [r for r in statuses if r[0] in touched] if touched else []
        campaigns = batch.campaigns
        needed = getattr(self._on_changes, "needed", None)
        hook_quiet = self._on_changes is None or (
            needed is not None and not needed(campaigns.get(r[0]) for r in early)
        )
        if not (leftover or take_orphans or touched) and hook_quiet:
            # The common flush: one statement, atomic on its own, no transaction round trips.
            async with self._db.acquire() as conn:
                moved = await store.write_results(conn, plain, receipted, early)
            return _changes(early, moved, campaigns), latencies, 0
        changes: list[StatusChange] = []
        async with self._db.acquire() as conn, conn.transaction():
            moved = await store.write_results(conn, plain, receipted, early)
            changes.extend(_changes(early, moved, campaigns))
            receipts = leftover
            taken = 0
            if take_orphans:
                orphans = await store.take_matching_orphans(conn)
                taken = len(orphans)
                receipts = [
                    ReceiptRow(
                        o["bind"],
                        o["canonical_id"],
                        o["state"],
                        o["receipt_state"],
                        o["receipt_error"],
                        o["network_error"],
                        o["received_at"],
                    )
                    for o in orphans
                ] + leftover
            parked = 0
            if receipts:
                found = await store.apply_receipts(
                    conn, [(*r.row(), *_SINGLE_PART[r.state]) for r in receipts]
                )
                matched = {f["pos"] for f in found}
                unmatched = [r for i, r in enumerate(receipts, 1) if i not in matched]
                await store.park_orphan_receipts(
                    conn, [(*r.row()[:6], r.payload, r.at) for r in unmatched]
                )
                parked = len(unmatched)
                touched.update(f["message_id"] for f in found if f["applied"] and not f["settled"])
                followed: set[int] = set()  # single-part messages the statement moved
                for f in found:
                    receipt = receipts[f["pos"] - 1]
                    if f["settled"] and f["message_id"] not in followed:
                        followed.add(f["message_id"])
                        new, reason = _SINGLE_PART[receipt.state]
                        changes.append(
                            StatusChange(
                                f["message_id"], "sent", new, reason, receipt.at, f["campaign_id"]
                            )
                        )
                    if f["applied"] and receipt.state in _FINAL_RECEIPT and f["submitted_at"]:
                        latencies.append((receipt.at - f["submitted_at"]).total_seconds())
            # Settle before the late statuses: a message whose receipts came in this flush goes
            # straight to its final status; the dispatcher's 'sent' for it is dropped.
            settled: set[int] = set()
            if touched:
                at = max(r.at for r, _ in batch.receipts.values()) if batch.receipts else None
                moved_now = await self._settle(conn, touched, at or receipts[-1].at)
                changes.extend(moved_now)
                settled = {c.message_id for c in moved_now}
            late = [r for r in late if r[0] not in settled]
            if late:
                moved = await store.write_results(conn, (), (), late)
                changes.extend(_changes(late, moved, campaigns))
            if changes and self._on_changes is not None:
                await self._on_changes(conn, changes)
        if parked:
            self._orphans_possible = True
        elif taken == 0 and take_orphans:
            self._orphans_possible = False
        return changes, latencies, parked

    async def _settle(self, conn: Any, message_ids: set[int], at: datetime) -> list[StatusChange]:
        """Move messages to the status their parts now imply (reference 5.7)."""
        if not message_ids:
            return []
        rows, campaigns = [], {}
        for r in await store.message_part_states(conn, sorted(message_ids)):
            if is_final(MESSAGE, r["status"]):
                continue
            try:
                new = settle_message(r["status"], r["part_states"])
            except StateError:
                log.warning(
                    "message %s: parts %s do not fit status %s",
                    r["id"],
                    r["part_states"],
                    r["status"],
                )
                continue
            if new != r["status"]:
                reason = _reason(new, r["part_states"])
                rows.append((r["id"], r["status"], new, reason, None, at))
                campaigns[r["id"]] = r["campaign_id"]
        moved = await store.write_results(conn, (), (), rows)
        return _changes(rows, moved, campaigns)


def _changes(
    rows: Sequence[tuple], moved: set[int], campaigns: Mapping[int, int]
) -> list[StatusChange]:
    """The status rows that took effect, as changes for the callbacks hook and metrics."""
    return [
        StatusChange(r[0], r[1], r[2], r[3], r[5], campaigns.get(r[0]))
        for r in rows
        if r[0] in moved
    ]


def _reason(status: str, part_states: Sequence[str]) -> str | None:
    """The first part state that decided a failed or unknown message."""
    if status == "failed":
        return next(
            (s for s in part_states if s in ("undeliverable", "expired", "deleted", "rejected")),
            None,
        )
    if status == "unknown":
        return "receipt_unknown"
    return None


def _single_part(state: str) -> tuple[str, str | None]:
    status = settle_message("sent", [state])
    return status, _reason(status, [state])


# Receipt state -> (status, reason) of a single-part message waiting in 'sent': apply_receipts
# moves such a message in the same statement, with no read-back of its parts.
_SINGLE_PART = {state: _single_part(state) for state in RECEIPT_STATES}


def _fold(
    parts: list[tuple], receipts: dict[tuple[str, str], tuple[ReceiptRow, list[Any]]]
) -> tuple[list[tuple], list[tuple], set[tuple[str, str]]]:
    """Split part results into plain ones and those whose receipt is in the same flush (the
    receipt's fields appended, its state as the part's): those parts are written once."""
    if not receipts:
        return parts, [], set()
    plain, receipted, folded = [], [], set()
    for row in parts:
        key = (row[7], row[4])  # (receipt group, canonical id)
        held = receipts.get(key) if row[2] == "submitted" else None
        if held is None:
            plain.append(row)
            continue
        r = held[0]
        receipted.append(
            (*row[:2], r.state, *row[3:8], r.receipt_state, r.error, r.network_error, r.at)
        )
        folded.add(key)
    return plain, receipted, folded


def _settle_single(batch: _Buffer, receipted: list[tuple]) -> tuple[list[tuple], set[int]]:
    """The dispatcher's statuses, with single-part messages whose receipt is folded into
    this flush moved straight to the status the receipt implies (no read-back needed). Also
    the messages that still need settling from their parts (multipart ones)."""
    statuses = batch.statuses
    if not receipted:
        return statuses, set()
    final_state = {row[0]: (row[2], row[11]) for row in receipted if row[0] in batch.single}
    touched = {row[0] for row in receipted if row[0] not in final_state}
    if not final_state:
        return statuses, touched
    rewritten = []
    for row in statuses:
        held = final_state.get(row[0])
        if held is None or row[1] != "sending" or row[2] != "sent":
            rewritten.append(row)
            continue
        state, at = held
        new = settle_message("sending", [state])
        rewritten.append((row[0], "sending", new, _reason(new, [state]), None, at, *row[6:]))
    return rewritten, touched
