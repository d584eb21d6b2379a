"""Batched writes of the send path, one transaction per flush.

The dispatcher hands over part outcomes and status moves, the tracker hands over receipts
(the named rows of store/send_rows.py); the writer stores them together, flushing when the
buffer reaches `flush_size` or `flush_interval` after its first item. In each flush, in order:

1. part results (carrier ids), then message statuses (compare-and-set);
2. orphan receipts that a part whose id has now landed may own are taken back;
3. receipts are applied to the parts they belong to (the newest part waiting for a receipt
   with that id, submitted before the receipt came in: carriers reuse ids); those no part
   waits for are parked as orphans;
4. messages touched by receipts are settled from their parts (multipart aggregation);
5. the status changes go to `on_changes` (callbacks outbox) in the same transaction.

A receipt's future resolves only after the transaction commits, so a deliver_sm is
acknowledged only once its receipt is stored. A failed flush keeps its rows and retries with
backoff; compare-and-set queries make a replay harmless. Once stopped, the writer retries
for at most `stop_timeout` and then gives up, saying what it could not store: receipts not
stored are never acknowledged (the carrier delivers them again), and the messages whose
results were lost keep their lease, which the next start takes back (Maintenance.recover).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from herald.delivery.waits import wait_any
from herald.errors import StateError
from herald.metrics import Metrics
from herald.smpp.status import CommandStatus
from herald.states import MESSAGE, RECEIPT_STATES, is_final, settle_message
from herald.store import dispatch as store
from herald.store.db import Database
from herald.store.send_rows import (
    FINAL_RECEIPT,
    PartOutcome,
    Receipt,
    StatusChange,
    StatusMove,
    from_epoch,
)

__all__ = ["NOT_STORED", "StatusChange", "Writer"]

log = logging.getLogger(__name__)

# validity_hours + receipt_margin_hours of the default TrackerConfig, in seconds
DEFAULT_RECEIPT_WINDOW = 50 * 3600.0
ORPHAN_SWEEP_LIMIT = 5000  # orphans taken back per sweep; the rest at the next one

# What a receipt the writer gave up on is answered with: a temporary error, so the carrier
# delivers it again (SMPP 3.4 5.1.3: ESME_RX_T_APPN, "ESME receiver temporary app error").
NOT_STORED = CommandStatus.ESME_RX_T_APPN.value

Key = tuple[str, str]  # (receipt group, canonical id)
Held = tuple[Receipt, list["asyncio.Future[int | None]"]]


class _Buffer:
    __slots__ = (
        "campaigns",
        "committed",
        "extra",
        "parts",
        "receipts",
        "receipts_since",
        "since",
        "single",
        "statuses",
    )

    def __init__(self) -> None:
        self.parts: list[PartOutcome] = []
        self.statuses: list[StatusMove] = []
        # One receipt per (group, canonical id): a final state beats an intermediate one,
        # otherwise the later receipt wins. Every sender's future resolves at the flush.
        self.receipts: dict[Key, Held] = {}
        # A second final receipt for an id already held: a resend, or the id reused for a
        # newer part. Never merged away: parked, then matched or counted (see flush step 3).
        self.extra: list[Held] = []
        self.committed: list[Callable[[], None]] = []  # run after the commit, in order
        self.single: set[int] = set()  # single-part messages among `statuses`
        self.campaigns: dict[int, int] = {}  # message id -> campaign id, when known
        self.since: float | None = None  # when the first row came in (the writer's clock)
        self.receipts_since: float | None = None  # when the first receipt came in

    def __len__(self) -> int:
        return len(self.parts) + len(self.statuses) + len(self.receipts) + len(self.extra)

    def add_receipt(self, receipt: Receipt, futures: list[asyncio.Future[int | None]]) -> None:
        key = receipt.key
        held = self.receipts.get(key)
        if held is None:
            self.receipts[key] = (receipt, futures)
        elif held[0].final and receipt.final:
            self.extra.append((receipt, futures))
        else:
            held[1].extend(futures)
            self.receipts[key] = (_latest(held[0], receipt), held[1])

    def absorb(self, older: _Buffer) -> None:
        """Put a failed flush's rows back in front of this buffer's."""
        self.parts[:0] = older.parts
        self.statuses[:0] = older.statuses
        newer, self.receipts = self.receipts, dict(older.receipts)
        self.extra[:0] = older.extra
        for receipt, futures in newer.values():
            self.add_receipt(receipt, futures)
        self.committed[:0] = older.committed
        self.single |= older.single
        self.campaigns.update(older.campaigns)
        self.since = _earlier(older.since, self.since)
        self.receipts_since = _earlier(older.receipts_since, self.receipts_since)

    def futures(self) -> Iterable[asyncio.Future[int | None]]:
        for _, futures in (*self.receipts.values(), *self.extra):
            yield from futures


def _earlier(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(old: Receipt, new: Receipt) -> Receipt:
    if old.final and not new.final:
        return old
    return new


@dataclass(slots=True)
class _Flush:
    """One flush, prepared from a buffer: what each step writes, and what it reports."""

    results: list[PartOutcome]  # submit results
    receipted: list[PartOutcome]  # submit results with their receipt folded in
    early: list[StatusMove]  # status moves written with the results
    late: list[StatusMove]  # moves of messages a receipt may settle: written after settling
    receipts: list[Receipt]  # receipts to apply (or park)
    extra: list[Receipt]  # receipts to park as they are
    touched: set[int]  # messages to settle from their parts
    campaigns: dict[int, int]
    moved: list[StatusMove] = field(default_factory=list)  # moves that took effect
    latencies: list[float] = field(default_factory=list)  # submit to final receipt, seconds
    last_receipt: float = 0.0  # the latest receipt applied, epoch seconds
    parked: int = 0  # receipts parked for the first time

    @property
    def simple(self) -> bool:
        """Results and statuses only: one statement, atomic on its own."""
        return not (self.receipts or self.extra or self.touched)

    def stored_ids(self) -> list[Key]:
        """The (group, canonical id) of the parts whose carrier id this flush stores."""
        return [
            (row.bind, row.canonical_id)
            for rows in (self.results, self.receipted)
            for row in rows
            if row.canonical_id is not None
        ]


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
        receipt_window: float = DEFAULT_RECEIPT_WINDOW,
        stop_timeout: float = 10.0,
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
        self._window = receipt_window  # seconds: a receipt's part is submitted within it
        self._stop_timeout = stop_timeout
        self._on_changes = on_changes
        # After each flush: the campaigns whose messages it made final (completion checks them).
        self._on_final = on_final
        self._buffer = _Buffer()
        self._wake = asyncio.Event()
        self._urgent = asyncio.Event()
        self._sooner = asyncio.Event()  # the buffer's deadline moved earlier (a receipt)
        self._lock = asyncio.Lock()  # one flush at a time
        self._failures = 0
        self.failing_since: float | None = None  # the writer's clock, while flushes fail
        self.abandoned = 0  # rows given up at shutdown (abandon())
        self._gave_up = False  # abandon() ran: receipts landing after it are not stored
        self._arriving = 0  # receipts handed to add_receipt, not yet in the buffer
        # Orphans are looked for by the ids a flush stores while any may be waiting (this
        # process parked some, or the last sweep left some), and all of them when maintenance
        # asks and at the first flush; not on every flush, which would cost a lookup each time.
        self._orphans_possible = False
        self._orphan_sweep = True

    # --- producers ---------------------------------------------------------------------------

    def record_part(self, outcome: PartOutcome) -> None:
        """A part's submit result."""
        self._buffer.parts.append(outcome)
        self._added()

    def set_status(
        self,
        move: StatusMove,
        on_commit: Callable[[], None] | None = None,
        *,
        parts: int = 0,
        campaign: int | None = None,
    ) -> None:
        """A message status compare-and-set; `on_commit` runs once it is stored (the
        dispatcher frees the message's in-flight slot then). `parts` is the message's part
        count when known: a single-part message whose receipt lands in the same flush is
        settled without reading its parts back."""
        buffer = self._buffer
        buffer.statuses.append(move)
        if parts == 1:
            buffer.single.add(move.id)
        if campaign is not None:
            buffer.campaigns[move.id] = campaign
        if on_commit is not None:
            buffer.committed.append(on_commit)
        self._added()

    def sweep_orphans(self) -> None:
        """Look for orphan receipts whose part has landed at the next flush, whatever it
        holds (maintenance calls this: another process may have parked them)."""
        self._orphan_sweep = True
        self.request_flush()

    def add_receipt(self, receipt: Receipt) -> asyncio.Future[int | None]:
        """Buffer a receipt; the future resolves to None once it is stored (applied or
        parked), or to NOT_STORED, the status to answer, if the writer gave up on it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int | None] = loop.create_future()
        # Buffered from a callback, in the next turn of the loop. The submit_sm_resp read just
        # before the receipt (often in the same chunk) reaches record_part through its
        # submit's done callback, queued the same way and so ahead of this one. Buffered at
        # once, the receipt could be taken by a flush before its part's result: it was then
        # parked as an orphan and taken back by the next flush, in a transaction of several
        # statements (2-3% of receipts at window 10, and most flushes off the one-statement
        # path; docs/architecture.md).
        self._arriving += 1
        loop.call_soon(self._buffer_receipt, receipt, future)
        return future

    def _buffer_receipt(self, receipt: Receipt, future: asyncio.Future[int | None]) -> None:
        self._arriving -= 1
        if self._gave_up:  # stopping with the database gone: answered, never acknowledged
            self.abandoned += 1
            future.set_result(NOT_STORED)
            return
        if self._buffer.receipts_since is None:
            self._buffer.receipts_since = self._clock()
            self._sooner.set()
        self._buffer.add_receipt(receipt, [future])
        self._added()

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
        """Flush until `stop` is set, then flush what remains and return; if the database
        stays unreachable, give up `stop_timeout` after `stop` (see abandon())."""
        deadline: float | None = None
        while True:
            if not (self._buffer or self._buffer.committed or self._orphan_sweep or self._arriving):
                if stop.is_set():
                    return
                self._wake.clear()
                await wait_any(self._wake, stop)
                continue
            if stop.is_set() and deadline is None:
                deadline = self._clock() + self._stop_timeout
            self._sooner.clear()
            await wait_any(self._urgent, self._sooner, stop, within=self._time_left())
            if self._sooner.is_set() and not (self._urgent.is_set() or stop.is_set()):
                continue  # a receipt came in: wait again, for its shorter interval
            self._urgent.clear()
            if await self.flush():
                continue
            backoff = min(5.0, 0.05 * 2 ** min(self._failures, 7))
            if deadline is not None:
                left = deadline - self._clock()
                if left <= 0:
                    self.abandon()
                    return
                backoff = min(backoff, left)
            await asyncio.sleep(backoff)

    def abandon(self) -> None:
        """Give up on what is buffered (the database is gone and herald is stopping): the
        receipts are answered with a temporary error, never acknowledged, so the carrier
        delivers them again; and say what was left unstored and why that is safe."""
        batch, self._buffer = self._buffer, _Buffer()
        self._gave_up = True
        receipts = len(batch.receipts) + len(batch.extra)
        self.abandoned += len(batch)
        if batch or batch.committed:
            log.error(
                "stopping with the database unreachable: %d part results, %d message statuses "
                "and %d receipts were not stored. The receipts were not acknowledged (answered "
                "ESME_RX_T_APPN): the carrier delivers them again. The messages concerned keep "
                "their lease: the next start takes them back (dispatcher.unknown_policy "
                "decides: unknown, or sent again)",
                len(batch.parts),
                len(batch.statuses),
                receipts,
            )
        for future in batch.futures():
            if not future.done():
                future.set_result(NOT_STORED)

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
        """Write the buffer in one transaction. False (rows kept for a retry) on failure.
        The receipts handed over before the call are in it (see add_receipt)."""
        if self._arriving:
            await asyncio.sleep(0)  # their callbacks are queued already: they run first
        async with self._lock:
            batch, self._buffer = self._buffer, _Buffer()
            sweep, self._orphan_sweep = self._orphan_sweep, False
            if not batch and not batch.committed and not sweep:
                return True
            started = time.perf_counter()
            try:
                done = await self._write(batch, sweep)
            except Exception:
                self._failures += 1
                self._metrics.flush_failures += 1
                if self.failing_since is None:
                    self.failing_since = self._clock()
                    log.exception("database flush of %d rows failed; keeping them", len(batch))
                else:  # the traceback once per outage
                    log.warning("database flush of %d rows failed again; keeping them", len(batch))
                self._buffer.absorb(batch)
                self._orphan_sweep |= sweep
                return False
            self._failures = 0
            self.failing_since = None
        elapsed = time.perf_counter() - started
        log.debug(
            "flushed %d results, %d statuses, %d receipts in %.1f ms",
            len(batch.parts),
            len(batch.statuses),
            len(batch.receipts) + len(batch.extra),
            elapsed * 1000,
        )
        m = self._metrics
        m.flush_seconds.observe(elapsed)
        m.flush_rows.observe(len(batch))
        m.orphan_receipts += done.parked
        messages = m.messages
        final: set[int] = set()  # campaigns with messages this flush made final
        final_states = MESSAGE.final
        for move in done.moved:
            messages[move.status] += 1
            if move.status in final_states:
                campaign = done.campaigns.get(move.id)
                if campaign is not None:
                    final.add(campaign)
        for seconds in done.latencies:
            m.receipt_latency.observe(seconds)
        for future in batch.futures():
            if not future.done():
                future.set_result(None)
        for callback in batch.committed:
            callback()
        if final and self._on_final is not None:
            self._on_final(final)
        return True

    # --- one flush, step by step ---------------------------------------------------------------

    async def _write(self, batch: _Buffer, sweep: bool) -> _Flush:
        flush = _prepare(batch)
        take = self._orphans_possible and bool(flush.results or flush.receipted)
        if flush.simple and not (sweep or take) and self._hook_quiet(flush):
            # The common flush: one statement, atomic on its own, no transaction round trips.
            async with self._db.acquire() as conn:
                await self._store_results(conn, flush)
            return flush
        async with self._db.acquire() as conn, conn.transaction():
            await self._store_results(conn, flush)
            taken = await self._take_orphans(conn, flush, sweep, take)
            await self._apply_receipts(conn, flush, taken)
            await self._settle_touched(conn, flush)
            await self._store_late_statuses(conn, flush)
            await self._report_changes(conn, flush)
            # After a sweep, or a take that found some: are any left? If not, the flushes
            # that follow go back to the one-statement path.
            waiting = await store.orphans_waiting(conn) if sweep or taken else None
        if flush.parked:
            self._orphans_possible = True
        elif waiting is not None:
            self._orphans_possible = waiting
        return flush

    def _hook_quiet(self, flush: _Flush) -> bool:
        """True when the callbacks hook surely has nothing to do with the early statuses."""
        if self._on_changes is None:
            return True
        needed = getattr(self._on_changes, "needed", None)
        campaigns = flush.campaigns
        return needed is not None and not needed(campaigns.get(m.id) for m in flush.early)

    async def _store_results(self, conn: Any, flush: _Flush) -> None:
        """Step 1: part results (some with their receipt) and the statuses that need no
        settling, in one statement."""
        moved = await store.write_results(conn, flush.results, flush.receipted, flush.early)
        flush.moved.extend(m for m in flush.early if m.id in moved)

    async def _take_orphans(
        self, conn: Any, flush: _Flush, sweep: bool, take: bool
    ) -> list[Receipt]:
        """Step 2: orphans a part whose id has just been stored may own (or, on a sweep,
        any part), taken out to be applied with this flush's receipts."""
        if sweep:
            return await store.take_matching_orphans(conn, self._window, ORPHAN_SWEEP_LIMIT)
        if take:
            return await store.take_orphans_for_ids(conn, flush.stored_ids(), self._window)
        return []

    async def _apply_receipts(self, conn: Any, flush: _Flush, taken: list[Receipt]) -> None:
        """Step 3: receipts to their parts; single-part messages follow in the statement;
        the rest is parked (orphans taken back and still unmatched go back as they were)."""
        receipts, extra = _one_per_id([*taken, *flush.receipts])
        found = await store.apply_receipts(
            conn, receipts, [_SINGLE_PART[r.state] for r in receipts], self._window
        )
        applied = {f["pos"] for f in found}
        unmatched = [r for i, r in enumerate(receipts, 1) if i not in applied]
        unmatched += extra
        unmatched += flush.extra
        await store.park_orphan_receipts(conn, unmatched)
        if unmatched:
            retaken = set(map(id, taken))
            flush.parked = sum(1 for r in unmatched if id(r) not in retaken)
        for f in found:
            receipt = receipts[f["pos"] - 1]
            message_id = f["message_id"]
            flush.last_receipt = max(flush.last_receipt, receipt.at)
            if f["settled"]:
                new, reason = _SINGLE_PART[receipt.state]
                flush.moved.append(StatusMove(message_id, "sent", new, reason, None, receipt.at))
                flush.campaigns[message_id] = f["campaign_id"]
            else:
                flush.touched.add(message_id)
            if receipt.final and f["submitted_at"] is not None:
                flush.latencies.append(receipt.at - f["submitted_at"])

    async def _settle_touched(self, conn: Any, flush: _Flush) -> None:
        """Step 4: messages whose parts took receipts move to the status the parts imply
        (docs/protocol.md §5.7); the dispatcher's 'sent' for one that moved is dropped (step 5)."""
        touched = flush.touched
        if not touched:
            return
        at = flush.last_receipt or time.time()
        moves = []
        for r in await store.message_part_states(conn, sorted(touched)):
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
                moves.append(
                    StatusMove(r["id"], r["status"], new, _reason(new, r["part_states"]), None, at)
                )
                flush.campaigns[r["id"]] = r["campaign_id"]
        moved = await store.write_results(conn, (), (), moves)
        flush.moved.extend(m for m in moves if m.id in moved)

    async def _store_late_statuses(self, conn: Any, flush: _Flush) -> None:
        """Step 5: the dispatcher's statuses held back for step 4, unless it moved them."""
        if not flush.late:
            return
        settled = {m.id for m in flush.moved}
        late = [m for m in flush.late if m.id not in settled]
        moved = await store.write_results(conn, (), (), late)
        flush.moved.extend(m for m in late if m.id in moved)

    async def _report_changes(self, conn: Any, flush: _Flush) -> None:
        """Step 6: the moves that took effect, to the callbacks hook, in this transaction."""
        if flush.moved and self._on_changes is not None:
            campaigns = flush.campaigns
            changes = [
                StatusChange(
                    m.id, m.expected, m.status, m.reason, from_epoch(m.at), campaigns.get(m.id)
                )
                for m in flush.moved
            ]
            await self._on_changes(conn, changes)


