"""The dispatcher: claims due messages and turns their stored parts into submit_sm PDUs.

One per process. What to claim is the fair share's decision (delivery/fair_share.py): the
queues with due messages (a batch's messages on one route) are read at a bounded rate and on
wake-ups, and each claim takes, per route with room, the share of that room each account,
campaign and batch is due. The claim leases exactly those messages with their parts in one
statement (an owner and an expiry, FOR UPDATE SKIP LOCKED, so several herald processes share
the work) and reads only the queues it was given. The dispatcher then defers those inside
quiet hours to the window's end, routes the rest to a healthy bind and hands every part to its
bind's session at once. Results flow back through the writer.

The pipeline: a bind's window is fed from its queue, and the dispatcher keeps that queue
stocked by claiming ahead, so the window never waits for the store. Two counts bound it, in
PDUs (one per part):

- in flight: parts claimed and not yet answered by their bind (queued in the session or in its
  window). Each route keeps up to its pipeline in flight: per bound bind, its window plus
  PIPELINE_CLAIMS claims, a claim being the window (at least CLAIM_MIN parts, at most
  `claim_batch`). A part's slot is freed by its submit_sm_resp (or timeout, or link loss), not
  by the commit of its result, so the window refills while results are being stored.
- leased: parts claimed whose message's result is not yet committed (in flight, or answered
  and waiting for the writer's flush). At most `max_in_flight` (automatic: twice the
  pipelines of the bound binds). This is what a crash can leave leased: those messages are
  marked unknown (policy `mark_unknown`) or sent again (policy `resend`) when their leases
  are taken back. When answered parts pile up the dispatcher asks the writer to flush now
  rather than at its interval.

Each route has its own pipeline, so a slow or silent carrier holds only its own route's
slots and a route with no bind up claims nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

from herald.config import DispatcherConfig
from herald.delivery.claims import Claimer
from herald.delivery.quiet_hours import Window, next_allowed, parse_windows
from herald.delivery.router import NoRouteError, Router
from herald.delivery.waits import wait_any
from herald.delivery.writer import Writer
from herald.errors import ConfigError
from herald.metrics import Metrics
from herald.smpp.submit import SubmitOutcome, SubmitResult
from herald.smpp.validity import relative_validity
from herald.store import dispatch as store
from herald.store.db import Database
from herald.store.send_rows import PartOutcome, StatusMove

log = logging.getLogger(__name__)

CLAIM_LOOPS = 2
# The pipeline of a bind (docs/architecture.md, the send path): its window plus this many
# claims, a claim being the window but at least CLAIM_MIN parts, so that a claim statement's
# fixed cost is spread over many parts whatever the window.
PIPELINE_CLAIMS = 3
CLAIM_MIN = 64
# The first claim when nothing is in flight: at window 1000 a claim of 500 took 15-20 ms more
# than one of 64 before its first part went (the statement and the rows' planning).
FIRST_CLAIM = CLAIM_MIN
# Reads of the due queues are at least REFRESH_GAP apart: wake-ups in a burst (a thousand runs
# started at once, their NOTIFYs) share a read. The full read (a probe or two per sending
# batch) takes at most REFRESH_DUTY of the time: with many batches, it comes less often.
REFRESH_GAP = 0.01
REFRESH_DUTY = 0.2
# Leases are renewed every this share of `lease_seconds`, those with less than RENEW_LEFT of
# it left: a part can wait in a slow bind's queue longer than a lease (docs/architecture.md,
# durability).
RENEW_EVERY = 0.25
RENEW_LEFT = 0.5


class BindLink(Protocol):
    """What the dispatcher needs from a bind's session (herald.smpp.session.Session)."""

    @property
    def bound(self) -> bool: ...

    def submit(
        self,
        *,
        source_addr: str,
        source_ton: int,
        source_npi: int,
        destination_addr: str,
        esm_class: int,
        data_coding: int,
        short_message: bytes,
        tlvs: bytes,
        registered_delivery: int,
        validity_period: str,
    ) -> asyncio.Future[SubmitResult]: ...

    def withdraw(self) -> int: ...


