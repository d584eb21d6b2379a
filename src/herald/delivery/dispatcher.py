"""The dispatcher: claims due messages and turns their stored parts into submit_sm PDUs.

One loop per process. Each turn it claims due messages with their parts in one statement (a
lease with an owner and an expiry, FOR UPDATE SKIP LOCKED, so several herald processes share
the work), defers those inside quiet hours to the window's end, routes the rest to a healthy
bind and hands every part to its bind's session at once. Results flow back through the writer.

Capacity: a message holds its slot from claim until its final status is committed, and the
slots are the sum of the bound binds' windows (in PDUs), or `max_in_flight` when set. So what
is leased (and may have been sent without the result being recorded yet) never exceeds that:
after a crash, at most that many messages are resent (policy `resend`) or marked unknown
(policy `mark_unknown`). When the dispatcher runs out of room it asks the writer to flush now
rather than at its interval.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

from herald.config import DispatcherConfig
from herald.delivery.quiet_hours import Window, next_allowed, parse_windows
from herald.delivery.router import NoRouteError, Router
from herald.delivery.waits import wait_any
from herald.delivery.writer import Writer
from herald.errors import ConfigError
from herald.metrics import Metrics
from herald.smpp.submit import SubmitOutcome, SubmitResult
from herald.store import dispatch as store
from herald.store.db import Database

log = logging.getLogger(__name__)

CLAIM_LOOPS = 2


class BindLink(Protocol):
    """What the dispatcher needs from a bind's session (herald.smpp.session.Session)."""

    @property
    def bound(self) -> bool: ...

    def submit(self, **fields: Any) -> asyncio.Future[SubmitResult]: ...


@dataclass(frozen=True, slots=True)
class CampaignContext:
    sender: str
    sender_ton: int
    sender_npi: int
    quiet_hours: tuple[Window, ...]  # empty when the campaign does not respect them


class _Flight:
    """One claimed message while its parts are out."""

    __slots__ = (
        "attempts",
        "bind",
        "campaign",
        "group",
        "handed_at",
        "id",
        "not_sent",
        "part_count",
        "refused",
        "retry",
        "unknown",
        "waiting",
        "weight",
    )

    def __init__(
        self,
        message_id: int,
        campaign: int,
        attempts: int,
        group: str,
        parts: int,
        part_count: int,
        bind: str = "",
    ) -> None:
        self.id = message_id
        self.campaign = campaign
        self.bind = bind  # the bind's name, stored as the message's bind
        self.handed_at: datetime | None = None  # when its parts went to the bind
        self.part_count = part_count  # the message's parts, sent now or in an earlier attempt
        self.attempts = attempts
        self.group = group  # the bind's receipt group, stored with each part's result
        self.waiting = parts
        self.weight = parts  # in-flight slots held, one per PDU
        self.refused: str | None = None
        self.retry: str | None = None
        self.unknown = False
        self.not_sent = False


