"""Starting a run of a campaign: one batch, expanded into messages, paid for, then released.

Everything happens in one transaction: create the batch, stream the audience through the
expander, COPY messages and parts in chunks, take the credit, mark the batch sending and the
campaign running. If anything fails (no recipients, insufficient balance, a database error)
nothing of the run remains and nothing was sent. The campaign row is locked for the duration,
so an API call and the scheduler (or two herald processes) cannot start the same run twice.

A caller may lend its own connection, inside a transaction of its own (`conn=`): the run is
then part of that transaction (a savepoint), visible to nobody before the caller commits, and
the caller wakes the dispatcher once it has. That is how a campaign is created and run in one
transaction, and how a request with an Idempotency-Key stores its answer with its run.

Send now, the rest after (`later=`, migration 0015): a campaign created with its run (POST
/v1/campaigns) would otherwise send nothing until its whole audience is stored, over a
second for 20,000 recipients. Such a run is still expanded whole inside the request's
transaction (so its counts, its credit and any refusal are decided there, as before), but only
its first FIRST messages are stored in it; the rest stay in memory, in `later`, and the
caller stores them with `store_rests` once its transaction has committed, a chunk per
transaction. The batch is marked `rest_pending` meanwhile and does not complete. If herald
stops before the rest is stored, the request has not been answered, and maintenance
(`finish_rests`) expands the rest again from the stored recipients: every one whose number
the batch has no message for. A stop of the campaign does the same first, so it stops them too.

Given recipients (`recipients=`, `_expand_given`): when the audience is only the request's own
recipients, the run takes them from memory instead of reading them back, and stores them
itself, COPYing them while it expands the rest (still before the commit).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from herald.campaigns.expansion import (
    MESSAGE_COLUMNS,
    PART_COLUMNS,
    EncodingProfile,
    Expander,
    ExpansionTotals,
)
from herald.campaigns.links import LinkPlan, check_link_settings, link_target, new_codes
from herald.campaigns.links import links_base_url as links_base_url_of
from herald.campaigns.progress import campaign_progress
from herald.campaigns.run_result import Rest, RestChunk, RunResult
from herald.config import Config
from herald.delivery.callbacks import enqueue_campaign_callback, enqueue_message_callbacks
from herald.delivery.quiet_hours import Window, parse_windows
from herald.delivery.router import Router
from herald.delivery.writer import StatusChange
from herald.errors import InsufficientBalanceError, NoRecipientsError, NotFoundError
from herald.metrics import Metrics
from herald.numbers import Verdict
from herald.states import CAMPAIGN, transition
from herald.store import campaigns as campaign_store
from herald.store import links as link_store
from herald.store import runs as store
from herald.store.campaigns import RecipientRow
from herald.store.db import Database
from herald.store.links import LinkCodeCollision
from herald.store.runs import RestLock
from herald.text import ReferenceAllocator
from herald.text.template import Template, label_key, parse_template

log = logging.getLogger(__name__)

CHUNK = 5000  # recipients per cursor fetch and COPY
YIELD_EVERY = 200  # recipients expanded between turns of the loop while their COPY runs
FIRST = 1000  # messages of a send-now run stored with its request (module docstring)
REST_GRACE = timedelta(seconds=60)  # a rest not stored by then: its request's process stopped
ANALYZE_AFTER = 10_000  # messages loaded by one run that warrant fresh planner statistics
LINK_ATTEMPTS = 3  # expansions of one run when a drawn link code is taken (store/links.py)


@dataclass(frozen=True)
class RunOrder:
    """A run as its caller asked for it (start_run, start_reminder; see start_run)."""

    campaign_id: int
    account_id: int
    message: str | None = None  # overrides the campaign's template for this run
    description: str | None = None
    reminder: bool = False  # the test numbers' send ahead of a scheduled run
    link: str | None = None  # overrides the campaign's track_link_url
    checked: Mapping[str, Verdict] | None = None
    recipients: Sequence[RecipientRow] | None = None
    later: list[Rest] | None = None


def quiet_windows(campaign: Any) -> tuple[Window, ...]:
    """The campaign's quiet-hours windows, or none when it does not respect them."""
    if not campaign["respect_quiet_hours"]:
        return ()
    return parse_windows(
        (w["from"], w["to"]) if isinstance(w, dict) else w for w in campaign["quiet_hours"]
    )


