"""A campaign's audience as a request gives it: numbers, recipient objects, file rows.

Numbers are stored raw (a run validates them again when it expands: a contact edited or a
default region changed in between is honoured), but they are checked here too, at intake, so
the answer to the request can list the invalid numbers and why, and a request naming only
numbers that can never be sent to is refused. A run in the same transaction as its intake
(send now) reuses the intake's verdicts (`Intake.checked`) instead of checking each number
twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from herald.errors import RequestError
from herald.numbers import Verdict, check_number
from herald.store.campaigns import RecipientRow

# campaign_recipients.source for each way of giving recipients.
NUMBER, RECIPIENT, FILE = "number", "recipient", "file"
RECIPIENT_SOURCES = (NUMBER, RECIPIENT, FILE)

__all__ = [
    "FILE",
    "NUMBER",
    "RECIPIENT",
    "RECIPIENT_SOURCES",
    "Intake",
    "RecipientRow",
    "check_recipients",
    "normalise_numbers",
]


@dataclass
class Intake:
    """Explicit recipients of one request, checked."""

    rows: list[RecipientRow] = field(default_factory=list)
    valid: dict[str, str] = field(default_factory=dict)  # E.164 -> first raw form seen
    invalid: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    # Each raw number's verdict, (E.164, None) or (None, reason), under this intake's region
    # and mobiles_only: what a run in the same transaction would find (Expander's `checked`).
    checked: dict[str, Verdict] = field(default_factory=dict)

    def report(self, blacklisted: Iterable[str]) -> dict[str, Any]:
        return {
            "invalid_numbers": self.invalid,
            "blacklisted": sorted(blacklisted),
            "duplicates": self.duplicates,
        }


def check_recipients(
    to: Sequence[str],
    recipients: Sequence[Mapping[str, Any]],
    *,
    default_region: str | None,
    max_recipients: int,
    client_ref: str | None = None,
    as_e164: bool = False,
    mobiles_only: bool = False,
) -> Intake:
    """Check `to` numbers and recipient objects ({"phone", "name", "labels", "client_ref"});
    refuse more than `max_recipients` in one request (too_many_recipients). With
    `mobiles_only` a number that is not a mobile one is invalid (`not_mobile`). `client_ref`
    is the reference of every `to` number, and `as_e164` stores the valid ones as E.164
    rather than as given (both for a message request, whose run looks its numbers up in the
    blacklist one by one)."""
    given = len(to) + len(recipients)
    if given > max_recipients:
        raise RequestError(
            "too_many_recipients",
            f"{given} recipients in one request; at most {max_recipients} (`to` and "
            "`recipients` together): split the list, or upload a file",
            {"given": given, "max": max_recipients},
        )
    intake = Intake()
    for index, raw in enumerate(to):
        phone = _check(intake, "to", index, raw, default_region, mobiles_only)
        stored = phone if as_e164 and phone is not None else raw
        intake.rows.append(RecipientRow(NUMBER, stored, None, {}, None, client_ref))
    for index, r in enumerate(recipients):
        _check(intake, "recipients", index, r["phone"], default_region, mobiles_only)
        intake.rows.append(
            RecipientRow(
                RECIPIENT,
                r["phone"],
                r.get("name"),
                dict(r.get("labels") or {}),
                None,
                r.get("client_ref"),
            )
        )
    return intake


def _check(
    intake: Intake, where: str, index: int, raw: str, region: str | None, mobiles_only: bool
) -> str | None:
    """The number as E.164 (None when invalid), counted in the intake."""
    phone, reason = intake.checked[raw] = check_number(
        raw, default_region=region, mobile_only=mobiles_only
    )
    if phone is None:
        intake.invalid.append({"source": where, "index": index, "phone": raw, "reason": reason})
    elif phone in intake.valid:
        intake.duplicates += 1
    else:
        intake.valid[phone] = raw
    return phone


def normalise_numbers(
    numbers: Sequence[str], *, default_region: str | None, field_name: str
) -> list[str]:
    """Every number as E.164, or invalid_numbers listing each bad one with its reason."""
    found, bad = [], []
    for index, raw in enumerate(numbers):
        phone, reason = check_number(raw, default_region=default_region)
        if phone is None:
            bad.append({"source": field_name, "index": index, "phone": raw, "reason": reason})
        elif phone not in found:
            found.append(phone)
    if bad:
        raise RequestError(
            "invalid_numbers",
            f"{len(bad)} invalid number(s) in {field_name}: "
            + ", ".join(f"{b['phone']!r} ({b['reason']})" for b in bad[:5])
            + (" ..." if len(bad) > 5 else ""),
            {"invalid_numbers": bad},
        )
    return found
