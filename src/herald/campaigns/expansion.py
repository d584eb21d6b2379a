"""Expansion: one campaign run's audience becomes message and part rows (pure, no I/O).

Everything that costs CPU per recipient happens here, once, before anything is sent: number
validation, blacklist, the same number once per batch, template rendering, routing (which
fixes the encoding profile), encoding choice and segmentation. The rows it yields are COPYed
by the runner, so message and segment counts (and the credit a run needs) are known up front.
A run whose template places links gives each message its own codes here (campaigns/links.py);
their rows are COPYed with the messages.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Protocol

from herald.campaigns.links import CLICK, OPT_OUT, CodePool, LinkPlan, new_codes
from herald.delivery.quiet_hours import Window, next_allowed
from herald.delivery.router import NoRouteError, Router
from herald.errors import InvalidTextError, MissingLabelError, TextError, TooManyPartsError
from herald.numbers import Verdict, check_number, country_of, time_zones_for
from herald.text import EncodedMessage, ReferenceAllocator, encode_message
from herald.text.template import Template

MESSAGE_COLUMNS = (
    "id",
    "batch_id",
    "campaign_id",
    "account_id",
    "phone",
    "tz",
    "text",
    "encoding",
    "data_coding",
    "esm_class",
    "part_count",
    "status",
    "reason",
    "not_before",
    "route",
    "client_ref",
    "country",
)
PART_COLUMNS = ("message_id", "seq", "short_message", "tlvs")

# Sources whose phone is already E.164 in the database (contacts.phone has a CHECK).
_TRUSTED_SOURCES = frozenset({"contact", "group"})
# Rejections of numbers that are not valid: they have no country.
_INVALID = frozenset({"invalid_format", "invalid_number"})


class AudienceRow(Protocol):
    """A row of the campaign_audience query (store/sql/queries.sql), by column name."""

    def __getitem__(self, column: str) -> Any: ...


@dataclass(frozen=True, slots=True)
class EncodingProfile:
    """How a route's binds want messages encoded (all binds of a route share it)."""

    concat: str = "udh8"
    national: tuple[str, ...] = ()


@dataclass
class ExpansionTotals:
    queued: int = 0  # to be sent (some may wait for quiet hours to end: `deferred`)
    deferred: int = 0
    segments: int = 0
    skipped: int = 0  # invalid numbers left out because the campaign says so
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

    @property
    def rejected_count(self) -> int:
        return sum(self.rejected.values())