def _prepare(batch: _Buffer) -> _Flush:
    """Fold receipts into the results of the same flush, settle single-part messages whose
    receipt came with their result, and split the statuses by whether settling may move
    their message."""
    results, receipted, folded = _fold(batch.parts, batch.receipts)
    statuses, touched = _settle_single(batch, receipted)
    receipts = [r for key, (r, _) in batch.receipts.items() if key not in folded]
    if touched:
        early = [m for m in statuses if m.id not in touched]
        late = [m for m in statuses if m.id in touched]
    else:
        early, late = statuses, []
    flush = _Flush(
        results,
        receipted,
        early,
        late,
        receipts,
        [r for r, _ in batch.extra],
        touched,
        dict(batch.campaigns),
    )
    for row in receipted:
        if row.receipt_at is not None:
            flush.last_receipt = max(flush.last_receipt, row.receipt_at)
            if row.state in FINAL_RECEIPT:
                flush.latencies.append(row.receipt_at - row.submitted_at)
    return flush


def _fold(
    parts: list[PartOutcome], receipts: Mapping[Key, Held]
) -> tuple[list[PartOutcome], list[PartOutcome], set[Key]]:
    """Split part results into plain ones and those whose receipt is in the same flush (the
    receipt's fields added, its state as the part's): those parts are written once. A
    receipt only folds into a part submitted before it came in."""
    if not receipts:
        return parts, [], set()
    plain, receipted, folded = [], [], set()
    for row in parts:
        held = None
        if row.state == "submitted" and row.canonical_id is not None:
            held = receipts.get((row.bind, row.canonical_id))
        if held is None or held[0].at < row.submitted_at:
            plain.append(row)
            continue
        receipted.append(row.with_receipt(held[0]))
        folded.add(held[0].key)
    return plain, receipted, folded


