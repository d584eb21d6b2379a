"""Messages one by one (POST /v1/messages), beside campaigns, through the same pipeline.

A request is a campaign of kind 'message' (transactional traffic) with one run, created and
run in the caller's transaction: the same number checks, blacklist, routing, encoding,
credit, dispatch, receipts and per-message callbacks as a campaign's run, with the request's
own sender, options and callback (docs/decisions/0013-messages-as-runs-of-one-campaign.md).
The template's values are the campaign's fallback values: every number gets the same text.

Also here: reading an account's messages, one by id or page by page (a cursor), whatever
sent them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from herald.campaigns.address_book import parse_sender_or_refuse
from herald.campaigns.audience import check_recipients
from herald.campaigns.cursors import decode_cursor, encode_cursor
from herald.campaigns.lifecycle import RunStarter, malformed_template
from herald.config import Config
from herald.errors import (
    InvalidLabelValueError,
    MissingLabelError,
    RequestError,
    TemplateError,
)
from herald.numbers import check_number
from herald.store import campaigns as campaign_store
from herald.store import contacts as contact_store
from herald.store import messages as store
from herald.store import senders as sender_store
from herald.store.db import Database
from herald.store.messages import MessageFilter, MessageRequest
from herald.store.rows import Row
from herald.text.template import parse_template

MAX_NUMBERS = 1000  # numbers in one request


def message_view(row: Row) -> dict[str, Any]:
    """A message (account_message) in the API's field names. `campaign_id` and `batch_id`
    are null for a message sent through POST /v1/messages: its campaign is no campaign of
    the caller's."""
    is_campaign = row["kind"] == "campaign"
    return {
        "id": row["id"],
        "campaign_id": row["campaign_id"] if is_campaign else None,
        "batch_id": row["batch_id"] if is_campaign else None,
        "client_ref": row["client_ref"],
        "sender": row["sender"],
        "phone": row["phone"],
        "status": row["status"],
        "reason": row["reason"],
        "text": row["text"],
        "encoding": row["encoding"],
        "segments": _segments(row),
        "attempts": row["attempts"],
        "route": row["route"],
        "bind": row["bind"],
        "created_at": row["created_at"],
        "not_before": row["not_before"],
        "sent_at": row["sent_at"],
        "done_at": row["done_at"],
        "parts": row["parts"],
    }


def _segments(row: Row) -> int:
    # A message rejected before it was encoded (encoding 'none') costs nothing.
    return 0 if row["encoding"] == "none" else int(row["part_count"])


def _bad(source: str, phone: str, reason: str | None) -> dict[str, Any]:
    return {"source": source, "index": 0, "phone": phone, "reason": reason}