class Expander:
    """Builds rows for one batch. Call `add` per recipient, then `take` to collect rows."""

    def __init__(
        self,
        *,
        batch_id: int,
        campaign_id: int,
        account_id: int,
        template: Template,
        sender: str,
        flash: bool,
        transcode: bool,
        quiet_hours: tuple[Window, ...],
        ignore_invalid_numbers: bool,
        router: Router,
        profiles: Mapping[str, EncodingProfile],
        allocators: Mapping[int, ReferenceAllocator],
        blacklist: set[str],
        not_before: datetime,
        default_region: str | None = None,
        track_rejected: bool = False,
        mobiles_only: bool = False,
        links: LinkPlan | None = None,
        link_codes: Callable[[int], list[str]] = new_codes,
        checked: Mapping[str, Verdict] | None = None,
    ) -> None:
        self._batch_id, self._campaign_id, self._account_id = batch_id, campaign_id, account_id
        self._template = template
        self._sender = sender
        self._flash, self._transcode = flash, transcode
        self._quiet_hours = quiet_hours
        self._ignore_invalid = ignore_invalid_numbers
        self._router = router
        self._profiles = profiles
        self._allocators = allocators
        self._blacklist = blacklist
        self._not_before = not_before
        self._region = default_region
        self._mobiles_only = mobiles_only
        # Verdicts on raw numbers already reached in this transaction, under the same region
        # and mobiles_only (the request's intake, campaigns/audience.py): not checked again.
        self._checked: Mapping[str, Verdict] = checked or {}
        # The only guard of one message per number per batch: the schema has no unique index
        # for it (each would cost every status move an index entry; see schema.sql).
        self._seen: set[str] = set()
        self._messages: list[tuple] = []
        self._parts: list[tuple] = []
        # The common mass mailing sends one text to everyone: a single-part encoding carries
        # no reference number, so it is shared instead of recomputed per recipient.
        self._single: dict[tuple[str, EncodingProfile], EncodedMessage] = {}
        self.totals = ExpansionTotals()
        # (message id, reason) of rejections, kept only when someone will be told of them
        # (the campaign's per-message callback).
        self.rejected_ids: list[tuple[int, str]] = []
        self._track_rejected = track_rejected
        self._links = links
        self._link_rows: list[tuple[str, int, int, str]] = []
        self._codes = CodePool(link_codes)

    def add(
        self,
        message_id: int,
        phone_raw: str,
        name: str | None,
        labels: Mapping[str, str],
        source: str,
        client_ref: str | None = None,
    ) -> bool:
        """Expand one recipient. False when nothing was stored (skipped or a duplicate).
        `client_ref` is the caller's own reference, stored with the message."""
        phone: str | None
        reason: str | None
        if source in _TRUSTED_SOURCES and not self._mobiles_only:
            phone, reason = phone_raw, None
        else:  # a contact's E.164 number still needs its type checked for mobiles_only
            verdict = self._checked.get(phone_raw)
            if verdict is None:
                verdict = check_number(
                    phone_raw, default_region=self._region, mobile_only=self._mobiles_only
                )
            phone, reason = verdict
        key = phone if phone is not None else phone_raw.strip()
        if key in self._seen:
            self.totals.duplicates += 1
            return False
        self._seen.add(key)
        if phone is None:
            if self._ignore_invalid:
                self.totals.skipped += 1
                return False
            return self._reject(message_id, key, "", reason or "invalid_number", client_ref)
        if phone in self._blacklist:
            return self._reject(message_id, phone, "", "blacklisted", client_ref)
        click = opt_out = link = opt_out_link = None
        if self._links is not None:
            plan = self._links
            if plan.click:
                click = self._codes.next()
                link = f"{plan.base_url}/l/{click}"
            if plan.opt_out:
                opt_out = self._codes.next()
                opt_out_link = f"{plan.base_url}/o/{opt_out}"
        try:
            text = self._template.render(name, labels, link, opt_out_link)
        except MissingLabelError as exc:
            return self._reject(message_id, phone, "", exc.reason, client_ref)
        except InvalidTextError:
            return self._reject(message_id, phone, "", "invalid_label_value", client_ref)
        try:
            route = self._router.route_for(phone, self._sender)
        except NoRouteError:
            return self._reject(message_id, phone, text, "no_route", client_ref)
        profile = self._profiles[route.name]
        try:
            encoded = self._encode(text, phone, profile)
        except TooManyPartsError:
            return self._reject(message_id, phone, text, "too_many_parts", client_ref)
        except TextError:
            return self._reject(message_id, phone, text, "invalid_text", client_ref)
        status, reason, not_before, tz = "queued", None, self._not_before, None
        if self._quiet_hours:
            zones = time_zones_for(phone)
            tz = ",".join(zones)
            until = next_allowed(self._not_before, zones, self._quiet_hours)
            if until is not None:  # inside quiet hours: stored waiting for the window's end
                status, reason, not_before = "deferred", "quiet_hours", until
        parts = encoded.parts
        self._messages.append(
            (
                message_id,
                self._batch_id,
                self._campaign_id,
                self._account_id,
                phone,
                tz,
                encoded.text,
                encoded.encoding,
                encoded.data_coding,
                encoded.esm_class,
                len(parts),
                status,
                reason,
                not_before,
                route.name,
                client_ref,
                country_of(phone),
            )
        )
        if click is not None:
            self._link_rows.append((click, message_id, self._batch_id, CLICK))
        if opt_out is not None:
            self._link_rows.append((opt_out, message_id, self._batch_id, OPT_OUT))
        self._parts.extend(
            (message_id, seq, part.short_message, part.tlvs) for seq, part in enumerate(parts, 1)
        )
        self.totals.queued += 1
        self.totals.deferred += status == "deferred"
        self.totals.segments += encoded.segments
        return True

    def add_audience_row(self, message_id: int, row: AudienceRow) -> bool:
        """`add` for a row of the campaign_audience query (store/sql/queries.sql)."""
        return self.add(
            message_id,
            row["phone_raw"],
            row["name"],
            row["labels"],
            row["source"],
            row["client_ref"],
        )

    @property
    def waiting(self) -> int:
        """Message rows built and not taken yet."""
        return len(self._messages)

    def seen_already(self, keys: Iterable[str]) -> None:
        """Numbers (as `add` keys them) the batch has messages for: skipped as duplicates."""
        self._seen.update(keys)

    def take(self) -> tuple[list[tuple], list[tuple]]:
        """The rows built since the last call (message rows, part rows)."""
        messages, parts = self._messages, self._parts
        self._messages, self._parts = [], []
        return messages, parts

    def take_links(self) -> list[tuple[str, int, int, str]]:
        """The link rows (LINK_COLUMNS) of the messages built since the last call."""
        rows, self._link_rows = self._link_rows, []
        return rows

    def _encode(self, text: str, phone: str, profile: EncodingProfile) -> EncodedMessage:
        cached = self._single.get((text, profile))
        if cached is not None:
            return cached
        bits = 8 if profile.concat == "udh8" else 16
        encoded = encode_message(
            text,
            concat=profile.concat,
            national=profile.national,
            flash=self._flash,
            transcode=self._transcode,
            # Drawn only for a message of several parts: a single part carries none.
            reference=partial(self._allocators[bits].next, phone),
        )
        if encoded.segments == 1 and len(self._single) < 64:
            # One segment: no concatenation header, hence no reference to keep unique.
            self._single[(text, profile)] = encoded
        return encoded

    def _reject(
        self, message_id: int, phone: str, text: str, reason: str, client_ref: str | None
    ) -> bool:
        # Rejected messages keep no parts; part_count 1 satisfies the schema and they are
        # excluded from the run's segments and credit.
        self._messages.append(
            (
                message_id,
                self._batch_id,
                self._campaign_id,
                self._account_id,
                phone,
                None,
                text,
                "none",
                0,
                0,
                1,
                "rejected",
                reason,
                self._not_before,
                None,
                client_ref,
                country_of(phone) if phone[:1] == "+" and reason not in _INVALID else None,
            )
        )
        self.totals.rejected[reason] += 1
        if self._track_rejected:
            self.rejected_ids.append((message_id, reason))
        return True
