"""Campaigns over the API: create, edit while scheduled, delete when idle, read with progress.

Requests arrive as mappings with the API's field names (`name`, `sender`, `message`, `to`,
`contacts`, `groups`, `recipients`, `fallback_values`, `flash`, `transcode`,
`respect_quiet_hours`, `quiet_hours`, `scheduled_at`, `callback`, `campaign_callback`,
`reminder`, `ignore_invalid_numbers`, and the link settings `track_link_url`,
`track_link_params`, `opt_out_link`); an edit carries only the fields it changes. Every rule
broken is a RequestError whose code the API answers with.

Send now: a campaign without `scheduled_at` is stored as scheduled (scheduled_at NULL), then
run at once through the CampaignRunner, in the same transaction: if that run fails
(insufficient balance, no recipients, ...) nothing of the campaign remains, so a refused
request leaves nothing behind. A caller may lend the transaction (`conn=`): the campaign,
its run and whatever the caller adds (an idempotency key's answer) then commit together.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterable, Callable, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal, get_args

from herald.campaigns.address_book import contact_not_found, group_not_found, parse_sender_or_refuse
from herald.campaigns.audience import FILE, NUMBER, RECIPIENT, Intake, check_recipients
from herald.campaigns.audience import normalise_numbers as _normalise_numbers
from herald.campaigns.lifecycle import (
    Lifecycle,
    campaign_not_found,
    malformed_template,
    stop_failed_scheduled_run,
)
from herald.campaigns.links import check_link_settings
from herald.campaigns.progress import campaign_progress, counter_totals, progress_of
from herald.campaigns.recipient_files import FileSummary, RowResult
from herald.campaigns.run_result import Rest
from herald.config import Config
from herald.errors import ConflictError, RequestError, StateError, TemplateError
from herald.states import CAMPAIGN, transition
from herald.store import campaigns as store
from herald.store import contacts as contact_store
from herald.store import insight as insight_store
from herald.store import links as link_store
from herald.store import senders as sender_store
from herald.store.db import Database
from herald.store.links import LinkSettings
from herald.store.rows import Row
from herald.text.template import parse_template

CampaignSort = Literal["id", "name", "status", "created_at", "updated_at", "scheduled_at"]
SORT_FIELDS: tuple[CampaignSort, ...] = get_args(CampaignSort)
RECIPIENT_FIELDS = ("to", "recipients", "contacts", "groups")
LINK_FIELDS = ("track_link_url", "track_link_params", "opt_out_link")
_NO_LINKS = LinkSettings(None, {}, False)

# API field -> campaigns column, for the fields stored as given (after conversion).
_COLUMNS = {
    "name": "name",
    "message": "template",
    "fallback_values": "fallback_values",
    "flash": "flash",
    "transcode": "transcode",
    "respect_quiet_hours": "respect_quiet_hours",
    "quiet_hours": "quiet_hours",
    "scheduled_at": "scheduled_at",
    "callback": "callback_url",
    "campaign_callback": "campaign_callback_url",
    "reminder": "reminder",
    "ignore_invalid_numbers": "ignore_invalid_numbers",
    "mobiles_only": "mobiles_only",
}

log = logging.getLogger(__name__)


async def scheduled_run_failed(
    db: Database, campaign_id: int, account_id: int, exc: BaseException
) -> None:
    """The scheduler's hook when a due campaign cannot start: it is stopped with the reason
    in its campaign callback (see lifecycle.stop_failed_scheduled_run)."""
    if not isinstance(exc, StateError):  # StateError: another herald started it first
        await stop_failed_scheduled_run(db, campaign_id, account_id, exc)


async def _scheduled_for_edit(conn: Any, campaign_id: int, account_id: int, rule: str) -> Any:
    """The campaign, locked, if the campaign table lets it be edited (only while scheduled);
    otherwise campaign_not_scheduled naming its state and `rule`."""
    row = await store.get_campaign(conn, campaign_id, account_id, lock=True)
    if row is None:
        raise campaign_not_found(campaign_id)
    try:
        transition(CAMPAIGN, row["status"], "edit")
    except StateError:
        raise RequestError(
            "campaign_not_scheduled",
            f"campaign {campaign_id} is {row['status']}: {rule}",
            {"status": row["status"]},
        ) from None
    return row


def campaign_view(row: Row) -> dict[str, Any]:
    """A campaigns row (with its sender's address) in the API's field names."""
    reminder = row["reminder"]
    return {
        "id": row["id"],
        "name": row["name"],
        "status": row["status"],
        "sender": row["sender"],
        "message": row["template"],
        "fallback_values": row["fallback_values"],
        "flash": row["flash"],
        "transcode": row["transcode"],
        "respect_quiet_hours": row["respect_quiet_hours"],
        "quiet_hours": row["quiet_hours"],
        "scheduled_at": row["scheduled_at"],
        "callback": row["callback_url"],
        "campaign_callback": row["campaign_callback_url"],
        "reminder": None
        if reminder is None
        else {
            "numbers": reminder["numbers"],
            "minutes_before": reminder["lead_seconds"] // 60,
        },
        "ignore_invalid_numbers": row["ignore_invalid_numbers"],
        "mobiles_only": row["mobiles_only"],
        "stopped_at": row["stopped_at"],
        "stop_reason": row["stop_reason"],
        "track_link_url": row["track_link_url"],
        "track_link_params": row["track_link_params"],
        "opt_out_link": row["opt_out_link"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _refuse_invalid(intake: Intake, columns: Mapping[str, Any]) -> None:
    """invalid_numbers listing each invalid number given (source, index, phone, reason),
    unless the campaign ignores invalid numbers (then they are only reported, in `intake`)."""
    if not intake.invalid or columns["ignore_invalid_numbers"]:
        return
    shown = ", ".join(
        f"{n['phone']!r} ({n['source']}[{n['index']}]: {n['reason']})" for n in intake.invalid[:5]
    )
    more = f" and {len(intake.invalid) - 5} more" if len(intake.invalid) > 5 else ""
    raise RequestError(
        "invalid_numbers",
        f"{len(intake.invalid)} invalid number(s): {shown}{more}; correct or remove them, or "
        "set ignore_invalid_numbers to send to the others",
        {"invalid_numbers": intake.invalid},
    )


def _links_of(row: Mapping[str, Any]) -> LinkSettings:
    return LinkSettings(row["track_link_url"], dict(row["track_link_params"]), row["opt_out_link"])


def _with_links(current: LinkSettings, spec: Mapping[str, Any]) -> LinkSettings:
    """`current` with the link fields `spec` gives (null clears the URL and the query)."""
    return LinkSettings(
        spec.get("track_link_url", current.track_link_url),
        dict(spec.get("track_link_params") or {})
        if "track_link_params" in spec
        else current.track_link_params,
        bool(spec["opt_out_link"]) if "opt_out_link" in spec else current.opt_out_link,
    )


def _links_fields(links: LinkSettings) -> tuple[str | None, dict[str, str], bool]:
    return links.track_link_url, links.track_link_params, links.opt_out_link


def _unique(ids: Sequence[int]) -> list[int]:
    return list(dict.fromkeys(ids))


class CampaignService:
    def __init__(
        self,
        db: Database,
        config: Config,
        *,
        clock: Callable[[], datetime],
        lifecycle: Lifecycle,
    ) -> None:
        self._db = db
        self._config = config
        self._clock = clock
        self._lifecycle = lifecycle
        self._region = config.campaigns.default_region

    # --- reading ------------------------------------------------------------------------------

    async def get(self, account_id: int, campaign_id: int) -> dict[str, Any]:
        """The campaign with its audience, progress counters and batches, as of one moment
        (one snapshot: a stop committed between two of the reads cannot show a running
        campaign with a stopped batch, which a CLI wait would take for the batch's end)."""
        async with (
            self._db.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            return await self._read(conn, account_id, campaign_id)

    async def _read(self, conn: Any, account_id: int, campaign_id: int) -> dict[str, Any]:
        row = await store.get_campaign(conn, campaign_id, account_id)
        if row is None:
            raise campaign_not_found(campaign_id)
        counts = await store.recipient_counts(conn, campaign_id)
        batches = [dict(b) for b in await store.batches(conn, campaign_id)]
        progress = await campaign_progress(conn, campaign_id, batches)
        audience = await insight_store.audience_sizes(conn, campaign_id)
        return {
            **campaign_view(row),
            "recipient_count": audience.total,
            "audience": dict(counts),
            "progress": progress,
            "batches": batches,
        }

    async def summary(self, account_id: int, campaign_id: int) -> dict[str, Any]:
        """The campaign with its batches and its messages by status (the runs' progress
        counters), as of one moment: what a page that refreshes itself needs. `get` without
        why deferred messages wait and the audience counts. Clicks are counted
        (link_events_campaign_idx: the campaign's clicks only)."""
        async with (
            self._db.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            row = await store.get_campaign(conn, campaign_id, account_id)
            if row is None:
                raise campaign_not_found(campaign_id)
            batches = [dict(b) for b in await store.batches(conn, campaign_id)]
            counts = await counter_totals(conn, campaign_id)
            progress = progress_of(
                counts["messages"],
                counts["segments"],
                batches,
                clicks=await link_store.click_counts(conn, campaign_id),
            )
        del progress["segments"]
        return {**campaign_view(row), "progress": progress, "batches": batches}

    async def list_campaigns(
        self,
        account_id: int,
        *,
        statuses: Sequence[str] | None,
        name_contains: str | None,
        created_from: datetime | None,
        created_before: datetime | None,
        scheduled_from: datetime | None,
        scheduled_before: datetime | None,
        sort: str,
        order: str,
        limit: int,
        offset: int,
    ) -> tuple[int, list[dict[str, Any]]]:
        if sort not in SORT_FIELDS or order not in ("asc", "desc"):
            raise RequestError(
                "invalid_request",
                f"cannot sort by {sort!r} {order!r}",
                {"sort": list(SORT_FIELDS), "order": ["asc", "desc"]},
            )
        async with self._db.acquire() as conn:
            total, rows = await store.list_campaigns(
                conn,
                account_id,
                statuses=statuses,
                name_contains=name_contains,
                created_from=created_from,
                created_before=created_before,
                scheduled_from=scheduled_from,
                scheduled_before=scheduled_before,
                sort=sort,
                order=order,
                limit=limit,
                offset=offset,
            )
            sizes = await insight_store.recipient_totals(conn, [r["id"] for r in rows])
        return total, [{**campaign_view(r), "recipient_count": sizes[r["id"]]} for r in rows]

    async def messages(
        self,
        account_id: int,
        campaign_id: int,
        *,
        statuses: Sequence[str] | None,
        batch_id: int | None,
        limit: int,
        offset: int,
        after: int | None = None,
    ) -> tuple[int | None, list[dict[str, Any]]]:
        """A page of messages; `after` (the last id of the page before) starts past it and
        leaves the total uncounted (None)."""
        async with self._db.acquire() as conn:
            if await store.get_campaign(conn, campaign_id, account_id) is None:
                raise campaign_not_found(campaign_id)
            total, rows = await store.list_messages(
                conn,
                campaign_id,
                statuses=statuses,
                batch_id=batch_id,
                limit=limit,
                offset=offset,
                after=after,
            )
        return total, [dict(r) for r in rows]

    # --- writing ------------------------------------------------------------------------------

    async def create(
        self,
        account_id: int,
        spec: Mapping[str, Any],
        *,
        conn: Any = None,
        later: list[Rest] | None = None,
    ) -> dict[str, Any]:
        """A new campaign (without a `name`, herald calls it 'campaign <id>') and, without
        `scheduled_at`, its run, in one transaction: the caller's (`conn`; the caller then
        wakes the dispatcher once it has committed), or one of its own. With `later` and
        `conn`, a large run leaves the messages past its first ones there, and the caller
        stores them with `store_rests` once it has committed (herald/campaigns/runs.py)."""
        if conn is not None:
            return await self._create(conn, account_id, spec, later)
        async with self._db.acquire() as own, own.transaction():
            view = await self._create(own, account_id, spec)
        if view["run"] is not None:
            self._lifecycle.wake()
        return view

    async def store_rests(self, rests: list[Rest]) -> None:
        """Store what `create(later=...)` left, once the caller's transaction committed."""
        await self._lifecycle.store_rests(rests)

    async def _create(
        self,
        conn: Any,
        account_id: int,
        spec: Mapping[str, Any],
        later: list[Rest] | None = None,
    ) -> dict[str, Any]:
        columns = self._default_columns()
        unnamed = not spec.get("name")
        # Until its id names it: unique, and never a name the API accepts.
        columns["name"] = f"unnamed {secrets.token_hex(12)}"
        self._apply(columns, spec)
        self._check_columns(columns, changed=set(spec))
        links = _with_links(_NO_LINKS, spec)
        self._check_links(columns, links)
        intake = self._intake(spec, mobiles_only=columns["mobiles_only"])
        _refuse_invalid(intake, columns)
        contact_ids, group_ids = (
            _unique(spec.get("contacts") or []),
            _unique(spec.get("groups") or []),
        )
        columns["sender_id"] = await self._sender_id(conn, account_id, spec["sender"])
        await self._check_refs(conn, account_id, contact_ids, group_ids)
        blacklisted = await contact_store.blacklisted_among(conn, account_id, list(intake.valid))
        if intake.rows or contact_ids or group_ids:
            await self._require_sendable(
                conn, account_id, intake, blacklisted, 0, contact_ids, group_ids
            )
        status = transition(CAMPAIGN, None, "schedule")  # send-now campaigns run below
        try:
            campaign_id = await store.insert_campaign(conn, account_id, columns, status)
        except ConflictError as exc:
            raise RequestError("name_conflict", str(exc), {"name": columns["name"]}) from None
        if unnamed:
            await store.name_campaign(conn, campaign_id)
        send_now = columns["scheduled_at"] is None
        # A run that follows at once over the request's recipients alone stores them itself,
        # while it expands them (CampaignRunner._expand_given); it reads nothing back.
        given = send_now and not contact_ids and not group_ids and bool(intake.rows)
        if not given:
            await store.add_recipients(conn, campaign_id, intake.rows)
        await store.set_contacts(conn, campaign_id, contact_ids)
        await store.set_groups(conn, campaign_id, group_ids)
        if links != _NO_LINKS:
            await link_store.set_campaign_links(conn, campaign_id, *_links_fields(links))
        run = None
        if send_now:
            # In this transaction: a refused run takes the campaign with it.
            run = await self._lifecycle.run(
                account_id,
                campaign_id,
                conn=conn,
                checked=intake.checked,
                recipients=intake.rows if given else None,
                later=later,
            )
        log.info(
            "campaign %s created (%s)",
            campaign_id,
            "scheduled" if run is None else "sent now",
            extra={
                "fields": {
                    "event": "create",
                    "campaign_id": campaign_id,
                    "account_id": account_id,
                    "scheduled_at": columns["scheduled_at"],
                    "recipients": len(intake.rows),
                    "contacts": len(contact_ids),
                    "groups": len(group_ids),
                }
            },
        )
        view = await self._read(conn, account_id, campaign_id)
        view["intake"] = intake.report(blacklisted)
        view["run"] = None if run is None else asdict(run)
        return view

    async def update(
        self, account_id: int, campaign_id: int, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Change anything while the campaign is scheduled; recipient fields given replace
        what the campaign had from that source (`to` its numbers, `recipients` its recipient
        objects, `contacts` and `groups` their lists); file rows stay. `scheduled_at` left out
        keeps the schedule; null is refused: it would leave the campaign waiting with no time
        (run it now with POST .../run instead)."""
        if "scheduled_at" in changes and changes["scheduled_at"] is None:
            raise RequestError(
                "invalid_schedule",
                "scheduled_at cannot be null: it would leave the campaign waiting with no time "
                f"to run. Give a new time, send it now with POST /v1/campaigns/{campaign_id}/run "
                "(`herald campaign run`), or stop it",
                {"scheduled_at": None},
            )
        self._intake(changes)  # too many recipients: refused before anything is read
        async with self._db.acquire() as conn, conn.transaction():
            row = await _scheduled_for_edit(
                conn, campaign_id, account_id, "only a scheduled campaign can be changed"
            )
            columns = {c: row[c] for c in store.CAMPAIGN_FIELDS}
            self._apply(columns, changes)
            self._check_columns(columns, changed=set(changes))
            links = _with_links(_links_of(row), changes)
            if set(changes) & {"message", "fallback_values", *LINK_FIELDS}:
                self._check_links(columns, links)
            intake = self._intake(changes, mobiles_only=columns["mobiles_only"])
            _refuse_invalid(intake, columns)
            if "sender" in changes:
                columns["sender_id"] = await self._sender_id(conn, account_id, changes["sender"])
            counts = await store.recipient_counts(conn, campaign_id)
            contact_ids = (
                _unique(changes["contacts"]) if "contacts" in changes else list(counts["contacts"])
            )
            group_ids = (
                _unique(changes["groups"]) if "groups" in changes else list(counts["groups"])
            )
            await self._check_refs(conn, account_id, contact_ids, group_ids)
            blacklisted = await contact_store.blacklisted_among(
                conn, account_id, list(intake.valid)
            )
            named = any(changes.get(f) for f in RECIPIENT_FIELDS)
            if named:
                kept = counts["file_rows"]
                kept += 0 if "to" in changes else counts["numbers"]
                kept += 0 if "recipients" in changes else counts["recipients"]
                await self._require_sendable(
                    conn, account_id, intake, blacklisted, kept, contact_ids, group_ids
                )
            try:
                changed = await store.update_scheduled_campaign(
                    conn, campaign_id, account_id, columns
                )
            except ConflictError as exc:
                raise RequestError("name_conflict", str(exc), {"name": columns["name"]}) from None
            assert changed  # the row is locked and scheduled
            replaced = [s for f, s in (("to", NUMBER), ("recipients", RECIPIENT)) if f in changes]
            if replaced:
                await store.delete_recipients(conn, campaign_id, replaced)
                await store.add_recipients(conn, campaign_id, intake.rows)
            if "contacts" in changes:
                await store.set_contacts(conn, campaign_id, contact_ids)
            if "groups" in changes:
                await store.set_groups(conn, campaign_id, group_ids)
            if set(changes) & set(LINK_FIELDS):
                await link_store.set_campaign_links(conn, campaign_id, *_links_fields(links))
        view = await self.get(account_id, campaign_id)
        view["intake"] = intake.report(blacklisted)
        return view

    async def delete(self, account_id: int, campaign_id: int) -> None:
        async with self._db.acquire() as conn, conn.transaction():
            row = await store.get_campaign(conn, campaign_id, account_id, lock=True)
            if row is None:
                raise campaign_not_found(campaign_id)
            if not await store.delete_idle_campaign(conn, campaign_id, account_id):
                raise RequestError(
                    "campaign_running",
                    f"campaign {campaign_id} is {row['status']}: stop it before deleting it",
                    {"status": row["status"]},
                )

    async def mobiles_only(self, account_id: int, campaign_id: int) -> bool:
        """Whether the campaign sends to mobiles only (a file's rows are checked so)."""
        async with self._db.acquire() as conn:
            row = await store.get_campaign(conn, campaign_id, account_id)
        if row is None:
            raise campaign_not_found(campaign_id)
        return bool(row["mobiles_only"])

    async def add_file(
        self,
        account_id: int,
        campaign_id: int,
        chunks: AsyncIterable[Sequence[RowResult]],
        *,
        replace: bool,
        max_bad: int = 100,
    ) -> dict[str, Any]:
        """Store the good rows of a recipient file (read in `chunks`) as recipients of a
        scheduled campaign; `replace` drops the rows of earlier files first. Bad rows are
        counted and the first `max_bad` listed with their row numbers; a file without one
        good row is refused (invalid_file) and changes nothing. A RecipientFileError while
        reading (a row limit, a broken file) also leaves the campaign as it was."""
        summary = FileSummary(max_bad=max_bad)
        blacklisted: set[str] = set()
        async with self._db.acquire() as conn, conn.transaction():
            await _scheduled_for_edit(
                conn, campaign_id, account_id, "recipients can be added only while it is scheduled"
            )
            if replace:
                await store.delete_recipients(conn, campaign_id, [FILE])
            async for chunk in chunks:
                good = list(summary.good_rows(chunk))
                # Stored as E.164: the number was checked against the file's region now.
                await store.add_recipients(
                    conn,
                    campaign_id,
                    [store.RecipientRow(FILE, r.phone, r.name, r.labels, r.row) for r in good],
                )
                blacklisted |= await contact_store.blacklisted_among(
                    conn, account_id, [r.phone for r in good]
                )
            report = summary.as_dict()
            if not summary.good:
                raise RequestError(
                    "invalid_file",
                    "no row of the file can be used"
                    + (
                        ": " + ", ".join(f"{n} {r}" for r, n in summary.reasons.items())
                        if summary.reasons
                        else " (it has no data rows)"
                    ),
                    report,
                )
            counts = await store.recipient_counts(conn, campaign_id)
        return {**report, "blacklisted": sorted(blacklisted), "file_rows": counts["file_rows"]}

    # --- rules --------------------------------------------------------------------------------

    def _default_columns(self) -> dict[str, Any]:
        return {
            "fallback_values": {},
            "flash": False,
            "transcode": False,
            "respect_quiet_hours": True,
            "quiet_hours": self._default_quiet_hours(),
            "scheduled_at": None,
            "callback_url": None,
            "campaign_callback_url": None,
            "reminder": None,
            "ignore_invalid_numbers": False,
            "mobiles_only": False,
        }

    def _default_quiet_hours(self) -> list[dict[str, str]]:
        return [{"from": a, "to": b} for a, b in self._config.campaigns.quiet_hours]

    def _apply(self, columns: dict[str, Any], spec: Mapping[str, Any]) -> None:
        for field, column in _COLUMNS.items():
            if field not in spec:
                continue
            value = spec[field]
            if field == "quiet_hours" and value is None:
                value = self._default_quiet_hours()
            elif field == "fallback_values":
                value = dict(value or {})
            elif field == "reminder" and value is not None:
                value = {
                    "numbers": _normalise_numbers(
                        value["numbers"], default_region=self._region, field_name="reminder.numbers"
                    ),
                    "lead_seconds": int(value["minutes_before"]) * 60,
                }
            columns[column] = value

    def _check_columns(self, columns: Mapping[str, Any], *, changed: set[str]) -> None:
        if changed & {"message", "fallback_values"}:
            try:
                parse_template(columns["template"], columns["fallback_values"])
            except TemplateError as exc:
                raise malformed_template(exc) from None
        scheduled_at = columns["scheduled_at"]
        if "scheduled_at" in changed and scheduled_at is not None:
            now = self._clock()
            if scheduled_at <= now:
                raise RequestError(
                    "invalid_schedule",
                    f"scheduled_at {scheduled_at.isoformat()} is not in the future (now "
                    f"{now.isoformat()}); leave it out to send now",
                    {"scheduled_at": scheduled_at.isoformat(), "now": now.isoformat()},
                )
        if (
            changed & {"reminder", "scheduled_at"}
            and columns["reminder"] is not None
            and scheduled_at is None
        ):
            raise RequestError(
                "invalid_reminder",
                "a reminder is sent a set time before the scheduled run: it needs scheduled_at",
                {"field": "reminder"},
            )

    @staticmethod
    def _check_links(columns: Mapping[str, Any], links: LinkSettings) -> None:
        """The template's %Link% and %OptOutLink% must match the link settings."""
        try:
            template = parse_template(columns["template"], columns["fallback_values"])
        except TemplateError as exc:
            raise malformed_template(exc) from None
        check_link_settings(
            template, track_link_url=links.track_link_url, opt_out_link=links.opt_out_link
        )

    def _intake(self, spec: Mapping[str, Any], *, mobiles_only: bool = False) -> Intake:
        return check_recipients(
            spec.get("to") or [],
            spec.get("recipients") or [],
            default_region=self._region,
            max_recipients=self._config.api.max_recipients_per_request,
            mobiles_only=mobiles_only,
        )

    async def _sender_id(self, conn: Any, account_id: int, address: str) -> int:
        sender = parse_sender_or_refuse(address, self._config)
        row = await sender_store.account_sender(conn, account_id, sender.address)
        if row is None:
            raise RequestError(
                "sender_not_allowed",
                f"sender {sender.address!r} is not one of this account's senders "
                "(add it with POST /v1/senders)",
                {"sender": sender.address},
            )
        return int(row["id"])

    async def _check_refs(
        self, conn: Any, account_id: int, contact_ids: Sequence[int], group_ids: Sequence[int]
    ) -> None:
        if contact_ids:
            found = await contact_store.account_contact_ids(conn, account_id, contact_ids)
            missing = [i for i in contact_ids if i not in found]
            if missing:
                raise contact_not_found(missing)
        if group_ids:
            found = await contact_store.account_group_ids(conn, account_id, group_ids)
            missing = [i for i in group_ids if i not in found]
            if missing:
                raise group_not_found(missing)

    async def _require_sendable(
        self,
        conn: Any,
        account_id: int,
        intake: Intake,
        blacklisted: set[str],
        kept: int,
        contact_ids: Sequence[int],
        group_ids: Sequence[int],
    ) -> None:
        """no_recipients when nobody named (plus `kept` rows left from before) can be sent
        to: every number invalid or blacklisted, every contact blacklisted, groups empty."""
        if kept or len(intake.valid) > len(blacklisted):
            return
        if contact_ids or group_ids:
            _, sendable = await store.sendable_contacts(conn, account_id, contact_ids, group_ids)
            if sendable:
                return
        raise RequestError(
            "no_recipients",
            "none of the recipients can be sent to: "
            f"{len(intake.invalid)} invalid, {len(blacklisted)} blacklisted"
            + (
                ", and the contacts and groups give no sendable number"
                if contact_ids or group_ids
                else ""
            ),
            intake.report(blacklisted),
        )
