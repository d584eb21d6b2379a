"""The send path's rows, declared once: what the dispatcher, the tracker, the writer and
`herald.store.dispatch` hand each other. They live in store/ because the store's functions take
them, and store/ imports nothing above it.

`PartOutcome` and `StatusMove` are the Python side of the SQL row types `part_outcome` and
`status_move` (store/sql/schema.sql): same fields, same order (tests/unit/test_rows.py
compares them), so a list of them goes to asyncpg as is, as an array of that type. Their times
are seconds since the Unix epoch, as the row types carry them (asyncpg encodes a float8 for a
fraction of a timestamptz's cost; the statements apply to_timestamp). `StatusChange` is what a
stored status move reports to the callbacks hook and the metrics, with a datetime.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

from herald.states import RECEIPT_STATES

_new_row = tuple.__new__

# Receipt states after which a part waits for nothing more (docs/protocol.md §5.3).
FINAL_RECEIPT = frozenset(RECEIPT_STATES) - {"enroute", "accepted"}


class Receipt(NamedTuple):
    """A delivery receipt as the tracker read it, keyed for matching by the receipt group
    of the bind it came in on and the canonical carrier id (docs/protocol.md §5.5)."""

    bind: str  # the receipt group: parts store their bind's group
    canonical_id: str
    state: str  # one of states.RECEIPT_STATES
    receipt_state: int | None  # SMPP message_state
    receipt_error: str | None  # err: of the receipt text
    network_error: str | None  # network_error_code TLV as "type:code"
    at: float  # when it was received, epoch seconds
    payload: dict[str, Any]  # the receipt as decoded, kept with an orphan for audit

    @property
    def key(self) -> tuple[str, str]:
        return (self.bind, self.canonical_id)

    @property
    def final(self) -> bool:
        return self.state in FINAL_RECEIPT


class PartOutcome(NamedTuple):
    """A part's submit_sm_resp; with the last four fields, also its receipt, when both came
    in one flush (the part is then written once). SQL row type `part_outcome`."""

    message_id: int
    seq: int
    state: str  # submitted, refused or unknown; a receipt state when folded
    smsc_id: str | None  # message_id of submit_sm_resp, as received
    canonical_id: str | None
    command_status: int | None
    submitted_at: float  # when the part was handed to the bind, epoch seconds
    bind: str  # the bind's receipt group
    receipt_state: int | None = None
    receipt_error: str | None = None
    network_error: str | None = None
    receipt_at: float | None = None

    def with_receipt(self, receipt: Receipt) -> PartOutcome:
        """This outcome with `receipt` folded in: its state becomes the part's. (Built with
        tuple.__new__, as the class's own __new__ does, without a second call per receipt.)"""
        return _new_row(
            PartOutcome,
            (
                self.message_id,
                self.seq,
                receipt.state,
                self.smsc_id,
                self.canonical_id,
                self.command_status,
                self.submitted_at,
                self.bind,
                receipt.receipt_state,
                receipt.receipt_error,
                receipt.network_error,
                receipt.at,
            ),
        )


class StatusMove(NamedTuple):
    """A message status compare-and-set: from `expected` to `status`. SQL row type
    `status_move`; leaving 'sending' clears the lease."""

    id: int
    expected: str
    status: str
    reason: str | None
    not_before: float | None  # epoch seconds; None keeps the message's
    at: float  # epoch seconds
    bind: str | None = None  # the bind that sent the message (messages.bind); None keeps it


class StatusChange(NamedTuple):
    """A status move that took effect, for the callbacks hook and the metrics."""

    message_id: int
    old: str
    new: str
    reason: str | None
    at: datetime
    campaign_id: int | None = None  # lets the callbacks hook skip campaigns without a URL


def epoch(at: datetime) -> float:
    return at.timestamp()


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