def _settle_single(
    batch: _Buffer, receipted: list[PartOutcome]
) -> tuple[list[StatusMove], set[int]]:
    """The dispatcher's statuses, with single-part messages whose receipt is folded into
    this flush moved straight to the status the receipt implies (no read-back needed). Also
    the messages that still need settling from their parts (multipart ones)."""
    statuses = batch.statuses
    if not receipted:
        return statuses, set()
    single = batch.single
    final_state = {row.message_id: row for row in receipted if row.message_id in single}
    touched = {row.message_id for row in receipted if row.message_id not in final_state}
    if not final_state:
        return statuses, touched
    rewritten = []
    for move in statuses:
        row = final_state.get(move.id)
        if row is None or move.expected != "sending" or move.status != "sent":
            rewritten.append(move)
            continue
        new = settle_message("sending", [row.state])
        at = row.receipt_at if row.receipt_at is not None else move.at
        rewritten.append(
            StatusMove(move.id, "sending", new, _reason(new, [row.state]), None, at, move.bind)
        )
    return rewritten, touched


def _one_per_id(receipts: list[Receipt]) -> tuple[list[Receipt], list[Receipt]]:
    """At most one receipt per (group, canonical id) for one apply_receipts statement, merged
    as the buffer merges them; a second final one is returned apart, to be parked."""
    kept: dict[Key, Receipt] = {}
    extra: list[Receipt] = []
    for receipt in receipts:
        held = kept.get(receipt.key)
        if held is None:
            kept[receipt.key] = receipt
        elif held.final and receipt.final:
            extra.append(receipt)
        else:
            kept[receipt.key] = _latest(held, receipt)
    return list(kept.values()), extra


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
