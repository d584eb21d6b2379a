"""herald's state machines, each written once as a table: (state, event) -> new state.

Pure data and two small functions; no I/O. Each machine's states are declared once, as the
Literal type beside it (CampaignStatus, ...), in display order; the machine, the API's schemas
and the CLI take them from there, and the database CHECK constraints on the status columns list
exactly the same states (a test compares them). Every status change in herald goes through
`transition()` or a query whose comment names the row of the table it implements. `None` as a
from-state means "the object is being created".

The receipt states of a part follow SMPP 3.4 message_state (docs/protocol.md §5.3): `enroute` and
`accepted` are intermediate (many SMSCs send ACCEPTD before the final receipt), the others are
final. SMPP 5.0's SCHEDULED maps to `enroute` and SKIPPED to `rejected` where receipts are parsed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from herald.errors import StateError


@dataclass(frozen=True)
class Machine:
    """One state machine: its states (in display order), final states and transition table."""

    name: str
    states: tuple[str, ...]
    final: frozenset[str]
    table: Mapping[tuple[str | None, str], str]
    # Events a user asks for (API, command line); the others are herald's own (`complete`...)
    # and are never offered to a user as an action.
    user_events: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        known = set(self.states)
        for (source, event), target in self.table.items():
            if (source is not None and source not in known) or target not in known:
                raise ValueError(f"{self.name}: ({source!r}, {event!r}) -> {target!r}")
            if source in self.final:
                raise ValueError(f"{self.name}: final state {source!r} has a way out")
        if not self.final <= known:
            raise ValueError(f"{self.name}: unknown final states {self.final - known}")
        if not self.user_events <= self.events:
            raise ValueError(f"{self.name}: unknown user events {self.user_events - self.events}")

    @property
    def events(self) -> frozenset[str]:
        return frozenset(event for _, event in self.table)

    def user_actions(self, state: str) -> list[str]:
        """What a user may do from `state`, sorted: the user events with a row from it."""
        return sorted(e for (s, e) in self.table if s == state and e in self.user_events)


def _rows(*rows: tuple[Iterable[str | None], str, str]) -> dict[tuple[str | None, str], str]:
    """Expand rows of (from-states, event, to-state) into the (state, event) -> state table."""
    table: dict[tuple[str | None, str], str] = {}
    for sources, event, target in rows:
        for source in sources:
            if (source, event) in table:
                raise ValueError(f"duplicate row ({source!r}, {event!r})")
            table[(source, event)] = target
    return table


NEW = (None,)

# --- campaign ---------------------------------------------------------------------------------
# A campaign is edited only while scheduled; each run creates a batch; it completes when all its
# batches are final, and a completed or stopped campaign may be run (or scheduled) again.
CampaignStatus = Literal["scheduled", "running", "suspended", "stopped", "completed"]
CAMPAIGN = Machine(
    name="campaign",
    states=get_args(CampaignStatus),
    final=frozenset(),  # a campaign can always be run again
    table=_rows(
        (NEW, "schedule", "scheduled"),  # created with a future scheduled_at
        (NEW, "run", "running"),  # created to send now
        (["scheduled"], "edit", "scheduled"),
        (["scheduled", "completed", "stopped"], "run", "running"),  # due, or run again
        (["completed", "stopped"], "schedule", "scheduled"),  # schedule another run
        (["running"], "suspend", "suspended"),
        (["suspended"], "resume", "running"),
        (["scheduled", "running", "suspended"], "stop", "stopped"),
        (["running", "suspended"], "complete", "completed"),  # every batch is final
    ),
    user_events=frozenset({"edit", "run", "suspend", "resume", "stop"}),
)

# --- batch: one run of a campaign -------------------------------------------------------------
BatchStatus = Literal["expanding", "sending", "suspended", "stopped", "completed", "failed"]
BATCH = Machine(
    name="batch",
    states=get_args(BatchStatus),
    final=frozenset({"stopped", "completed", "failed"}),
    table=_rows(
        (NEW, "create", "expanding"),
        (["expanding"], "expanded", "sending"),  # messages stored, counts and credit known
        (["suspended"], "expanded", "suspended"),  # suspended while expanding: stay suspended
        (["expanding"], "fail", "failed"),  # e.g. insufficient credit: nothing is sent
        (["expanding", "sending"], "suspend", "suspended"),
        (["suspended"], "resume", "sending"),
        (["expanding", "sending", "suspended"], "stop", "stopped"),
        # Every message is final. A suspended batch can complete: its messages already sent
        # keep receiving receipts.
        (["sending", "suspended"], "complete", "completed"),
    ),
)

# --- message: one recipient of a batch --------------------------------------------------------
MessageStatus = Literal[
    "queued",
    "deferred",
    "sending",
    "sent",
    "delivered",
    "failed",
    "rejected",
    "unknown",
    "stopped",
]
MESSAGE = Machine(
    name="message",
    states=get_args(MessageStatus),
    final=frozenset({"delivered", "failed", "rejected", "unknown", "stopped"}),
    table=_rows(
        (NEW, "queue", "queued"),  # expanded, valid
        (NEW, "defer", "deferred"),  # expanded inside quiet hours: waits for the window's end
        (NEW, "reject", "rejected"),  # invalid number, blacklisted, missing label
        (["queued", "deferred"], "claim", "sending"),  # leased by a dispatcher
        # quiet hours, schedule or retry backoff: wait for not_before
        (["queued", "sending"], "defer", "deferred"),
        (["sending"], "release", "queued"),  # lease given back with nothing handed to a bind
        (["sending"], "submit", "sent"),  # every part accepted by the SMSC
        (["sending"], "reject", "rejected"),  # permanent submit error
        # Outcome unknown: no submit_sm_resp (timeout, link lost under policy mark_unknown),
        # or a part's receipt said UNKNOWN.
        (["sending", "sent"], "lose", "unknown"),
        # A part failed finally (receipt), or retries are exhausted.
        (["sending", "deferred", "sent"], "fail", "failed"),
        # Receipts may overtake the batched write that marks the message sent.
        (["sending", "sent"], "deliver", "delivered"),
        (["sent"], "expire", "unknown"),  # no final receipt within validity + margin (sweep)
        (["queued", "deferred", "sending"], "stop", "stopped"),  # campaign stopped before sending
    ),
)

# --- part: one submit_sm of a message ---------------------------------------------------------
_RECEIPT_WAITING = ["submitted", "enroute", "accepted"]
PartState = Literal[
    "pending",
    "submitted",
    "refused",
    "enroute",
    "accepted",
    "delivered",
    "undeliverable",
    "expired",
    "deleted",
    "rejected",
    "unknown",
]
PART = Machine(
    name="part",
    states=get_args(PartState),
    final=frozenset(
        {"refused", "delivered", "undeliverable", "expired", "deleted", "rejected", "unknown"}
    ),
    table=_rows(
        (NEW, "create", "pending"),
        (["pending"], "retry", "pending"),  # temporary submit error: try again later
        (["pending"], "accept", "submitted"),  # submit_sm_resp ESME_ROK, message_id stored
        (["pending"], "refuse", "refused"),  # permanent submit error
        (["pending"], "lose", "unknown"),  # no submit_sm_resp (timeout, link lost)
        # Receipts: the event is the receipt's state (docs/protocol.md §5.3).
        (_RECEIPT_WAITING, "enroute", "enroute"),
        (_RECEIPT_WAITING, "accepted", "accepted"),
        (_RECEIPT_WAITING, "delivered", "delivered"),
        (_RECEIPT_WAITING, "undeliverable", "undeliverable"),
        (_RECEIPT_WAITING, "expired", "expired"),
        (_RECEIPT_WAITING, "deleted", "deleted"),
        (_RECEIPT_WAITING, "rejected", "rejected"),
        (_RECEIPT_WAITING, "unknown", "unknown"),
        (_RECEIPT_WAITING, "sweep", "expired"),  # no final receipt within validity + margin
    ),
)

# --- callback outbox row ----------------------------------------------------------------------
CallbackStatus = Literal["pending", "delivered", "dead"]
CALLBACK = Machine(
    name="callback",
    states=get_args(CallbackStatus),
    final=frozenset({"delivered", "dead"}),
    table=_rows(
        (NEW, "create", "pending"),
        (["pending"], "retry", "pending"),  # the endpoint failed; next_attempt_at moves on
        (["pending"], "deliver", "delivered"),
        (["pending"], "give_up", "dead"),  # attempts exhausted
    ),
)

MACHINES: dict[str, Machine] = {m.name: m for m in (CAMPAIGN, BATCH, MESSAGE, PART, CALLBACK)}

# Receipt states a part can be moved to by a receipt (the orphan_receipts CHECK lists these).
ReceiptState = Literal[
    "enroute",
    "accepted",
    "delivered",
    "undeliverable",
    "expired",
    "deleted",
    "rejected",
    "unknown",
]
RECEIPT_STATES: tuple[str, ...] = get_args(ReceiptState)
PART_FAILED = frozenset({"undeliverable", "expired", "deleted", "rejected"})


# Part states waiting for a receipt: the part was accepted, as a 'sent' message is.
_ACCEPTED = frozenset(_RECEIPT_WAITING)


def segment_status(message_status: str, part_state: str, receipted: bool = True) -> str:
    """The message status a part counts under in a campaign's segment progress: its own
    state, in the message vocabulary. A part not sent yet counts as its message does (queued,
    deferred, sending, stopped; failed when retries ran out); an accepted part waiting for its
    receipt is sent; a failure receipt is failed; a part refused at submission is rejected;
    one whose receipt never came (expired by the sweep, receipted False) is unknown."""
    if part_state == "pending":
        return message_status
    if part_state in _ACCEPTED:
        return "sent"
    if part_state == "delivered":
        return "delivered"
    if part_state == "refused":
        return "rejected"
    if part_state == "expired" and not receipted:
        return "unknown"
    if part_state in PART_FAILED:
        return "failed"
    return "unknown"


def transition(machine: Machine, state: str | None, event: str) -> str:
    """The state `machine` moves to from `state` on `event`; StateError if not allowed."""
    try:
        return machine.table[(state, event)]
    except KeyError:
        where = "a new " + machine.name if state is None else f"a {machine.name} in {state!r}"
        allowed = sorted(e for (s, e) in machine.table if s == state)
        raise StateError(
            f"{event!r} is not allowed for {where} (allowed: {', '.join(allowed) or 'none'})"
        ) from None


def can_transition(machine: Machine, state: str | None, event: str) -> bool:
    return (state, event) in machine.table


def is_final(machine: Machine, state: str) -> bool:
    return state in machine.final


def aggregate_parts(states: Iterable[str]) -> str:
    """The message status implied by its parts' states (docs/protocol.md §5.7).

    failed as soon as one part failed finally (the parts keep their own detail); rejected if a
    part was refused at submission; unknown if a part's outcome is unknown; delivered when every
    part is delivered; otherwise sending while a part is still pending, else sent (waiting for
    receipts). A sweep that gives up on receipts moves the message itself ('expire' -> unknown);
    a final message never changes again, so this function does not revisit it.
    """
    seen = set(states)
    if not seen:
        raise ValueError("a message has at least one part")
    unknown_states = seen - set(PART.states)
    if unknown_states:
        raise StateError(f"not part states: {sorted(unknown_states)}")
    if seen & PART_FAILED:
        return "failed"
    if "refused" in seen:
        return "rejected"
    if "unknown" in seen:
        return "unknown"
    if seen == {"delivered"}:
        return "delivered"
    if "pending" in seen:
        return "sending"
    return "sent"


# The message event that moves a message to the status its parts imply.
_EVENT_FOR_AGGREGATE = {
    "sent": "submit",
    "delivered": "deliver",
    "failed": "fail",
    "rejected": "reject",
    "unknown": "lose",
}


def settle_message(state: str, part_states: Iterable[str]) -> str:
    """The message's new status after its parts changed: `state` itself when nothing follows
    (still sending, or already final); StateError if the parts imply an illegal move."""
    if is_final(MESSAGE, state):
        return state
    target = aggregate_parts(part_states)
    if target in (state, "sending"):
        return state
    return transition(MESSAGE, state, _EVENT_FOR_AGGREGATE[target])
