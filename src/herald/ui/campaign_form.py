"""The new-campaign form: its fields as typed by a person, turned into the API's campaign
request (validated by the API's own model, herald.api.schemas.CampaignIn, so the console and
the API accept exactly the same campaigns).

Pure apart from the clock passed in: parsing, and the names of the fields in error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError
from starlette.datastructures import FormData

from herald.api.schemas import CampaignIn

# Form fields that are plain text, and their defaults when the form is first shown.
TEXT_FIELDS = (
    "name",
    "sender",
    "message",
    "fallback",
    "sample_name",
    "sample_labels",
    "to",
    "quiet_hours",
    "send",
    "scheduled_at",
    "time_zone",
    "reminder_numbers",
    "reminder_minutes",
    "callback",
    "campaign_callback",
    "phone_column",
    "name_column",
    "label_columns",
    "sheet",
    "track_link_url",
)
FLAGS = (
    "flash",
    "transcode",
    "respect_quiet_hours",
    "ignore_invalid_numbers",
    "mobiles_only",
    "opt_out_link",
)
_SPLIT_NUMBERS = re.compile(r"[\n,;]+")
_WINDOW = re.compile(r"^\s*(\d{1,2}:\d{2})\s*[-–]\s*(\d{1,2}:\d{2})\s*$")
# Where an API field's error is shown in the form.
FIELD_OF = {
    "fallback_values": "fallback",
    "to": "to",
    "recipients": "to",
    "quiet_hours": "quiet_hours",
    "scheduled_at": "scheduled_at",
    "reminder": "reminder_numbers",
    "contacts": "contacts",
    "groups": "groups",
}


@dataclass
class CampaignForm:
    """What the person typed (to show the form again) and what it means."""

    values: dict[str, str]
    flags: dict[str, bool]
    contacts: list[int]
    groups: list[int]
    errors: dict[str, str] = field(default_factory=dict)  # form field -> message

    @classmethod
    def blank(cls, *, quiet_hours: str, contacts: list[int] | None = None) -> CampaignForm:
        values = dict.fromkeys(TEXT_FIELDS, "")
        values.update(
            quiet_hours=quiet_hours,
            send="now",
            time_zone="UTC",
            phone_column="phone",
            label_columns="*",
            reminder_minutes="60",
        )
        flags = dict.fromkeys(FLAGS, False)
        flags["respect_quiet_hours"] = True
        return cls(values, flags, list(contacts or []), [])

    @classmethod
    def read(cls, form: FormData) -> CampaignForm:
        values = {}
        for name in TEXT_FIELDS:
            value = form.get(name)
            values[name] = value.strip() if isinstance(value, str) else ""
        flags = {name: form.get(name) in ("on", "true", "1") for name in FLAGS}
        return cls(values, flags, _ids(form.getlist("contacts")), _ids(form.getlist("groups")))

    def numbers(self) -> list[str]:
        return [n.strip() for n in _SPLIT_NUMBERS.split(self.values["to"]) if n.strip()]

    def sample(self) -> tuple[str | None, dict[str, str]]:
        labels, _ = pairs(self.values["sample_labels"])
        return self.values["sample_name"] or None, labels

    def request(self, now: datetime) -> dict[str, Any] | None:
        """The API request body this form means; None with `errors` filled when it cannot
        be one (each error on the field it belongs to)."""
        v = self.values
        body: dict[str, Any] = {"sender": v["sender"], "message": v["message"]}
        if v["name"]:
            body["name"] = v["name"]
        fallback, bad = pairs(v["fallback"])
        if bad:
            self.errors["fallback"] = f"line {bad}: write each fallback as label = value"
        if fallback:
            body["fallback_values"] = fallback
        if self.numbers():
            body["to"] = self.numbers()
        if self.contacts:
            body["contacts"] = self.contacts
        if self.groups:
            body["groups"] = self.groups
        for flag in ("flash", "transcode", "ignore_invalid_numbers", "mobiles_only"):
            if self.flags[flag]:
                body[flag] = True
        body["respect_quiet_hours"] = self.flags["respect_quiet_hours"]
        if self.flags["respect_quiet_hours"]:
            windows = _windows(v["quiet_hours"])
            if windows is None:
                self.errors["quiet_hours"] = "write windows as 23:00-08:00, separated by commas"
            elif windows:
                body["quiet_hours"] = windows
        if v["send"] == "later":
            at = _local_time(v["scheduled_at"], v["time_zone"])
            if isinstance(at, str):
                self.errors["scheduled_at"] = at
            else:
                body["scheduled_at"] = at.isoformat()
        reminder = [n for n in _SPLIT_NUMBERS.split(v["reminder_numbers"]) if n.strip()]
        if reminder:
            try:
                minutes = int(v["reminder_minutes"] or "60")
            except ValueError:
                self.errors["reminder_minutes"] = "minutes before the run, a whole number"
                minutes = 60
            body["reminder"] = {"numbers": [n.strip() for n in reminder], "minutes_before": minutes}
        for url in ("callback", "campaign_callback"):
            if v[url]:
                body[url] = v[url]
        if v["track_link_url"]:
            body["track_link_url"] = v["track_link_url"]
        if self.flags["opt_out_link"]:
            body["opt_out_link"] = True
        if self.errors:
            return None
        try:
            CampaignIn.model_validate(body)
        except ValidationError as exc:
            for problem in exc.errors():
                self.errors.setdefault(_field(problem["loc"]), _message(problem))
            return None
        return body

    def spec(self, now: datetime) -> dict[str, Any] | None:
        """The validated request as herald.campaigns.service takes it."""
        body = self.request(now)
        return None if body is None else CampaignIn.model_validate(body).spec()


def _ids(raw: list[Any]) -> list[int]:
    found = []
    for value in raw:
        if isinstance(value, str) and value.strip().isdigit():
            found.append(int(value.strip()))
    return list(dict.fromkeys(found))


def pairs(text: str) -> tuple[dict[str, str], int | None]:
    """`label = value` lines (or `label: value`) as a mapping; the first bad line's number."""
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        label, sep, value = line.partition("=")
        if not sep:
            label, sep, value = line.partition(":")
        if not sep or not label.strip():
            return found, number
        found[label.strip()] = value.strip()
    return found, None


def _windows(text: str) -> list[dict[str, str]] | None:
    windows = []
    for part in re.split(r"[,\n]+", text):
        if not part.strip():
            continue
        match = _WINDOW.match(part)
        if match is None:
            return None
        start, end = (t if len(t) == 5 else "0" + t for t in match.groups())
        windows.append({"from": start, "to": end})
    return windows


def _local_time(text: str, zone: str) -> datetime | str:
    """A datetime-local value in the named zone; a message naming the problem otherwise."""
    if not text:
        return "choose when to send it"
    try:
        tz = ZoneInfo(zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {zone!r}"
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return "write the time as 2030-05-01T09:00"
    return at.replace(tzinfo=tz) if at.tzinfo is None else at


def _field(loc: tuple[int | str, ...]) -> str:
    head = str(loc[0]) if loc else ""
    return FIELD_OF.get(head, head)


def _message(problem: Mapping[str, Any]) -> str:
    loc = ".".join(str(p) for p in problem["loc"])
    return f"{loc}: {problem['msg']}"


def hold(now: datetime) -> datetime:
    """A file campaign sent now is created this far ahead, filled, then run at once (as the
    command line does)."""
    return now + timedelta(days=1)