@dataclass(frozen=True, slots=True)
class CampaignContext:
    sender: str
    sender_ton: int
    sender_npi: int
    quiet_hours: tuple[Window, ...]  # empty when the campaign does not respect them
    validity: str = ""  # the campaign's own validity_period; "" takes the bind's


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
        "route",
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
        self.handed_at: float | None = None  # when its parts went to the bind, epoch seconds
        self.part_count = part_count  # the message's parts, sent now or in an earlier attempt
        self.attempts = attempts
        self.group = group  # the bind's receipt group, stored with each part's result
        self.waiting = parts
        self.weight = parts  # in-flight slots held, one per PDU
        self.refused: str | None = None
        self.retry: str | None = None
        self.route = ""  # the queue it was claimed from, whose route's slots it holds
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
        self._in_flight = 0  # parts claimed and not yet answered by their bind
        self._leased = 0  # parts claimed whose result is not yet committed
        self._reserved = 0  # slots set aside for claims under way
        # The same per route (by the route stored with each message: see _route_pipeline).
        self._route_in_flight: defaultdict[str, int] = defaultdict(int)
        self._route_reserved: defaultdict[str, int] = defaultdict(int)
        self._route_binds = {route.name: route.binds for route in router.routes}
        self._claims = Claimer(owner, starvation_limit=config.starvation_limit)
        self._share = self._claims.share
        self._room = asyncio.Event()
        self._wake = asyncio.Event()  # new work may be due: read the queues again
        self._full_wanted = False  # ... all of them (wake(full=True))
        self._work = asyncio.Event()  # the queues were read: something may be due
        self._sent = asyncio.Event()  # a claim was handed to the binds (next_send())
        metrics.leased_parts = lambda: self._leased
        metrics.lease_capacity = self.capacity
        self._refresh_seconds = 0.0
        metrics.due_queues = lambda: self._share.due_queues(self._clock())
        metrics.due_queues_read_seconds = lambda: self._refresh_seconds

    # --- control -----------------------------------------------------------------------------

    def wake(self, *, full: bool = False) -> None:
        """New work may be due (a run started, a campaign resumed, a NOTIFY arrived). `full`:
        read every queue, not only the newest batches' (more messages stored for a batch
        whose queue may have run dry: a send-now run's rest, herald/campaigns/runs.py)."""
        self._full_wanted |= full
        self._wake.set()

    async def next_send(self, within: float) -> None:
        """Until the next claim has handed its parts to the binds, `within` seconds at most. A
        request that started a run waits for it before storing the run's rest, so that the
        first messages leave before the rest's COPY takes the loop
        (herald/api/routes/campaigns.py)."""
        self._sent.clear()  # waiters already woken stay woken
        await wait_any(self._sent, within=within)

    @property
    def in_flight(self) -> int:
        """Parts claimed and not yet answered by their bind."""
        return self._in_flight

    @property
    def leased(self) -> int:
        """Parts claimed whose result is not yet stored: what a crash would leave leased."""
        return self._leased

    def claim_size(self, window: int) -> int:
        """Parts a bind of this window claims at once."""
        return max(1, min(self._config.claim_batch, max(window, CLAIM_MIN)))

    def pipeline(self, window: int) -> int:
        """Parts a bound bind of this window keeps in flight (its queue and its window)."""
        claim = self.claim_size(window)
        return max(window, claim) + PIPELINE_CLAIMS * claim

    def _bound(self) -> dict[str, int]:
        return {name: self._windows[name] for name, link in self._links.items() if link.bound}

    def capacity(self) -> int:
        """Parts this process may have leased at once: `max_in_flight` while any bind is up,
        else twice the pipelines of the bound binds (none while no bind is up)."""
        pipelines = sum(self.pipeline(window) for window in self._bound().values())
        if not pipelines:
            return 0
        return self._config.max_in_flight or 2 * pipelines

    def _route_pipeline(self, route: str, bound: Mapping[str, int]) -> int:
        """A route's parts in flight at most: the pipelines of its bound binds, within
        `max_in_flight` when that is set (shared by the routes as their windows are). A route
        no longer configured (or none stored) may use every bound bind's: the plan routes its
        messages again, by the configuration of the day."""
        binds = self._route_binds.get(route)
        names = list(bound) if binds is None else [name for name in binds if name in bound]
        pipelines = sum(self.pipeline(bound[name]) for name in names)
        limit = self._config.max_in_flight
        if not limit or not pipelines:
            return pipelines
        windows = sum(bound[name] for name in names)
        return min(pipelines, math.ceil(limit * windows / sum(bound.values())))

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and send until `stop` is set; then wait (bounded by the caller) for every
        message in flight to settle."""
        renewer = asyncio.ensure_future(self._renew_loop())
        try:
            await self._claim_and_drain(stop)
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer

    async def _claim_and_drain(self, stop: asyncio.Event) -> None:
        refresher = asyncio.ensure_future(self._refresh_loop(stop))
        try:
            # Two claim loops: while one waits for its claim's rows, the other's are being
            # sent, so neither the database nor this loop idles between claims.
            await asyncio.gather(*(self._claim_loop(stop) for _ in range(CLAIM_LOOPS)))
        finally:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
        # Parts claimed ahead and not yet written go back to the queue (NOT_SENT) at once:
        # only the windows are drained.
        for link in self._links.values():
            link.withdraw()
        while self._leased:
            self._writer.request_flush()
            self._room.clear()
            await self._room.wait()

    # --- leases ------------------------------------------------------------------------------

    async def renew_leases(self) -> int:
        """Extend this process's leases with less than RENEW_LEFT of `lease_seconds` left to a
        full lease from now: parts claimed are still to be sent or stored, however long a
        slow bind keeps them queued. How many were renewed."""
        lease = self._config.lease_seconds
        now = self._clock()
        async with self._db.acquire() as conn:
            return await store.renew_leases(
                conn,
                self._owner,
                now + timedelta(seconds=lease * RENEW_LEFT),
                now + timedelta(seconds=lease),
            )

    async def _renew_loop(self) -> None:
        """Renew the leases every RENEW_EVERY of a lease while any are held, until the
        dispatcher has drained (a crashed process renews nothing: its leases expire)."""
        every = self._config.lease_seconds * RENEW_EVERY
        while True:
            await asyncio.sleep(every)
            if not self._leased:
                continue
            try:
                await self.renew_leases()
            except Exception as exc:  # the database went away: the next tick tries again
                log.warning("renewing leases failed (%s: %s)", type(exc).__name__, exc)

    # --- what is due -------------------------------------------------------------------------

    async def refresh(self, *, full: bool = True) -> None:
        """Read the due queues into the fair share (or those of the newest batches only)."""
        async with self._db.acquire() as conn:
            await self._claims.refresh(conn, self._clock(), full=full)
        self._work.set()

    async def _refresh_loop(self, stop: asyncio.Event) -> None:
        """The due queues: a claim reads only the queues the fair share picks, so this is
        how new runs, retries coming due and batches suspended or resumed come into view.
        All of them every `queue_refresh_interval` (or less often, when a read is slow); on
        a wake-up in between, those of the batches newer than the last full read saw (a run
        started: cheap however many batches are sending)."""
        interval = self._config.queue_refresh_interval
        loop = asyncio.get_running_loop()
        next_full = loop.time()
        while not stop.is_set():
            self._wake.clear()
            full = loop.time() >= next_full or self._full_wanted
            self._full_wanted = False
            started = loop.time()
            try:
                await self.refresh(full=full)
            except Exception:  # claims go on with what is known; the next read may succeed
                log.exception("reading the due queues failed; trying again")
            ended = loop.time()
            if full:
                self._refresh_seconds = ended - started
                next_full = ended + max(interval, self._refresh_seconds / REFRESH_DUTY)
            await wait_any(self._wake, stop, within=max(0.0, next_full - loop.time()))
            rest = ended + REFRESH_GAP - loop.time()
            if rest > 0:
                await wait_any(stop, within=rest)

    def _grants(self, now: datetime) -> dict[str, int] | None:
        """Parts to claim now, per route with due queues and room; None when nothing is due,
        empty when nothing has room. A route claims once a claim's worth of its pipeline is
        free (or it has nothing in flight), so claims stay large whatever the window."""
        routes = self._share.routes_due(now)
        if not routes:
            return None
        bound = self._bound()
        capacity = self.capacity()
        room = capacity - self._leased - self._reserved
        if capacity == 0 or room <= 0:
            return {}
        grants = {}
        starting = not (self._in_flight or self._reserved)  # nothing out on any route
        for route in routes:
            slots = self._route_pipeline(route, bound)
            held = self._route_in_flight[route] + self._route_reserved[route]
            free = slots - held
            chunk = self._route_claim(route, bound)
            if slots == 0 or (free < chunk and held):
                continue
            # Sending from idle starts with a small claim: the first submit_sm waits for the
            # claim's rows, and the other claim loop takes a full one meanwhile.
            grants[route] = min(free, min(chunk, FIRST_CLAIM) if starting else chunk)
        total, limit = sum(grants.values()), min(room, self._config.claim_batch)
        if total > limit:  # routes share the process's room by their grants
            grants = {r: max(1, n * limit // total) for r, n in grants.items()}
        return grants

    def _route_claim(self, route: str, bound: Mapping[str, int]) -> int:
        """What one claim takes for a route: its bound binds' claims."""
        binds = self._route_binds.get(route)
        names = list(bound) if binds is None else [name for name in binds if name in bound]
        return min(self._config.claim_batch, sum(self.claim_size(bound[n]) for n in names) or 1)

    def _idle_wait(self, now: datetime) -> float:
        """Until the next refresh, or the time the earliest waiting queue becomes due."""
        wait = self._config.poll_interval
        due = self._share.next_due()
        if due is not None:
            wait = min(wait, max(0.0, (due - now).total_seconds()))
        return wait

    async def _claim_loop(self, stop: asyncio.Event) -> None:
        poll = self._config.poll_interval
        while not stop.is_set():
            now = self._clock()
            grants = self._grants(now)
            if grants is None:  # nothing due: until a refresh finds some, or a queue's time
                self._work.clear()
                await wait_any(self._work, stop, within=self._idle_wait(now))
                continue
            if not grants:  # due, but no room: until a part is answered or a result stored
                self._room.clear()
                await wait_any(self._room, stop, within=poll)
                continue
            # Held while the claim is out, so the loops never overbook a route.
            self._reserve(grants, 1)
            try:
                picked = await self._claim_and_send(grants, now)
            except Exception as exc:  # the database went away: claim again after a poll
                log.warning("claiming failed (%s: %s); retrying", type(exc).__name__, exc)
                picked = 0
            finally:
                self._reserve(grants, -1)
            if not picked:  # the share had nothing after all: never spin on it
                self._work.clear()
                await wait_any(self._work, stop, within=poll)

    def _reserve(self, slots: Mapping[str, int], sign: int) -> None:
        for route, count in slots.items():
            self._route_reserved[route] += sign * count
            self._reserved += sign * count

    # --- claiming ----------------------------------------------------------------------------

    async def _claim_and_send(self, grants: Mapping[str, int], now: datetime) -> int:
        """Claim the grants and send what was claimed; the number of queues picked."""
        lease = now + timedelta(seconds=self._config.lease_seconds)
        async with self._db.acquire() as conn:
            claim = await self._claims.claim(conn, grants, now, lease)
            rows = claim.rows
            if not rows:
                return len(claim.picks)
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
            "claimed %d messages (%d parts) from %d queues; %d to send, %d in flight",
            len(messages),
            len(rows),
            len(claim.picks),
            len(plan),
            self._in_flight,
        )
        for message, bind, message_parts in plan:
            self._send(message, bind, message_parts)
        if plan:
            self._sent.set()
        return len(claim.picks)

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
            minutes = row["validity_minutes"]
            self._contexts[row["id"]] = CampaignContext(
                row["sender"],
                row["sender_ton"],
                row["sender_npi"],
                windows,
                relative_validity(minutes) if minutes is not None else "",
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
        flight.handed_at = self._clock().timestamp()
        flight.route = message["route"]
        self._in_flight += flight.weight
        self._leased += flight.weight
        self._route_in_flight[flight.route] += flight.weight
        destination = message["phone"].removeprefix("+")
        validity = ctx.validity or self._validity.get(bind, "")
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
        handed = flight.handed_at or now.timestamp()
        outcome = result.outcome
        if outcome is SubmitOutcome.ACCEPTED:
            self._writer.record_part(
                PartOutcome(
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
                PartOutcome(
                    flight.id,
                    seq,
                    "refused",
                    None,
                    None,
                    result.command_status,
                    handed,
                    flight.group,
                )
            )
            flight.refused = result.status_name or f"0x{result.command_status:08X}"
        elif outcome is SubmitOutcome.UNKNOWN and self._config.unknown_policy == "mark_unknown":
            self._writer.record_part(
                PartOutcome(flight.id, seq, "unknown", None, None, None, handed, flight.group)
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
        # Every part answered: its slots go back to the route's pipeline now; the lease
        # stays counted until the result is committed (_release).
        self._in_flight -= flight.weight
        self._route_in_flight[flight.route] -= flight.weight
        if self._leased - self._in_flight >= self._in_flight:
            # Answered parts waiting for the writer hold as much as the pipeline: store them
            # now, before they hold back claims (capacity is twice the pipelines).
            self._writer.request_flush()
        self._room.set()
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
            StatusMove(
                message_id,
                "sending",
                status,
                reason,
                not_before.timestamp() if not_before is not None else None,
                now.timestamp(),
                bind,
            ),
            on_commit,
            parts=parts,
            campaign=campaign,
        )

    def _release(self, flight: _Flight) -> None:
        """The message's result is committed: its lease no longer counts."""
        self._leased -= flight.weight
        self._room.set()
