"""A campaign's lifecycle over the API: run, suspend, resume, stop.

Each change locks the campaign row, asks the campaign table whether the move is allowed
(`transition`), moves the campaign with a compare-and-set, moves its batches by the batch
table's rows for the same event, and enqueues the campaign callback, all in one transaction.
A run is the RunStarter's (expansion, credit, batch): this module maps its errors and reports it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from herald.campaigns.progress import campaign_progress
from herald.campaigns.run_result import Rest, RunResult
from herald.delivery.callbacks import enqueue_campaign_callback, enqueue_message_callbacks
from herald.errors import (
    InsufficientBalanceError,
    NoRecipientsError,
    NotFoundError,
    RequestError,
    StateError,
    TemplateError,
)
from herald.metrics import Metrics
from herald.numbers import Verdict
from herald.states import BATCH, CAMPAIGN, transition
from herald.store import campaigns as store
from herald.store.campaigns import RecipientRow
from herald.store.db import Database
from herald.store.rows import Row
from herald.text.template import parse_template

log = logging.getLogger(__name__)


class RunStarter(Protocol):
    """Starts a run of a campaign: one batch, expanded into messages and paid for.

    Moves the campaign scheduled | completed | stopped -> running itself. Raises NotFoundError
    (no such campaign for this account), StateError (the campaign cannot run now),
    InsufficientBalanceError(needed, available) and NoRecipientsError; on any error nothing
    of the run remains. With `conn` it runs inside the caller's transaction and leaves waking
    the dispatcher to the caller. herald.campaigns.runs.CampaignRunner is the implementation.
    """

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
    ) -> RunResult: ...

    async def store_rests(self, rests: list[Rest]) -> None: ...

    async def finish_rests(self, *, conn: Any = None, campaign_id: int | None = None) -> int: ...


# Why a campaign stopped, kept with it (campaigns.stop_reason) and sent in its callback.
STOPPED_BY_USER = {
    "code": "stopped_by_user",
    "message": "stopped on request (POST /v1/campaigns/{id}/stop, herald campaign stop)",
}


def campaign_not_found(campaign_id: int) -> RequestError:
    return RequestError(
        "campaign_not_found", f"no campaign with id {campaign_id}", {"campaign_id": campaign_id}
    )


def invalid_state(campaign: Row, event: str) -> RequestError:
    status = campaign["status"]
    allowed = CAMPAIGN.user_actions(status)  # never herald's own moves, such as `complete`
    return RequestError(
        "invalid_campaign_state",
        f"campaign {campaign['id']} is {status}: it cannot {event} "
        f"(allowed now: {', '.join(allowed) or 'nothing'})",
        {"status": status, "allowed": allowed},
    )


def malformed_template(exc: TemplateError, field: str = "message") -> RequestError:
    return RequestError(
        "malformed_template", f"{field}: {exc}", {"field": field, "position": exc.position}
    )


def _batch_move(event: str) -> tuple[list[str], str]:
    """The batch table's rows for `event`: the states it moves from, and the one state they
    all move to (what a campaign-wide suspend, resume or stop does to its batches)."""
    rows = {s: t for (s, e), t in BATCH.table.items() if e == event and s is not None}
    (target,) = set(rows.values())
    return sorted(rows), target


class Lifecycle:
    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], datetime],
        runner: RunStarter,
        wake: Callable[[], None],
        metrics: Metrics | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._runner = runner
        self._wake = wake
        self._metrics = metrics or Metrics()

    async def run(
        self,
        account_id: int,
        campaign_id: int,
        *,
        message: str | None = None,
        description: str | None = None,
        track_link_url: str | None = None,
        conn: Any = None,
        checked: Mapping[str, Verdict] | None = None,
        recipients: Sequence[RecipientRow] | None = None,
        later: list[Rest] | None = None,
    ) -> RunResult:
        """Start a run; `message` and `track_link_url` override the campaign's for it. With
        `conn` (inside a transaction of the caller's) the run is part of that transaction,
        and the caller wakes the dispatcher once it has committed; `checked`: that
        transaction's verdicts on the numbers; `recipients`: the campaign's whole audience,
        not stored yet (the run stores it); `later`: where the run may leave the
        messages the caller stores after committing (CampaignRunner.start_run)."""
        campaign = await self._read(conn, account_id, campaign_id)
        if campaign is None:
            raise campaign_not_found(campaign_id)
        if message is not None:
            try:
                parse_template(message, campaign["fallback_values"])
            except TemplateError as exc:
                raise malformed_template(exc) from None
        try:
            result = await self._runner.start_run(
                campaign_id=campaign_id,
                account_id=account_id,
                message=message,
                description=description,
                track_link_url=track_link_url,
                conn=conn,
                checked=checked,
                recipients=recipients,
                later=later,
            )
        except NotFoundError:
            raise campaign_not_found(campaign_id) from None
        except StateError:
            now = await self._read(conn, account_id, campaign_id)
            if now is None:
                raise campaign_not_found(campaign_id) from None
            raise invalid_state(now, "run") from None
        # The run's own transaction queued the 'running' callback (herald.campaigns.runs).
        if conn is None:
            self._wake()
        return result

    def wake(self) -> None:
        """Wake the dispatcher (after a transaction that started a run has committed)."""
        self._wake()

    async def _read(self, conn: Any, account_id: int, campaign_id: int) -> Row | None:
        if conn is not None:
            return await store.get_campaign(conn, campaign_id, account_id)
        async with self._db.acquire() as own:
            return await store.get_campaign(own, campaign_id, account_id)

    async def suspend(self, account_id: int, campaign_id: int) -> None:
        await self._change(account_id, campaign_id, "suspend", "suspended")

    async def resume(self, account_id: int, campaign_id: int) -> None:
        await self._change(account_id, campaign_id, "resume", "resumed")
        self._wake()

    async def store_rests(self, rests: list[Rest]) -> None:
        """Store what runs left in `later`, once the caller's transaction has committed."""
        await self._runner.store_rests(rests)

    async def stop(self, account_id: int, campaign_id: int) -> int:
        """Stop the campaign; how many unsent messages were stopped."""
        stopped = await self._change(account_id, campaign_id, "stop", "stopped")
        self._metrics.messages["stopped"] += stopped  # herald_messages_total{status="stopped"}
        return stopped

    async def _change(self, account_id: int, campaign_id: int, event: str, report: str) -> int:
        at = self._clock()
        stopped = 0
        async with self._db.acquire() as conn, conn.transaction():
            campaign = await store.get_campaign(conn, campaign_id, account_id, lock=True)
            if campaign is None:
                raise campaign_not_found(campaign_id)
            try:
                target = transition(CAMPAIGN, campaign["status"], event)
            except StateError:
                raise invalid_state(campaign, event) from None
            # The row is locked: the compare-and-set cannot lose to anyone.
            if event == "stop":
                # A send-now run whose rest is not stored yet: stored first, so stopped too.
                await self._runner.finish_rests(conn=conn, campaign_id=campaign_id)
                moved = await store.stop_campaign(
                    conn, campaign_id, campaign["status"], at, STOPPED_BY_USER
                )
            else:
                moved = await store.set_campaign_status(
                    conn, campaign_id, campaign["status"], target
                )
            assert moved
            sources, batch_target = _batch_move(event)
            await store.set_batches_status(conn, campaign_id, sources, batch_target)
            if event == "stop":
                rows = await store.stop_messages(conn, campaign_id, at)
                stopped = len(rows)
                if rows:
                    # What will never be sent is not paid for.
                    refunds: dict[int, int] = {}
                    for r in rows:
                        refunds[r["batch_id"]] = refunds.get(r["batch_id"], 0) + r["part_count"]
                    await store.refund(conn, account_id, refunds)
                if campaign["callback_url"] and rows:
                    await enqueue_message_callbacks(conn, (_Stopped(r["id"], at) for r in rows))
            await enqueue_campaign_callback(
                conn,
                campaign,
                report,
                await campaign_progress(conn, campaign_id),
                at=at,
                reason=STOPPED_BY_USER if event == "stop" else None,
            )
        log.info(
            "campaign %s %s%s",
            campaign_id,
            report,
            f": {stopped} unsent messages stopped" if event == "stop" else "",
            extra={
                "fields": {
                    "event": event,
                    "campaign_id": campaign_id,
                    "account_id": account_id,
                    "status": target,
                    **({"stopped_messages": stopped} if event == "stop" else {}),
                }
            },
        )
        return stopped


def error_code(exc: BaseException) -> str:
    """The API's code for an error a run raised."""
    if isinstance(exc, RequestError):
        return exc.code
    if isinstance(exc, InsufficientBalanceError):
        return "insufficient_balance"
    if isinstance(exc, NoRecipientsError):
        return "no_recipients"
    if isinstance(exc, TemplateError):
        return "malformed_template"
    return "run_failed"


async def stop_failed_scheduled_run(
    db: Database,
    campaign_id: int,
    account_id: int,
    exc: BaseException,
    *,
    at: datetime | None = None,
) -> bool:
    """A scheduled campaign whose due run failed (no credit, no recipients, ...) is stopped,
    so the scheduler does not retry it every tick, and its campaign callback says why. The
    customer fixes the cause and runs it again (stopped campaigns can run). False when the
    campaign is no longer scheduled (another process started it)."""
    async with db.acquire() as conn, conn.transaction():
        campaign = await store.get_campaign(conn, campaign_id, account_id, lock=True)
        if campaign is None or campaign["status"] != "scheduled":
            return False
        transition(CAMPAIGN, campaign["status"], "stop")
        reason = {"code": error_code(exc), "message": str(exc)}
        when = at or datetime.now(UTC)
        await store.stop_campaign(conn, campaign_id, campaign["status"], when, reason)
        await enqueue_campaign_callback(
            conn,
            campaign,
            "stopped",
            await campaign_progress(conn, campaign_id),
            at=when,
            reason=reason,
        )
    return True


class _Stopped:
    """A message stopped with its campaign, as a status change for the callback outbox."""

    __slots__ = ("at", "message_id")
    new = "stopped"
    reason = "campaign_stopped"

    def __init__(self, message_id: int, at: datetime) -> None:
        self.message_id = message_id
        self.at = at


async def enqueue_campaigns_completed(conn: Any, campaigns: Iterable[Mapping[str, Any]]) -> None:
    """Maintenance's hook for campaigns it completed (rows with id, account_id, name,
    campaign_callback_url): a 'completed' callback each, with the final counters, and a log
    line with them."""
    for campaign in campaigns:
        progress = await campaign_progress(conn, campaign["id"])
        if campaign["campaign_callback_url"]:
            await enqueue_campaign_callback(conn, campaign, "completed", progress)
        counts = {k: v for k, v in progress["messages"].items() if v and k != "expected"}
        log.info(
            "campaign %s completed: %s",
            campaign["id"],
            ", ".join(f"{n} {status}" for status, n in counts.items()) or "no messages",
            extra={
                "fields": {
                    "event": "complete",
                    "campaign_id": campaign["id"],
                    "account_id": campaign["account_id"],
                    "messages": counts,
                }
            },
        )