class Dispatcher:
    def __init__(
        self,
        db: Database,
        writer: Writer,
        router: Router,
        links: Mapping[str, BindLink],
        *,
        windows: Mapping[str, int],
        config: DispatcherConfig,
        owner: str,
        clock: Callable[[], datetime],
        metrics: Metrics,
        validity: Mapping[str, str] | None = None,
        receipt_groups: Mapping[str, str] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._db = db
        self._writer = writer
        self._router = router
        self._links = links
        self._windows = dict(windows)  # each bind's window, in PDUs
        self._config = config
        self._owner = owner
        self._clock = clock
        self._metrics = metrics
        self._validity = dict(validity or {})
        # parts.bind holds the bind's receipt group (its carrier account), so a receipt
        # arriving on any bind of that account finds its part (Config.receipt_group).
        self._groups = dict(receipt_groups or {})
        self._rng = rng or random.Random()
        self._contexts: dict[int, CampaignContext] = {}
        self._in_flight = 0  # PDU slots held by claimed messages
        self._reserved = 0  # slots set aside for claims under way
        self._room = asyncio.Event()
        self._wake = asyncio.Event()
        metrics.leased_parts = lambda: self._in_flight
        metrics.lease_capacity = self.capacity

    # --- control -----------------------------------------------------------------------------

    def wake(self) -> None:
        """New work may be due (a run started, a campaign resumed, a NOTIFY arrived)."""
        self._wake.set()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def capacity(self) -> int:
        """Slots to lease: `max_in_flight` while any bind is up, else the bound windows."""
        bound = sum(self._windows[name] for name, link in self._links.items() if link.bound)
        return self._config.max_in_flight if bound and self._config.max_in_flight else bound

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and send until `stop` is set; then wait (bounded by the caller) for every
        message in flight to settle."""
        # Two claim loops: while one waits for its claim's rows, the other's are being sent,
        # so neither the database nor this loop idles between claims.
        await asyncio.gather(*(self._claim_loop(stop) for _ in range(CLAIM_LOOPS)))
        while self._in_flight:
            self._writer.request_flush()
            self._room.clear()
            await self._room.wait()

    async def _claim_loop(self, stop: asyncio.Event) -> None:
        poll = self._config.poll_interval
        while not stop.is_set():
            capacity = self.capacity()
            # Claim in chunks of a quarter of the capacity, so that claiming, sending and
            # recording overlap instead of taking turns.
            chunk = max(1, min(self._config.claim_batch, capacity // 4))
            room = capacity - self._in_flight - self._reserved
            if capacity == 0 or (room < chunk and (self._in_flight or self._reserved)):
                if self._in_flight:
                    self._writer.request_flush()
                self._room.clear()
                await wait_any(self._room, stop, within=poll)
                continue
            limit = min(room, chunk)
            self._reserved += limit  # held while the claim is out, so loops never overbook
            try:
                claimed = await self._claim_and_send(limit)
            finally:
                self._reserved -= limit
            if claimed == 0:
                self._wake.clear()
                await wait_any(self._wake, stop, within=poll)

    # --- claiming ----------------------------------------------------------------------------

    async def _claim_and_send(self, limit: int) -> int:
        now = self._clock()
        lease = now + timedelta(seconds=self._config.lease_seconds)
        async with self._db.acquire() as conn:
            rows = await store.claim_due_messages(conn, self._owner, limit, now, lease)
            if not rows:
                return 0
            # One row per part still to send (a message with none comes once, seq NULL).
            messages: list[Any] = []
            by_message: dict[int, list[Any]] = {}
            for row in rows:
                if row["id"] not in by_message:
                    messages.append(row)
                    by_message[row["id"]] = []
                if row["seq"] is not None:
                    by_message[row["id"]].append(row)
            await self._load_contexts(conn, {m["campaign_id"] for m in messages})
        plan = self._plan(messages, by_message, now)
        log.debug(
            "claimed %d messages (%d parts); %d to send, %d in flight",
            len(messages),
            len(rows),
            len(plan),
            self._in_flight,
        )
        for message, bind, message_parts in plan:
            self._send(message, bind, message_parts)
        return len(messages)

    async def _load_contexts(self, conn: Any, campaign_ids: set[int]) -> None:
        missing = [c for c in campaign_ids if c not in self._contexts]
        if not missing:
            return
        for row in await store.dispatch_context(conn, missing):
            windows: tuple[Window, ...] = ()
            if row["respect_quiet_hours"]:
                try:
                    windows = parse_windows(
                        (w["from"], w["to"]) if isinstance(w, dict) else w
                        for w in row["quiet_hours"]
                    )
                except ConfigError:
                    log.warning(
                        "campaign %s: unreadable quiet hours %r; sending without them",
                        row["id"],
                        row["quiet_hours"],
                    )
            if len(self._contexts) > 10_000:
                self._contexts.clear()
            self._contexts[row["id"]] = CampaignContext(
                row["sender"], row["sender_ton"], row["sender_npi"], windows
            )

    def _plan(
        self, messages: Sequence[Any], parts: Mapping[int, list[Any]], now: datetime
    ) -> list[tuple[Any, str, list[Any]]]:
        """Decide each claimed message's fate: defer, reject, or send on a bind."""
        plan = []
        for m in messages:
            ctx = self._contexts.get(m["campaign_id"])
            message_parts = parts.get(m["id"], [])
            if ctx is None:
                self._set(
                    m["id"], "rejected", "campaign_missing", None, now, campaign=m["campaign_id"]
                )
                continue
            if not message_parts:
                # Every part already has an outcome from an earlier attempt.
                self._set(m["id"], "sent", None, None, now, campaign=m["campaign_id"])
                continue
            if ctx.quiet_hours and m["tz"]:
                until = next_allowed(now, m["tz"].split(","), ctx.quiet_hours)
                if until is not None:
                    self._set(
                        m["id"], "deferred", "quiet_hours", until, now, campaign=m["campaign_id"]
                    )
                    continue
            try:
                route = self._router.route_for(m["phone"], ctx.sender)
            except NoRouteError:
                self._set(m["id"], "rejected", "no_route", None, now, campaign=m["campaign_id"])
                continue
            bind = self._router.pick_bind(route)
            if bind is None:  # every bind of the route is down: try again shortly
                retry_at = now + timedelta(seconds=self._config.retry_base)
                self._set(m["id"], "deferred", "no_bind", retry_at, now, campaign=m["campaign_id"])
                continue
            self._metrics.routes[route.name] += 1
            plan.append((m, bind, message_parts))
        return plan

    # --- sending -----------------------------------------------------------------------------

    def _send(self, message: Any, bind: str, parts: list[Any]) -> None:
        ctx = self._contexts[message["campaign_id"]]
        link = self._links[bind]
        flight = _Flight(
            message["id"],
            message["campaign_id"],
            message["attempts"],
            self._groups.get(bind, bind),
            len(parts),
            message["part_count"],
            bind,
        )
        # A part's submitted_at is when it was handed to the bind: the submit-to-receipt
        # latency then counts time waiting for the window, and no receipt read in the same
        # chunk as its response can seem to come first.
        flight.handed_at = self._clock()
        self._in_flight += flight.weight
        destination = message["phone"].removeprefix("+")
        validity = self._validity.get(bind, "")
        for part in parts:
            future = link.submit(
                source_addr=ctx.sender,
                source_ton=ctx.sender_ton,
                source_npi=ctx.sender_npi,
                destination_addr=destination,
                esm_class=message["esm_class"],
                data_coding=message["data_coding"],
                short_message=part["short_message"],
                tlvs=part["tlvs"],
                registered_delivery=1,
                validity_period=validity,
            )
            future.add_done_callback(partial(self._part_done, flight, part["seq"]))

    def _part_done(self, flight: _Flight, seq: int, future: asyncio.Future[SubmitResult]) -> None:
        try:
            result = future.result()
        except Exception:  # the session broke its contract; never lose the message
            log.exception("submit of message %s part %s failed", flight.id, seq)
            result = SubmitResult(SubmitOutcome.NOT_SENT)
        now = self._clock()
        handed = flight.handed_at or now
        outcome = result.outcome
        if outcome is SubmitOutcome.ACCEPTED:
            self._writer.record_part(
                (
                    flight.id,
                    seq,
                    "submitted",
                    result.message_id,
                    result.canonical_id,
                    result.command_status,
                    handed,
                    flight.group,
                )
            )
        elif outcome is SubmitOutcome.REJECTED:
            self._writer.record_part(
                (flight.id, seq, "refused", None, None, result.command_status, handed, flight.group)
            )
            flight.refused = result.status_name or f"0x{result.command_status:08X}"
        elif outcome is SubmitOutcome.UNKNOWN and self._config.unknown_policy == "mark_unknown":
            self._writer.record_part(
                (flight.id, seq, "unknown", None, None, None, handed, flight.group)
            )
            flight.unknown = True
        elif outcome is SubmitOutcome.NOT_SENT:
            flight.not_sent = True
        else:  # RETRY, or UNKNOWN under the resend policy: the part stays pending
            flight.retry = result.status_name or outcome.value
        flight.waiting -= 1
        if flight.waiting == 0:
            self._finish(flight, now)

    def _finish(self, flight: _Flight, now: datetime) -> None:
        not_before = None
        if flight.refused:
            status, reason = "rejected", flight.refused
        elif flight.unknown:
            status, reason = "unknown", "no_response"
        elif flight.retry:
            if flight.attempts >= self._config.max_attempts:
                status, reason = "failed", f"retries_exhausted:{flight.retry}"
            else:
                status, reason = "deferred", flight.retry
                not_before = now + timedelta(seconds=self._backoff(flight.attempts))
        elif flight.not_sent:
            # The bind went down before the PDU was written: back to the queue, another
            # bind (or this one, reconnected) takes it.
            status, reason = "queued", None
        else:
            status, reason = "sent", None
        self._set(
            flight.id,
            status,
            reason,
            not_before,
            now,
            partial(self._release, flight),
            parts=flight.part_count,
            campaign=flight.campaign,
            bind=flight.bind,
        )

    def _backoff(self, attempts: int) -> float:
        base = self._config.retry_base * 2 ** max(0, attempts - 1)
        return min(self._config.retry_max, base) * (0.8 + 0.4 * self._rng.random())

    def _set(
        self,
        message_id: int,
        status: str,
        reason: str | None,
        not_before: datetime | None,
        now: datetime,
        on_commit: Callable[[], None] | None = None,
        parts: int = 0,
        campaign: int | None = None,
        bind: str | None = None,
    ) -> None:
        self._writer.set_status(
            (message_id, "sending", status, reason, not_before, now, bind),
            on_commit,
            parts=parts,
            campaign=campaign,
        )

    def _release(self, flight: _Flight) -> None:
        self._in_flight -= flight.weight
        self._room.set()