def encoding_profiles(config: Config) -> dict[str, EncodingProfile]:
    """Each route's encoding profile, from its binds (config validation makes them agree)."""
    return {
        route.name: EncodingProfile(
            concat=config.bind(route.binds[0]).concat,
            national=tuple(config.bind(route.binds[0]).national),
        )
        for route in config.routes
    }


class CampaignRunner:
    def __init__(
        self,
        db: Database,
        config: Config,
        router: Router,
        *,
        clock: Callable[[], datetime],
        metrics: Metrics,
        wake: Callable[[], None] = lambda: None,
        wake_all: Callable[[], None] | None = None,
        links_base_url: str | None = None,
        link_codes: Callable[[int], list[str]] = new_codes,
    ) -> None:
        self._db = db
        self._config = config
        self._router = router
        self._clock = clock
        self._metrics = metrics
        self._wake = wake
        # After a rest is stored: the dispatcher rereads every queue, not only the newest
        # batches', as the run's queue may have run dry meanwhile (Dispatcher.wake).
        self._wake_all = wake_all or wake
        self._profiles = encoding_profiles(config)
        # One allocator per reference width, for the life of the process: concurrent multipart
        # messages to one destination get different references.
        self._allocators = {8: ReferenceAllocator(8), 16: ReferenceAllocator(16)}
        # Where phones reach /l/ and /o/ (the daemon passes the API's address when
        # [links] base_url is unset).
        self._links_base_url = links_base_url or links_base_url_of(config)
        self._link_codes = link_codes

    async def start_run(
        self,
        *,
        campaign_id: int,
        account_id: int,
        message: str | None = None,
        description: str | None = None,
        track_link_url: str | None = None,
        conn: Any = None,
        checked: Mapping[str, Verdict] | None = None,
        recipients: Sequence[RecipientRow] | None = None,
        later: list[Rest] | None = None,
    ) -> RunResult:
        """Run the campaign for its whole audience; the campaign becomes `running`.
        `message` and `track_link_url` override the campaign's for this run. With `conn`,
        within the caller's transaction (see the module's docstring); `checked`, the
        verdicts that transaction's intake reached on the recipients' raw numbers, which
        expansion then does not check again (herald/campaigns/audience.py); `recipients`,
        the campaign's whole audience when the caller holds it and has not stored it yet
        (the run stores it, see `_expand_given`); `later`, where a run too large to store at
        once leaves its rest for `store_rests`."""
        order = RunOrder(
            campaign_id,
            account_id,
            message,
            description,
            link=track_link_url,
            checked=checked,
            recipients=recipients,
            later=later,
        )
        result = await self._run(order, conn)
        assert result is not None  # only a reminder sent already gives None
        return result

    async def start_reminder(self, *, campaign_id: int, account_id: int) -> RunResult | None:
        """Send a scheduled campaign's message to its reminder (test) numbers ahead of the
        run. The campaign stays `scheduled`. None when the reminder was already sent (by this
        or another herald process) or the campaign has none."""
        return await self._run(
            RunOrder(campaign_id, account_id, description="reminder", reminder=True)
        )

    async def _run(self, order: RunOrder, conn: Any = None) -> RunResult | None:
        started = time.perf_counter()
        done = await self._expand_retrying(conn, order)
        if done is None:
            return None
        batch, totals = done
        campaign_id, account_id, reminder = order.campaign_id, order.account_id, order.reminder
        later = order.later
        rest_pending = later is not None and any(r.batch_id == batch["id"] for r in later)
        if totals.queued + totals.rejected_count >= ANALYZE_AFTER and not rest_pending:
            if conn is None:
                async with self._db.acquire() as own:
                    await store.analyze_after_load(own)
            else:  # it sees the caller's rows, not yet committed
                await store.analyze_after_load(conn)
        elapsed = time.perf_counter() - started
        self._count(totals, elapsed)
        log.info(
            "campaign %s %s %s: %d messages queued (%d segments), %d rejected, %d skipped in %.2fs",
            campaign_id,
            "reminder" if reminder else "run",
            batch["number"],
            totals.queued,
            totals.segments,
            totals.rejected_count,
            totals.skipped,
            elapsed,
            extra={
                "fields": {
                    "event": "reminder" if reminder else "run",
                    "campaign_id": campaign_id,
                    "account_id": account_id,
                    "batch_id": batch["id"],
                    "run": batch["number"],
                    "queued": totals.queued,
                    "segments": totals.segments,
                    "rejected": totals.rejected_count,
                    "skipped": totals.skipped,
                }
            },
        )
        if conn is None:
            self._wake()  # else the caller does, once its transaction has committed
        return RunResult(
            batch_id=batch["id"],
            number=batch["number"],
            count=totals.queued,
            segments=totals.segments,
            rejected=totals.rejected_count,
            skipped=totals.skipped,
            credit_used=totals.segments,
            rejected_reasons=dict(totals.rejected),
            deferred=totals.deferred,
        )

    async def _expand_retrying(
        self, conn: Any, order: RunOrder
    ) -> tuple[Any, ExpansionTotals] | None:
        """`_expand` in a transaction of its own, or a savepoint of the caller's; again when
        a drawn link code was taken (herald/store/links.py)."""
        for attempt in range(1, LINK_ATTEMPTS + 1):
            try:
                if conn is None:
                    async with self._db.acquire() as own, own.transaction():
                        return await self._expand(own, order)
                async with conn.transaction():  # a savepoint in the caller's transaction
                    return await self._expand(conn, order)
            except LinkCodeCollision:
                if attempt == LINK_ATTEMPTS:
                    raise
                log.warning(
                    "campaign %s: a link code was taken; expanding again", order.campaign_id
                )
        raise AssertionError("unreachable")

    async def _expand(self, conn: Any, order: RunOrder) -> tuple[Any, ExpansionTotals] | None:
        """The run's one transaction: batch, expansion, credit, statuses, callbacks. None when
        a reminder was sent already. With `later`, the rest past the first FIRST messages is
        left there instead of stored (module docstring)."""
        campaign_id, account_id, message = order.campaign_id, order.account_id, order.message
        reminder, later, recipients = order.reminder, order.later, order.recipients
        campaign = await store.campaign_for_run(conn, campaign_id, account_id)
        if campaign is None:
            raise NotFoundError(f"campaign {campaign_id} not found")
        if reminder:
            if not await store.mark_reminder_sent(conn, campaign_id, self._clock()):
                return None
            status = campaign["status"]
        else:
            status = transition(CAMPAIGN, campaign["status"], "run")
        template = parse_template(message or campaign["template"], campaign["fallback_values"])
        links = await self._link_plan(conn, campaign_id, template, order.link)
        batch = await store.create_batch(
            conn, campaign_id, order.description, message, "reminder" if reminder else "run"
        )
        if links is not None and links[1] is not None:
            await link_store.set_batch_link_url(conn, batch["id"], links[1])
        expander = Expander(
            **await self._expander_args(conn, campaign, batch["id"], template),
            links=links[0] if links is not None else None,
            link_codes=self._link_codes,
            checked=order.checked,
        )
        id_range: tuple[int, int] | None = None  # of the ids this batch's messages take
        kept: list[RestChunk] | None = None  # the rest, once the first messages are stored
        if reminder:
            # Test numbers carry no name or labels: show each placeholder by its
            # fallback, or by its name, so the tester sees what recipients will get.
            sample = {
                label: template.fallbacks.get(label_key(label), f"<{label}>")
                for label in template.placeholders
            }
            name = template.fallbacks.get(label_key("name"), "<Name>")
            numbers = campaign["reminder"]["numbers"]
            ids = await store.reserve_message_ids(conn, len(numbers))
            id_range = _widen(id_range, ids)
            for message_id, number in zip(ids, numbers, strict=True):
                expander.add(message_id, number, name, sample, "number")
            await self._copy(conn, expander, batch["id"])
        elif recipients is not None:
            id_range, kept = await self._expand_given(
                conn, expander, batch["id"], campaign_id, recipients, later is not None
            )
        else:
            async for rows in store.audience(conn, campaign_id, CHUNK):
                ids = await store.reserve_message_ids(conn, len(rows))
                id_range = _widen(id_range, ids)
                for message_id, row in zip(ids, rows, strict=True):
                    expander.add_audience_row(message_id, row)
                    if later is not None and kept is None and expander.waiting >= FIRST:
                        await self._copy(conn, expander, batch["id"])
                        kept = []
                if kept is None:
                    await self._copy(conn, expander, batch["id"])
                elif expander.waiting:
                    kept.append(self._keep(expander))
        totals = expander.totals
        await self._pay(conn, account_id, totals)
        await store.finish_expansion(
            conn,
            batch["id"],
            totals.queued + totals.rejected_count,
            totals.segments,
            totals.segments,
            id_range,
            rest_pending=bool(kept),
        )
        if status != campaign["status"]:
            await store.start_campaign(conn, campaign_id, campaign["status"])
            if campaign["campaign_callback_url"]:  # else no callback, and no progress to read
                await enqueue_campaign_callback(
                    conn,
                    campaign,
                    "running",
                    await campaign_progress(conn, campaign_id),
                    at=self._clock(),
                )
        rejected = expander.rejected_ids
        if kept:
            rejected = _rejected_later(rejected, kept)
            assert later is not None
            large = totals.queued + totals.rejected_count >= ANALYZE_AFTER
            later.append(Rest(batch["id"], kept, analyze=large))
        if campaign["callback_url"] and rejected:
            await self._rejected_callbacks(conn, campaign_id, rejected)
        return batch, totals

    async def _rejected_callbacks(
        self, conn: Any, campaign_id: int, rejected: list[tuple[int, str]]
    ) -> None:
        now = self._clock()
        await enqueue_message_callbacks(
            conn,
            [
                StatusChange(i, "new", "rejected", reason, now, campaign_id)
                for i, reason in rejected
            ],
        )

    # --- the rest of a send-now run (module docstring) -------------------------------------

    async def store_rests(self, rests: list[Rest]) -> None:
        """Store what send-now runs left in `later`, once their transaction has committed: a
        chunk per transaction, the dispatcher woken after each. A rest that a stop or
        maintenance stored meanwhile (expanded again) is dropped; one that cannot be stored
        now (the database went away) is left to maintenance, which expands it again."""
        for rest in rests:
            try:
                await self._store_rest(rest)
            except Exception:  # the run is committed and sending: the request still succeeds
                log.exception(
                    "batch %s: its rest was not stored; maintenance will store it", rest.batch_id
                )

    async def _store_rest(self, rest: Rest) -> None:
        try:
            for number, chunk in enumerate(rest.chunks, 1):
                async with self._db.acquire() as conn, conn.transaction():
                    lock = await store.lock_rest(conn, rest.batch_id)
                    if lock is None or not lock.rest_pending:
                        break
                    await self._copy_rows(conn, rest.batch_id, chunk)
                    if chunk.rejected:
                        await self._rejected_callbacks(conn, lock.campaign_id, chunk.rejected)
                    if number == len(rest.chunks):
                        await store.end_rest(
                            conn,
                            rest.batch_id,
                            lock.messages_expected,
                            lock.segments_expected,
                            None,
                        )
                self._wake_all()
        except LinkCodeCollision:  # a code drawn at expansion was taken since: draw anew
            log.warning("batch %s: a link code was taken; expanding its rest again", rest.batch_id)
            await self.finish_rests(batch_ids=[rest.batch_id])
        if rest.analyze:
            async with self._db.acquire() as conn:
                await store.analyze_after_load(conn)

    async def finish_rests(
        self,
        *,
        conn: Any = None,
        campaign_id: int | None = None,
        batch_ids: list[int] | None = None,
    ) -> int:
        """Store the rests nobody is storing: of batches started more than REST_GRACE ago
        (maintenance: the process that ran them stopped first), of campaign `campaign_id`
        (a stop, in its own transaction `conn`, which holds the campaign's row), or of
        `batch_ids`. Each is expanded again from the campaign's audience. How many batches."""
        if conn is not None:
            return await self._finish_rests(conn, campaign_id, batch_ids)
        async with self._db.acquire() as own:
            return await self._finish_rests(own, campaign_id, batch_ids)

    async def _finish_rests(
        self, conn: Any, campaign_id: int | None, batch_ids: list[int] | None
    ) -> int:
        if batch_ids is None:
            batch_ids = await store.pending_rests(conn, self._clock() - REST_GRACE, 20, campaign_id)
        done = 0
        for batch_id in batch_ids:
            async with conn.transaction():  # a savepoint when the caller's transaction is open
                lock = await store.lock_rest(conn, batch_id)
                if lock is None or not lock.rest_pending:
                    continue
                await self._expand_rest(conn, batch_id, lock)
                done += 1
            self._wake_all()
        return done

    async def _expand_rest(self, conn: Any, batch_id: int, lock: RestLock) -> None:
        """Expand batch `batch_id`'s rest again: every recipient whose number it has no
        message for. Its credit follows what was stored: what the rest did not use goes
        back (a route removed since, say); more is taken if the account has it."""
        campaign = await store.campaign_for_run(conn, lock.campaign_id, lock.account_id)
        assert campaign is not None  # locked with its batch (lock_rest)
        template = parse_template(
            lock.template or campaign["template"], campaign["fallback_values"]
        )
        plan = None
        if template.uses_link or template.uses_opt_out_link:
            plan = LinkPlan(self._links_base_url, template.uses_link, template.uses_opt_out_link)
        expander = Expander(
            **await self._expander_args(conn, campaign, batch_id, template),
            links=plan,
            link_codes=self._link_codes,
        )
        stored = await store.stored_batch_messages(conn, batch_id)
        expander.seen_already(m.phone for m in stored)
        id_range: tuple[int, int] | None = None
        async for rows in store.audience(conn, lock.campaign_id, CHUNK):
            ids = await store.reserve_message_ids(conn, len(rows))
            added = [
                message_id
                for message_id, row in zip(ids, rows, strict=True)
                if expander.add_audience_row(message_id, row)
            ]
            id_range = _widen(id_range, added)
            await self._copy(conn, expander, batch_id)
        totals = expander.totals
        messages = len(stored) + totals.queued + totals.rejected_count
        segments = sum(m.segments for m in stored) + totals.segments
        unused = lock.segments_expected - segments
        if unused < 0:  # more than planned: taken if the account has it
            taken = min(-unused, await store.account_credit(conn, lock.account_id))
            if taken < -unused:
                log.warning(
                    "batch %s: its rest needs %d segments more than its run reserved; the "
                    "account had %d",
                    batch_id,
                    -unused,
                    taken,
                )
            unused = -taken
        if unused:
            await campaign_store.refund(conn, lock.account_id, {batch_id: unused})
        if campaign["callback_url"] and expander.rejected_ids:
            await self._rejected_callbacks(conn, lock.campaign_id, expander.rejected_ids)
        await store.end_rest(conn, batch_id, messages, segments, id_range)
        log.warning(
            "batch %s: its rest was stored by expanding it again (%d messages)",
            batch_id,
            totals.queued + totals.rejected_count,
        )

    async def _expander_args(
        self, conn: Any, campaign: Any, batch_id: int, template: Template
    ) -> dict[str, Any]:
        return {
            "batch_id": batch_id,
            "campaign_id": campaign["id"],
            "account_id": campaign["account_id"],
            "template": template,
            "sender": campaign["sender"],
            "flash": campaign["flash"],
            "transcode": campaign["transcode"],
            "quiet_hours": quiet_windows(campaign),
            "ignore_invalid_numbers": campaign["ignore_invalid_numbers"],
            "router": self._router,
            "profiles": self._profiles,
            "allocators": self._allocators,
            "blacklist": await self._blacklist(conn, campaign),
            "not_before": self._clock(),
            "default_region": self._config.campaigns.default_region,
            "track_rejected": bool(campaign["callback_url"]),
            "mobiles_only": campaign["mobiles_only"],
        }

    async def _link_plan(
        self, conn: Any, campaign_id: int, template: Template, track_link_url: str | None
    ) -> tuple[LinkPlan, str | None] | None:
        """The links this run's messages get and where the tracked ones redirect; None when
        the template places none. RequestError when the campaign cannot fill them."""
        settings = await link_store.campaign_link_settings(conn, campaign_id)
        url = track_link_url or settings.track_link_url
        check_link_settings(template, track_link_url=url, opt_out_link=settings.opt_out_link)
        if not (template.uses_link or template.uses_opt_out_link):
            return None
        plan = LinkPlan(self._links_base_url, template.uses_link, template.uses_opt_out_link)
        target = link_target(url, settings.track_link_params) if url and plan.click else None
        return plan, target

    @staticmethod
    async def _blacklist(conn: Any, campaign: Any) -> set[str]:
        if campaign["in_reply_to"] is not None:
            # A reply to a message the number sent is not stopped by the blacklist: the
            # confirmation of its own STOP, or the answer to its HELP.
            return set()
        if campaign["kind"] == "message":
            # Its numbers are stored as E.164 (herald/campaigns/messages.py): looked up one
            # by one, not the account's whole blacklist read for a message or two.
            return await store.blacklisted_recipients(conn, campaign["id"], campaign["account_id"])
        return await store.blacklist(conn, campaign["account_id"])

    async def _expand_given(
        self,
        conn: Any,
        expander: Expander,
        batch_id: int,
        campaign_id: int,
        recipients: Sequence[RecipientRow],
        send_first: bool,
    ) -> tuple[tuple[int, int] | None, list[RestChunk] | None]:
        """Expand an audience the caller holds and has not stored (a request's recipients,
        nothing else), and store it: the run reads nothing back. With `send_first` (a
        send-now run) the recipients' COPY runs once the first FIRST messages are stored,
        while the rest is expanded: PostgreSQL loads them on one core while this loop
        renders and encodes on the other (about 100 ms each for 20,000). Returns the ids'
        range and the rest kept for later (None when everything was stored)."""
        ids = await store.reserve_message_ids(conn, len(recipients))
        kept: list[RestChunk] = []
        storing: asyncio.Task[None] | None = None
        try:
            for i, (message_id, r) in enumerate(zip(ids, recipients, strict=True)):
                expander.add(message_id, r.phone_raw, r.name, r.labels, r.source, r.client_ref)
                if storing is None:
                    if expander.waiting >= (FIRST if send_first else CHUNK):
                        await self._copy(conn, expander, batch_id)
                        if send_first:
                            storing = asyncio.create_task(
                                campaign_store.add_recipients(conn, campaign_id, recipients)
                            )
                elif expander.waiting >= CHUNK:
                    kept.append(self._keep(expander))
                elif i % YIELD_EVERY == 0 and not storing.done():
                    await asyncio.sleep(0)  # the COPY's next round trip or write
            if storing is None:
                await self._copy(conn, expander, batch_id)
                await campaign_store.add_recipients(conn, campaign_id, recipients)
                return _widen(None, ids), None
            await storing
            if expander.waiting:
                kept.append(self._keep(expander))
        finally:
            if storing is not None:
                if not storing.done():
                    # The expansion failed: the connection is free only once the COPY is
                    # over (the caller then rolls the transaction back).
                    await asyncio.wait([storing])
                if not storing.cancelled():
                    storing.exception()  # retrieved: the expansion's error is the one raised
        return _widen(None, ids), kept

    @staticmethod
    def _keep(expander: Expander) -> RestChunk:
        messages, parts = expander.take()
        return RestChunk(messages, parts, expander.take_links())

    @classmethod
    async def _copy(cls, conn: Any, expander: Expander, batch_id: int) -> None:
        await cls._copy_rows(conn, batch_id, cls._keep(expander))

    @staticmethod
    async def _copy_rows(conn: Any, batch_id: int, rows: RestChunk) -> None:
        await store.copy_rows(conn, "messages", MESSAGE_COLUMNS, rows.messages)
        await store.copy_rows(conn, "parts", PART_COLUMNS, rows.parts)
        await store.add_counts(conn, batch_id, chunk_counts(rows.messages))
        if rows.links:
            await link_store.copy_links(conn, rows.links)

    async def _pay(self, conn: Any, account_id: int, totals: ExpansionTotals) -> None:
        if totals.queued == 0:
            reasons = ", ".join(f"{r}: {n}" for r, n in sorted(totals.rejected.items()))
            raise NoRecipientsError(
                "no recipient can be sent to"
                + (f" ({reasons}; {totals.skipped} skipped)" if reasons or totals.skipped else "")
            )
        if await store.reserve_credit(conn, account_id, totals.segments) is None:
            available = await store.account_credit(conn, account_id)
            raise InsufficientBalanceError(totals.segments, available)

    def _count(self, totals: ExpansionTotals, elapsed: float) -> None:
        m = self._metrics
        m.expanded_recipients += (
            totals.queued + totals.rejected_count + totals.skipped + totals.duplicates
        )
        m.expansion_seconds += elapsed
        m.messages["queued"] += totals.queued - totals.deferred
        m.messages["deferred"] += totals.deferred
        m.messages["rejected"] += totals.rejected_count


