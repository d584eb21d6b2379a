"""Request and response bodies of the API: JSON with snake_case fields.

Every text field refuses NUL and lone surrogates (no database column can store them; the
OpenAPI document states the NUL rule as a pattern), ids are positive 64-bit integers, times are
RFC 3339 strings with a time zone, and lists are bounded, so a request the schema accepts can
always be stored or refused with a named error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    HttpUrl,
    Strict,
    StringConstraints,
    create_model,
    model_validator,
)
from pydantic.json_schema import JsonDict, JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from herald.errors import RequestError
from herald.numbers import SenderKind
from herald.states import MESSAGE, BatchStatus, CampaignStatus, MessageStatus, PartState
from herald.store.campaigns import CampaignKind
from herald.store.contacts import BlacklistSource
from herald.text.encoding import Encoding
from herald.text.national import NationalLanguage
from herald.text.segment import ConcatMethod

T = TypeVar("T")

# Ids are below 2^53: exact in every JSON parser (a double holds them), far above any sequence.
MAX_ID = 2**53 - 1


_SURROGATE = re.compile("[\ud800-\udfff]")


def _storable(value: str) -> str:
    # Every string of a body passes here (20,000 numbers in a campaign): C-speed searches,
    # not a Python loop over the characters.
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    if not value.isascii() and (lone := _SURROGATE.search(value)) is not None:
        raise ValueError(f"lone surrogate U+{ord(lone.group()):04X} is not allowed")
    return value


NO_NUL = r"^[^\x00]*$"


class _NoNulPattern:
    """Writes the NUL rule into the JSON schema as a pattern. Validation stays with
    `_storable`, whose message names the character (a pattern error would only quote the
    pattern)."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema.setdefault("pattern", NO_NUL)
        return schema


def _rfc3339(value: object) -> object:
    # pydantic also takes numbers (Unix time) and other spellings; the schema says RFC 3339.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError(
            "expected an RFC 3339 date-time with a time zone, e.g. 2030-05-01T09:00:00Z"
        )
    return value


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

# Text as stored: no NUL, no lone surrogate. Storable[Annotated[str, StringConstraints(...)]]
# keeps the lengths first (nested Annotated flattens in order), so pydantic checks them in its
# string validator; after `_storable` it would call a Python function of its own per length
# (20,000 recipients took 114-140 ms to validate that way, 45-52 ms this way).
Storable = Annotated[T, AfterValidator(_storable), _NoNulPattern()]
Text = Storable[str]
Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]
# JSON bodies take exactly the types the schema gives: no 0/1 for a boolean, no 5.0 or "5" for an
# integer (pydantic would coerce them; query strings are text and still are).
Flag = Annotated[bool, Strict()]


def _json_integer(value: object) -> object:
    # 5.0 is an integer to JSON Schema (and to pydantic); "5" and true are not.
    if isinstance(value, bool | str):
        raise ValueError("expected an integer")
    return value


Count = Annotated[int, BeforeValidator(_json_integer)]
# (the bounds before the validator: after it, pydantic writes them as "ge"/"le" in the schema)
Id = Annotated[int, Field(ge=1, le=MAX_ID), BeforeValidator(_json_integer)]
Phone = Storable[Annotated[str, StringConstraints(min_length=1, max_length=64)]]
PersonName = Storable[Annotated[str, StringConstraints(max_length=200)]]
LabelKey = Storable[Annotated[str, StringConstraints(min_length=1, max_length=100)]]
LabelValue = Storable[Annotated[str, StringConstraints(max_length=1000)]]