class MessageService:
    def __init__(
        self,
        db: Database,
        config: Config,
        *,
        clock: Callable[[], datetime],
        runner: RunStarter,
    ) -> None:
        self._db = db
        self._config = config
        self._clock = clock
        self._runner = runner
        self._region = config.campaigns.default_region

    # --- sending ------------------------------------------------------------------------------

    async def send(
        self, conn: Any, account_id: int, spec: Mapping[str, Any], *, in_reply_to: int | None = None
    ) -> dict[str, Any]:
        """Send `spec` (the API's fields: to, sender, text, values, flash, transcode,
        validity, respect_quiet_hours, quiet_hours, callback, client_ref) in the caller's
        transaction `conn`; the caller wakes the dispatcher once it has committed. The answer
        lists one message per number given, in order. `in_reply_to`: the inbound message an
        automatic reply answers (the blacklist does not stop it)."""
        to = list(spec["to"])
        values = dict(spec.get("values") or {})
        self._check_text(spec["text"], values)
        validity = spec.get("validity")
        most = int(self._config.tracker.validity_hours * 60)
        if validity is not None and validity > most:
            raise RequestError(
                "invalid_validity",
                f"validity {validity} minutes is longer than the {most} minutes herald waits "
                "for a receipt (tracker.validity_hours)",
                {"validity": validity, "max": most},
            )
        client_ref = spec.get("client_ref")
        intake = check_recipients(
            to,
            [],
            default_region=self._region,
            max_recipients=MAX_NUMBERS,
            client_ref=client_ref,
            as_e164=True,  # the run looks them up in the blacklist as stored
        )
        if not intake.valid:
            raise RequestError(
                "invalid_numbers",
                "no valid number in `to`: "
                + ", ".join(f"{b['phone']!r} ({b['reason']})" for b in intake.invalid[:5])
                + (" ..." if len(intake.invalid) > 5 else ""),
                {"invalid_numbers": intake.invalid},
            )
        sender_id = await self._sender_id(conn, account_id, spec["sender"])
        if in_reply_to is None:
            blacklisted = await contact_store.blacklisted_among(
                conn, account_id, list(intake.valid)
            )
            if len(blacklisted) == len(intake.valid):
                raise RequestError(
                    "no_recipients",
                    "every number is blacklisted"
                    + (f" or invalid ({len(intake.invalid)})" if intake.invalid else ""),
                    intake.report(blacklisted),
                )
        quiet_hours = spec.get("quiet_hours")
        request = MessageRequest(
            sender_id=sender_id,
            template=spec["text"],
            values=values,
            flash=bool(spec.get("flash", False)),
            transcode=bool(spec.get("transcode", False)),
            respect_quiet_hours=bool(spec.get("respect_quiet_hours", False)),
            quiet_hours=quiet_hours
            if quiet_hours is not None
            else [{"from": a, "to": b} for a, b in self._config.campaigns.quiet_hours],
            callback_url=spec.get("callback"),
            validity_minutes=validity,
            in_reply_to=in_reply_to,
        )
        campaign_id = await store.create_message_campaign(conn, account_id, request)
        await campaign_store.add_recipients(conn, campaign_id, intake.rows)
        run = await self._runner.start_run(
            campaign_id=campaign_id,
            account_id=account_id,
            conn=conn,
            # Stored as E.164 (as_e164 above), so that is what expansion meets.
            checked={phone: (phone, None) for phone in intake.valid},
        )
        rows = await store.batch_messages(conn, campaign_id, run.batch_id)
        return self._answer(to, rows, run.segments, client_ref)

    def _check_text(self, text: str, values: Mapping[str, str]) -> None:
        """The text renders with the values given (every number gets the same): a missing
        label is the caller's to fix now, not a rejected message per number."""
        try:
            template = parse_template(text, values)
        except TemplateError as exc:
            raise malformed_template(exc, "text") from None
        try:
            template.render(None, {})
        except MissingLabelError as exc:
            raise RequestError(
                "missing_label",
                f"text uses {exc.label!r}, which `values` does not give",
                {"label": exc.label, "values": sorted(values)},
            ) from None
        except InvalidLabelValueError as exc:
            raise RequestError("invalid_label_value", str(exc), {"label": exc.label}) from None

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

    def _answer(
        self, to: Sequence[str], rows: Sequence[Row], segments: int, client_ref: str | None
    ) -> dict[str, Any]:
        # Expansion stores each number once, as E.164, or as given (trimmed) when invalid.
        by_phone = {r["phone"]: r for r in rows}
        messages = []
        for raw in to:
            phone, _ = check_number(raw, default_region=self._region)
            row = by_phone[phone if phone is not None else raw.strip()]
            messages.append(
                {
                    "id": row["id"],
                    "to": raw,
                    "phone": phone,
                    "status": row["status"],
                    "reason": row["reason"],
                    "encoding": row["encoding"],
                    "segments": _segments(row),
                }
            )
        rejected = sum(1 for r in rows if r["status"] == "rejected")
        return {
            "messages": messages,
            "count": len(rows) - rejected,
            "rejected": rejected,
            "segments": segments,
            "credit_used": segments,
            "client_ref": client_ref,
        }

    # --- reading ------------------------------------------------------------------------------

    async def get(self, account_id: int, message_id: int) -> dict[str, Any]:
        async with self._db.acquire() as conn:
            row = await store.account_message(conn, message_id, account_id)
        if row is None:
            raise RequestError(
                "message_not_found", f"no message with id {message_id}", {"message_id": message_id}
            )
        return message_view(row)

    async def list_messages(
        self,
        account_id: int,
        where: MessageFilter,
        *,
        cursor: str | None,
        limit: int,
    ) -> dict[str, Any]:
        """One page, newest run first; `next_cursor` continues it (null: the last page)."""
        if where.phone is not None:
            phone, reason = check_number(where.phone, default_region=self._region)
            if phone is None:
                raise RequestError(
                    "invalid_numbers",
                    f"phone {where.phone!r} is not a valid number ({reason})",
                    {"invalid_numbers": [_bad("phone", where.phone, reason)]},
                )
            where = MessageFilter(where.statuses, phone, where.client_ref)
        after = None
        if cursor is not None:
            batch, message = decode_cursor(cursor, 2)
            after = (batch, message)
        async with self._db.acquire() as conn:
            rows = await store.list_account_messages(
                conn, account_id, where, after=after, limit=limit + 1
            )
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1] if more else None
        return {
            "items": [message_view(r) for r in rows],
            "next_cursor": encode_cursor(last["batch_id"], last["id"]) if last else None,
        }