_STATUS = MESSAGE_COLUMNS.index("status")
_PART_COUNT = MESSAGE_COLUMNS.index("part_count")


def chunk_counts(messages: list[tuple]) -> Counter[tuple[str, str]]:
    """The progress counters of message rows as expansion stores them: each by its status,
    and its parts (all pending: they count as their message does; a rejected message has
    none) as well."""
    counts: Counter[tuple[str, str]] = Counter()
    for row in messages:
        status = row[_STATUS]
        counts["messages", status] += 1
        if status != "rejected":
            counts["segments", status] += row[_PART_COUNT]
    return counts


def _rejected_later(
    rejected: list[tuple[int, str]], kept: list[RestChunk]
) -> list[tuple[int, str]]:
    """The rejections whose messages are stored now; each kept chunk takes its own."""
    reasons = dict(rejected)
    for chunk in kept:
        chunk.rejected = [
            (row[0], reasons.pop(row[0])) for row in chunk.messages if row[0] in reasons
        ]
    return list(reasons.items())


def _widen(id_range: tuple[int, int] | None, ids: list[int]) -> tuple[int, int] | None:
    """The range of message ids so far, with a chunk's reserved ids added."""
    if not ids:
        return id_range
    low, high = min(ids), max(ids)
    return (low, high) if id_range is None else (min(id_range[0], low), max(id_range[1], high))