class _KeyPatternAsPropertyNames:
    """pydantic writes a pattern on dict keys as `patternProperties`, which leaves keys that
    do not match it unconstrained; the rule belongs in `propertyNames`."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        patterns = schema.pop("patternProperties", None)
        if patterns:
            ((pattern, values),) = patterns.items()
            schema["additionalProperties"] = values
            schema.setdefault("propertyNames", {})["pattern"] = pattern
        return schema


Labels = Annotated[dict[LabelKey, LabelValue], Field(max_length=100), _KeyPatternAsPropertyNames()]
CampaignName = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9 -]{2,30}$"),
    Field(
        description="2 to 30 Latin letters, digits, spaces and '-'; unique per account",
        examples=["Spring sale"],
    ),
]
Template = Annotated[
    Storable[Annotated[str, StringConstraints(min_length=1, max_length=10_000)]],
    Field(
        description="The message template: %Name%, %Label% and [~label] placeholders",
        examples=["Hi %Name%, 20% off today with code [~code]!"],
    ),
]
SenderAddress = Storable[Annotated[str, StringConstraints(min_length=1, max_length=32)]]
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _OrNumber:
    """In models that take numbers for text (`coerce_numbers_to_str`: a phone or a label
    value often comes from a spreadsheet as a number), the schema says so; bounded so that
    the number's digits fit the text's `max_length`."""

    def __init__(self, max_length: int) -> None:
        self.bound = float(10 ** min(max_length - 2, 300))  # a JSON number is a double

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_before_validator_function(self._in_bounds, handler(source))

    def _in_bounds(self, value: object) -> object:
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                size = abs(float(value))  # compared as a double, as schema validators do
            except OverflowError:
                size = float("inf")
            if size > self.bound:
                raise ValueError(f"a number here is at most {self.bound:g} in size")
        return value

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        number = {"type": "number", "minimum": -self.bound, "maximum": self.bound}
        return {"anyOf": [handler(core_schema), number]}


PhoneOrNumber = Annotated[Phone, _OrNumber(64)]
NameOrNumber = Annotated[PersonName, _OrNumber(200)]
LabelsOrNumbers = Annotated[
    dict[LabelKey, Annotated[LabelValue, _OrNumber(1000)]],
    Field(max_length=100),
    _KeyPatternAsPropertyNames(),
]


def not_null_in_schema(nullable: Iterable[str] = ()) -> Callable[[dict[str, Any]], None]:
    """A `json_schema_extra` for PATCH bodies: a field may be left out, but only those in
    `nullable` may be null (the model's validator refuses the others), so the schema drops
    `null` from the rest."""
    keep = frozenset(nullable)

    def edit(schema: dict[str, Any]) -> None:
        for name, prop in schema.get("properties", {}).items():
            choices = prop.get("anyOf")
            if name in keep or not choices:
                continue
            rest = [c for c in choices if c != {"type": "null"}]
            del prop["anyOf"]
            if len(rest) == 1:
                prop.update(rest[0])
            else:
                prop["anyOf"] = rest
            if prop.get("default", 0) is None:
                del prop["default"]

    return edit


class Page(BaseModel, Generic[T]):
    items: list[T]
    page: int
    page_size: int
    total: int = Field(description="items matching the filters, on every page")
    pages: int


def page_of(items: list[Any], *, page: int, page_size: int, total: int) -> dict[str, Any]:
    return {
        "items": items,
        "page": page,
        "page_size": page_size,
        "total": total,
        "pages": (total + page_size - 1) // page_size,
    }


# --- account ------------------------------------------------------------------------------------


class AccountOut(BaseModel):
    id: int
    name: str
    api_key_prefix: str = Field(description="the first characters of the key this request used")
    credit: int = Field(description="in segments")
    created_at: datetime
    weight: int = Field(
        description="the account's share of each route against the other accounts sending "
        "(set by the operator: `herald account share`)"
    )
    priority: int = Field(description="accounts of higher priority are served first")


class BatchUse(BaseModel):
    batch_id: int
    campaign_id: int
    campaign_name: str
    kind: CampaignKind = Field(
        description="campaign, or message: a request to POST /v1/messages (its campaign is "
        "internal, named '~' and a UUID)"
    )
    number: int
    description: str | None
    status: BatchStatus
    messages_expected: int
    segments_expected: int
    credit_used: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class BalanceOut(BaseModel):
    credit: int = Field(description="segments the account can still send")
    unit: Literal["segments"] = "segments"
    credit_used_total: int = Field(description="segments every run so far has used")
    recent_batches: list[BatchUse]


# --- senders ------------------------------------------------------------------------------------


class SenderIn(_In):
    address: SenderAddress = Field(
        description="An alphanumeric sender id (up to 11 characters), a short code, or a "
        "number in international form",
        examples=["Herald"],
    )


class SenderOut(BaseModel):
    id: int
    address: str = Field(description="as sent in source_addr")
    kind: SenderKind
    ton: int
    npi: int
    created_at: datetime
    inbound_callback: str | None = Field(
        description="where replies to this sender are POSTed (an `inbound` callback each)"
    )


class SenderPatch(_In):
    inbound_callback: HttpUrl | None = Field(
        description="where replies to this sender are POSTed; null: nowhere",
        examples=["https://example.com/herald/replies"],
    )


# --- contacts, groups, blacklist ----------------------------------------------------------------


class ContactIn(_In):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    phone: PhoneOrNumber = Field(examples=["+306948530920"])
    name: NameOrNumber | None = Field(default=None, examples=["Eleni"])
    labels: LabelsOrNumbers = Field(default_factory=dict, examples=[{"code": "A1"}])


class ContactPatch(_In):
    model_config = ConfigDict(
        extra="forbid",
        coerce_numbers_to_str=True,
        json_schema_extra=not_null_in_schema(nullable=("name", "labels")),
    )

    phone: PhoneOrNumber | None = None
    name: NameOrNumber | None = None
    labels: LabelsOrNumbers | None = None

    @model_validator(mode="after")
    def _phone_not_null(self) -> ContactPatch:
        if "phone" in self.model_fields_set and self.phone is None:
            raise ValueError("phone cannot be null")
        return self


class ContactOut(BaseModel):
    id: int
    phone: str
    name: str | None
    labels: dict[str, str]
    created_at: datetime
    updated_at: datetime


class ContactImportIn(_In):
    contacts: list[ContactIn] = Field(min_length=1)
    group_id: Id | None = Field(default=None, description="also add every contact to this group")


class ImportRowError(BaseModel):
    index: int = Field(description="0-based position in `contacts`")
    phone: str
    reason: str | None


class ContactImportOut(BaseModel):
    created: int
    updated: int
    duplicates: int = Field(description="rows repeating a phone of the same request")
    errors: list[ImportRowError]
    contact_ids: list[int]


class GroupIn(_In):
    name: Storable[Annotated[str, StringConstraints(min_length=1, max_length=100)]] = Field(
        examples=["Newsletter"]
    )


class GroupOut(BaseModel):
    id: int
    name: str
    member_count: int
    created_at: datetime


class MembersIn(_In):
    contact_ids: list[Id] = Field(min_length=1, max_length=10_000)


class BlacklistIn(_In):
    phones: list[Phone] = Field(min_length=1, max_length=10_000, examples=[["+306948530920"]])


class BlacklistAdded(BaseModel):
    added: list[str] = Field(description="the numbers as stored (E.164)")


class BlacklistEntry(BaseModel):
    phone: str
    source: BlacklistSource = Field(
        description="api; opt_out (a keyword reply); opt_out_link (an opt-out link)"
    )
    created_at: datetime


# --- campaigns ----------------------------------------------------------------------------------


class QuietWindow(_In):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: ClockTime = Field(alias="from", examples=["23:00"])
    to: ClockTime = Field(examples=["08:00"])


def check_quiet_hours(windows: list[QuietWindow] | None) -> None:
    """A rule the schema cannot state (two fields differ), so a 400 rather than a 422."""
    for index, window in enumerate(windows or ()):
        if window.from_ == window.to:
            raise RequestError(
                "invalid_quiet_hours",
                f"quiet_hours.{index}: a quiet window needs different start and end times",
                {"index": index, "from": window.from_, "to": window.to},
            )


class ReminderIn(_In):
    numbers: list[Phone] = Field(
        min_length=1, max_length=10, description="test numbers that get the message first"
    )
    minutes_before: Count = Field(
        ge=1, le=7 * 24 * 60, description="how long before the scheduled run"
    )


ClientRef = Annotated[
    Storable[Annotated[str, StringConstraints(min_length=1, max_length=64)]],
    Field(
        description="your own reference for the message (up to 64 characters), echoed in its "
        "callbacks and in the messages API",
        examples=["order-4521"],
    ),
]


class RecipientIn(_In):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    phone: PhoneOrNumber
    name: NameOrNumber | None = None
    labels: LabelsOrNumbers = Field(default_factory=dict)
    client_ref: ClientRef | None = None

    def spec(self) -> dict[str, Any]:
        """As herald.campaigns.audience.check_recipients takes it (an absent field as None)."""
        return {
            "phone": self.phone,
            "name": self.name,
            "labels": self.labels,
            "client_ref": self.client_ref,
        }


_CAMPAIGN_EXAMPLE: JsonDict = {
    "name": "Spring sale",
    "sender": "Herald",
    "message": "Hi %Name%, 20% off today with code [~code]!",
    "to": ["+306948530920"],
    "recipients": [{"phone": "+306948530921", "name": "Eleni", "labels": {"code": "EL20"}}],
    "groups": [3],
    "fallback_values": {"name": "friend", "code": "SPRING"},
    "scheduled_at": "2030-05-01T09:00:00Z",
    "callback": "https://example.com/herald/messages",
    "campaign_callback": "https://example.com/herald/campaigns",
}
ParamKey = Storable[Annotated[str, StringConstraints(min_length=1, max_length=100)]]
ParamValue = Storable[Annotated[str, StringConstraints(max_length=500)]]
LinkUrl = Annotated[
    HttpUrl,
    Field(
        description="an http(s) URL: where %Link% takes each recipient, through a short link "
        "of their own that counts the click",
        examples=["https://shop.example.com/spring"],
    ),
]


class _CampaignFields(_In):
    fallback_values: Labels | None = Field(
        default=None, description="label -> value used when a recipient lacks the label"
    )
    flash: Flag | None = Field(default=None, description="class 0: shown, not stored")
    transcode: Flag | None = Field(
        default=None, description="replace look-alike characters to stay in GSM-7"
    )
    respect_quiet_hours: Flag | None = Field(
        default=None, description="hold messages during quiet hours, destination local time"
    )
    quiet_hours: list[QuietWindow] | None = Field(
        default=None, max_length=8, description="quiet windows; default 23:00-08:00 and 14:00-17:00"
    )
    scheduled_at: Timestamp | None = Field(
        default=None, description="when to send (with a time zone); absent: send now"
    )
    callback: HttpUrl | None = Field(default=None, description="per-message status webhook")
    campaign_callback: HttpUrl | None = Field(default=None, description="campaign webhook")
    reminder: ReminderIn | None = None
    ignore_invalid_numbers: Flag | None = Field(
        default=None,
        description="send to the valid numbers and skip the invalid ones (listed in `intake`); "
        "false (the default): a request with an invalid number is refused with "
        "`invalid_numbers`",
    )
    mobiles_only: bool | None = Field(
        default=None,
        description="refuse numbers that are not mobile ones (fixed line, toll free, ...) with "
        "`not_mobile`; numbers that may be either, as in the US, count as mobile",
    )
    to: list[Phone] | None = Field(default=None, description="phone numbers")
    contacts: list[Id] | None = Field(default=None, max_length=100_000)
    groups: list[Id] | None = Field(default=None, max_length=1000)
    recipients: list[RecipientIn] | None = None
    track_link_url: LinkUrl | None = None
    track_link_params: (
        Annotated[dict[ParamKey, ParamValue], Field(max_length=20), _KeyPatternAsPropertyNames()]
        | None
    ) = Field(
        default=None,
        description="query parameters added to track_link_url when a link is followed "
        '(UTM-style: {"utm_source": "sms"})',
    )
    opt_out_link: bool | None = Field(
        default=None,
        description="%OptOutLink% places a link of each recipient's own to a page that "
        "opts them out (needs the placeholder in the message)",
    )

    def spec(self) -> dict[str, Any]:
        """The fields given, as herald.campaigns.service takes them."""
        spec = self.model_dump(exclude_unset=True, by_alias=True, exclude={"recipients"})
        if "recipients" in self.model_fields_set:
            # Read off the validated models rather than dumped: model_dump took 17-24 ms of a
            # 20,000-recipient request before its first message could go, this 4-6 ms.
            spec["recipients"] = (
                None if self.recipients is None else [r.spec() for r in self.recipients]
            )
        for url in ("callback", "campaign_callback", "track_link_url"):
            if spec.get(url) is not None:
                spec[url] = str(getattr(self, url))
        return spec


class CampaignIn(_CampaignFields):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_CAMPAIGN_EXAMPLE]})

    name: CampaignName | None = Field(
        default=None, description="absent: herald names it 'campaign <id>'"
    )
    sender: SenderAddress = Field(description="one of the account's senders")
    message: Template

    def spec(self) -> dict[str, Any]:
        spec = super().spec()
        # null means "the default" on create
        return {k: v for k, v in spec.items() if v is not None or k == "scheduled_at"}


_PATCH_NULLABLE = frozenset(
    {
        "scheduled_at",
        "callback",
        "campaign_callback",
        "reminder",
        "track_link_url",
        "track_link_params",
    }
)
_PATCH_EXAMPLE = {"message": "New text for %Name%", "scheduled_at": "2030-05-02T09:00:00Z"}


def _campaign_patch_schema(schema: dict[str, Any]) -> None:
    not_null_in_schema(_PATCH_NULLABLE)(schema)
    schema["examples"] = [_PATCH_EXAMPLE]


class CampaignPatch(_CampaignFields):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_campaign_patch_schema)

    name: CampaignName | None = None
    sender: SenderAddress | None = None
    message: Template | None = None

    @model_validator(mode="after")
    def _required_not_null(self) -> CampaignPatch:
        for field in self.model_fields_set - _PATCH_NULLABLE:
            if getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        return self


class QuietWindowOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from")
    to: str


class ReminderOut(BaseModel):
    numbers: list[str]
    minutes_before: int


class StopReason(BaseModel):
    code: str = Field(
        description="stopped_by_user, or why herald stopped it: insufficient_balance, "
        "no_recipients, ...",
        examples=["insufficient_balance"],
    )
    message: str


class CampaignOut(BaseModel):
    id: int
    name: str
    status: CampaignStatus
    sender: str
    message: str
    fallback_values: dict[str, str]
    flash: bool
    transcode: bool
    respect_quiet_hours: bool
    quiet_hours: list[QuietWindowOut]
    scheduled_at: datetime | None
    callback: str | None
    campaign_callback: str | None
    reminder: ReminderOut | None
    ignore_invalid_numbers: bool
    mobiles_only: bool
    stopped_at: datetime | None = Field(
        description="when the campaign was stopped (while it is stopped)"
    )
    stop_reason: StopReason | None = Field(description="why it was stopped (while it is)")
    track_link_url: str | None
    track_link_params: dict[str, str]
    opt_out_link: bool
    recipient_count: int = Field(
        description="the audience as it stands: numbers, recipient objects, file rows, "
        "contacts and group members (a run sends to each number once)"
    )
    created_at: datetime
    updated_at: datetime


class _Expected(BaseModel):
    expected: int = Field(description="what the runs expanded (rejected messages included)")


if TYPE_CHECKING:
    Counters = _Expected
else:
    # ...and one count per message status, taken from the state table (herald.states.MESSAGE)
    Counters = create_model(
        "Counters", __base__=_Expected, **{status: (int, ...) for status in MESSAGE.states}
    )


class DeferredGroup(BaseModel):
    reason: str | None = Field(
        description="why they wait: quiet_hours (the destination's local quiet hours), no_bind "
        "(no bind of the route is up), or the temporary SMPP status being retried",
        examples=["quiet_hours"],
    )
    messages: int
    next_at: datetime = Field(description="when the first of them is due to go")
    last_at: datetime = Field(description="when the last of them is due to go")


class ClickCounts(BaseModel):
    clicks: int = Field(description="clicks on the campaign's tracked links")
    unique: int = Field(description="messages whose link was clicked")


class Progress(BaseModel):
    messages: Counters
    segments: Counters = Field(description="parts, each counted by its own state")
    deferred: list[DeferredGroup] = Field(
        default_factory=list, description="the deferred messages by reason, with when they go"
    )
    clicks: ClickCounts


class BatchOut(BaseModel):
    id: int
    number: int
    kind: Literal["run", "reminder"] = Field(
        description="a run, or the reminder's send to the test numbers (not in `progress`)"
    )
    description: str | None
    template: str | None = Field(description="the message override of this run, if any")
    status: BatchStatus
    messages_expected: int
    segments_expected: int
    credit_used: int
    link_url: str | None = Field(
        description="where this run's tracked links redirect (with track_link_params)"
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    pruned_at: datetime | None = Field(
        None,
        description="when retention deleted this run's messages (its counts are kept): "
        "they are no longer listed",
    )


class Audience(BaseModel):
    numbers: int = Field(description="numbers given in `to`")
    recipients: int = Field(description="recipient objects")
    file_rows: int = Field(description="rows of uploaded files")
    contacts: list[int]
    groups: list[int]


class CampaignDetail(CampaignOut):
    audience: Audience
    progress: Progress
    batches: list[BatchOut]


class InvalidNumber(BaseModel):
    source: str = Field(description="`to` or `recipients`")
    index: int = Field(description="0-based position in that list")
    phone: str
    reason: str | None


class IntakeReport(BaseModel):
    invalid_numbers: list[InvalidNumber]
    blacklisted: list[str]
    duplicates: int


class RunOut(BaseModel):
    batch_id: int
    number: int = Field(description="1, 2, ... within the campaign")
    count: int = Field(description="messages queued (deferred ones included)")
    segments: int
    rejected: int
    skipped: int
    credit_used: int
    rejected_reasons: dict[str, int]
    deferred: int = Field(
        default=0,
        description="of `count`, messages waiting for their quiet hours to end "
        "(the campaign's progress.deferred says until when)",
    )


class CampaignCreated(CampaignDetail):
    intake: IntakeReport
    run: RunOut | None = Field(description="the run started now (absent when scheduled)")


class CampaignUpdated(CampaignDetail):
    intake: IntakeReport


class CampaignStopped(CampaignDetail):
    stopped_messages: int = Field(description="queued or deferred messages stopped")


class RunIn(_In):
    message: Template | None = Field(
        default=None, description="overrides the template for this run"
    )
    batch_description: Storable[Annotated[str, StringConstraints(max_length=200)]] | None = None
    track_link_url: LinkUrl | None = Field(
        default=None, description="overrides the campaign's track_link_url for this run"
    )


class PartOut(BaseModel):
    seq: int
    state: PartState
    bind: str | None
    smsc_message_id: str | None
    command_status: int | None
    submitted_at: datetime | None
    receipt_state: int | None
    receipt_error: str | None
    network_error: str | None
    receipt_at: datetime | None


class MessageOut(BaseModel):
    id: int
    batch_id: int
    client_ref: str | None
    phone: str
    status: MessageStatus
    reason: str | None
    text: str
    encoding: str  # Encoding, or "none" for a message rejected before it was encoded
    part_count: int
    attempts: int
    route: str | None
    bind: str | None
    created_at: datetime
    not_before: datetime
    sent_at: datetime | None
    done_at: datetime | None
    country: str | None = Field(description="the destination's country, ISO 3166 alpha-2")
    clicks: int = Field(description="clicks on the message's tracked link")
    clicked_at: datetime | None = Field(description="the first click")
    parts: list[PartOut]


class MessagePage(BaseModel):
    items: list[MessageOut]
    page: int
    page_size: int
    total: int | None = Field(
        description="messages matching the filters; not counted (null) on pages read with `after`"
    )
    pages: int | None
    next_after: int | None = Field(
        description="`after` for the next page: the last id of a full page (null: no more)"
    )


class BadFileRow(BaseModel):
    row: int = Field(description="row number as a spreadsheet shows it (the header is row 1)")
    phone_raw: str
    reason: str = Field(
        description="invalid_format, invalid_number, not_mobile, "
        "missing_phone, duplicate, too_many_columns, bad_encoding"
    )
    detail: str


class FileUploadOut(BaseModel):
    format: Literal["csv", "xlsx"]
    header: bool = Field(description="whether the first row was read as the header row")
    sheet: str | None = Field(description="the XLSX worksheet read")
    labels: list[str] = Field(description="label names taken from the header")
    rows: int = Field(description="data rows read")
    good: int = Field(description="rows stored as recipients")
    bad: int = Field(description="rows left out")
    reasons: dict[str, int] = Field(description="rows left out, per reason")
    bad_rows: list[BadFileRow] = Field(description="the first 100 rows left out")
    bad_rows_truncated: bool
    blacklisted: list[str] = Field(
        description="stored numbers that are blacklisted (they "
        "will be rejected when the campaign runs)"
    )
    file_rows: int = Field(description="file rows the campaign now has")


class SampleRecipient(_In):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    name: NameOrNumber | None = None
    labels: LabelsOrNumbers = Field(default_factory=dict)


class PreviewIn(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "message": "Hi %Name%, your code is [~code]",
                    "recipient": {"name": "Eleni", "labels": {"code": "A1"}},
                }
            ]
        },
    )

    message: Template
    fallback_values: Labels = Field(default_factory=dict)
    recipient: SampleRecipient | None = None
    flash: Flag = False
    transcode: Flag = False
    concat: ConcatMethod = "udh8"
    national: list[NationalLanguage] = Field(default_factory=list, max_length=3)


class PreviewOut(BaseModel):
    rendered: str = Field(description="the template filled in for the sample recipient")
    text: str = Field(description="the text encoded (transcoded when asked and it helped)")
    encoding: Encoding
    data_coding: int
    esm_class: int
    segments: int
    units: list[int] = Field(description="septets or UTF-16 units per part")
    sm_length: list[int]
    chars_left: int
    national: list[str | None] | None
    forced_ucs2_by: list[str]
    parts_hex: list[str]
    tlvs_hex: list[str] | None = None


# --- API keys -----------------------------------------------------------------------------------

KeyName = Annotated[
    str,
    StringConstraints(pattern=r"^[^\x00-\x20\x7f]([^\x00-\x1f\x7f]{0,98}[^\x00-\x20\x7f])?$"),
    Field(
        description="1 to 100 characters, no control characters, no space at either end; "
        "unique among the account's live keys",
        examples=["billing-2030"],
    ),
]


class KeyIn(_In):
    name: KeyName
    expires_at: Timestamp | None = Field(
        default=None, description="when the key stops working (in the future); absent: never"
    )


class KeyOut(BaseModel):
    id: int
    name: str
    prefix: str = Field(description="the first characters of the key, to tell keys apart")
    state: Literal["active", "expired", "revoked"]
    current: bool = Field(description="the key this request was made with")
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(description="to the minute")


class KeyCreated(KeyOut):
    api_key: str = Field(description="the key itself: shown this once, only its hash is kept")


# --- messages one by one ------------------------------------------------------------------------

MAX_MESSAGE_NUMBERS = 1000
# (the bounds before the validator, as for Id: so the schema states them)
ValidityMinutes = Annotated[int, Field(ge=1, le=7 * 24 * 60), BeforeValidator(_json_integer)]

_MESSAGE_EXAMPLE: JsonDict = {
    "to": "+306948530920",
    "sender": "Herald",
    "text": "Your code is %code%",
    "values": {"code": "4521"},
    "client_ref": "order-4521",
    "callback": "https://example.com/herald/messages",
}


class MessageIn(_In):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_MESSAGE_EXAMPLE]})

    to: Phone | Annotated[list[Phone], Field(min_length=1, max_length=MAX_MESSAGE_NUMBERS)] = Field(
        description="one number, or a list of up to 1,000"
    )
    sender: SenderAddress = Field(description="one of the account's senders")
    text: Template = Field(description="the message; %Name%, %Label% and [~label] take `values`")
    values: Labels = Field(
        default_factory=dict, description="label -> value for the text's placeholders"
    )
    flash: Flag = Field(default=False, description="class 0: shown, not stored")
    transcode: Flag = Field(
        default=False, description="replace look-alike characters to stay in GSM-7"
    )
    validity: ValidityMinutes | None = Field(
        default=None,
        description="minutes the carrier keeps trying (at most tracker.validity_hours); "
        "absent: the bind's validity_period",
    )
    respect_quiet_hours: Flag = Field(
        default=False,
        description="hold the message during quiet hours, destination local time (a one-off "
        "message is usually transactional: off by default)",
    )
    quiet_hours: list[QuietWindow] | None = Field(
        default=None, max_length=8, description="quiet windows; default 23:00-08:00 and 14:00-17:00"
    )
    callback: HttpUrl | None = Field(default=None, description="per-message status webhook")
    client_ref: ClientRef | None = None

    def spec(self) -> dict[str, Any]:
        """The request as herald.campaigns.messages takes it."""
        spec = self.model_dump(by_alias=True)
        spec["to"] = [self.to] if isinstance(self.to, str) else list(self.to)
        spec["callback"] = str(self.callback) if self.callback is not None else None
        return spec


class SentMessage(BaseModel):
    id: int
    to: str = Field(description="the number as given")
    phone: str | None = Field(description="as E.164; null when it is not a valid number")
    status: MessageStatus
    reason: str | None = Field(description="why it was rejected or deferred")
    encoding: str = Field(description="gsm7, a national table, ucs2; none when rejected")
    segments: int


class MessagesSent(BaseModel):
    messages: list[SentMessage] = Field(description="one per number given, in order")
    count: int = Field(description="messages queued")
    rejected: int
    segments: int
    credit_used: int
    client_ref: str | None


class MessageDetail(BaseModel):
    id: int
    campaign_id: int | None = Field(description="null for a message sent by POST /v1/messages")
    batch_id: int | None
    client_ref: str | None
    sender: str
    phone: str
    status: MessageStatus
    reason: str | None
    text: str
    encoding: str
    segments: int
    attempts: int
    route: str | None
    bind: str | None
    created_at: datetime
    not_before: datetime
    sent_at: datetime | None
    done_at: datetime | None
    parts: list[PartOut]


class MessageCursorPage(BaseModel):
    items: list[MessageDetail]
    next_cursor: str | None = Field(description="pass it as `cursor` for the next page")


# --- inbound messages ---------------------------------------------------------------------------


class InboundOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: int
    from_: str = Field(alias="from", description="the handset, as the carrier gave it")
    phone: str | None = Field(description="the handset as E.164; null when it is not a number")
    to: str = Field(description="the address it was sent to, as the carrier gave it")
    sender: str | None = Field(description="the account's sender it was sent to")
    sender_id: int | None
    text: str | None = Field(description="null for 8-bit (binary) data")
    data_coding: int
    parts: int = Field(description="parts it came in")
    missing_parts: int = Field(description="parts that never came (stored after the wait)")
    keyword: str | None = Field(description="the keyword it matched, as configured")
    action: Literal["opt_out", "opt_in"] | None = Field(
        description="what the keyword did: blacklisted the number, or took it off"
    )
    bind: str
    received_at: datetime
    stored_at: datetime


class InboundPage(BaseModel):
    items: list[InboundOut]
    next_cursor: str | None = Field(description="pass it as `cursor` for the next page")


# --- campaign insight: reports, the audience before a run ---------------------------------------


class ReportMessages(BaseModel):
    total: int = Field(description="messages of every run, rejected ones included")
    accepted: int = Field(description="messages a carrier accepted (their first part)")
    by_status: dict[MessageStatus, int]


class ReasonCount(BaseModel):
    status: MessageStatus
    reason: str
    messages: int


class CountryRow(BaseModel):
    country: str | None = Field(description="ISO 3166 alpha-2; null for invalid numbers")
    messages: int
    by_status: dict[str, int]
    delivery_rate: float | None = Field(
        description="delivered / (delivered + failed + unknown): of those a carrier settled"
    )


class RouteRow(BaseModel):
    route: str | None = Field(description="null for messages rejected before routing")
    messages: int
    by_status: dict[str, int]
    delivery_rate: float | None


class BindRow(BaseModel):
    bind: str | None = Field(description="the carrier account (system_id@host:port); null: unsent")
    parts: int
    by_state: dict[str, int]
    final: int = Field(description="parts with a final receipt state")
    delivery_rate: float | None = Field(description="delivered / parts the carrier took")


class LatencyOut(BaseModel):
    samples: int = Field(description="parts with a final receipt")
    p50: float | None = Field(description="seconds from submit_sm to the final receipt")
    p95: float | None
    p99: float | None


class ReportClicks(BaseModel):
    links: int = Field(description="messages sent a tracked link")
    clicks: int
    unique: int = Field(description="messages whose link was clicked")
    click_rate: float | None = Field(description="unique / links")


class TimelinePoint(BaseModel):
    at: datetime = Field(description="the bucket's start")
    sent: int = Field(description="messages whose first part a carrier accepted")
    delivered: int
    failed: int = Field(description="messages that became failed or rejected")
    clicked: int = Field(description="clicks")


class Timeline(BaseModel):
    interval_seconds: int
    points: list[TimelinePoint] = Field(description="buckets with something in them, in order")


class ReportOut(BaseModel):
    campaign_id: int
    name: str
    status: CampaignStatus
    generated_at: datetime
    messages: ReportMessages
    segments: int = Field(description="segments of the messages sent or to send")
    credit_used: int
    delivery_rate: float | None = Field(description="delivered / accepted")
    reasons: list[ReasonCount] = Field(description="messages per status and reason, most first")
    countries: list[CountryRow]
    routes: list[RouteRow]
    binds: list[BindRow]
    latency: LatencyOut
    clicks: ReportClicks
    opt_outs: int = Field(description="numbers that opted out through the campaign's links")
    timeline: Timeline


class RecipientOut(BaseModel):
    source: Literal["number", "recipient", "file", "contact", "group"]
    phone_raw: str = Field(description="as given")
    phone: str | None = Field(description="E.164; null when it is not a valid number")
    name: str | None
    labels: dict[str, str]
    file_row: int | None = Field(description="the file's row (the header is row 1)")
    contact_id: int | None
    group_id: int | None
    valid: bool = Field(description="a run now would send to it")
    reason: str | None = Field(
        description="why not: invalid_format, invalid_number, not_mobile, blacklisted, "
        "missing_label:<label>, invalid_label_value"
    )
