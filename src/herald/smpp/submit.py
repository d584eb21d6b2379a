"""What became of one submit_sm: the contract between a bind's session and the dispatcher.

The session resolves every submit it accepted with exactly one `SubmitResult`. The outcome
says what the dispatcher may do next; the raw status and ids are kept for the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SubmitOutcome(StrEnum):
    ACCEPTED = "accepted"  # ESME_ROK: message_id holds the carrier's id
    REJECTED = "rejected"  # a permanent error: do not resend
    RETRY = "retry"  # a temporary error (throttling retries exhausted, RSYSERR, RINVBNDSTS, ...)
    UNKNOWN = "unknown"  # written, but no response (timeout, link lost): it may have gone out
    # never written (bind down or closing, or still in our buffer when the link went), or
    # refused ESME_RINVBNDSTS by an SMSC that had unbound us: it took nothing, safe to send
    # elsewhere
    NOT_SENT = "not_sent"


@dataclass(frozen=True, slots=True)
class SubmitResult:
    outcome: SubmitOutcome
    command_status: int = 0  # of the submit_sm_resp (or generic_nack); 0 when none came
    message_id: str = ""  # raw, as the SMSC returned it
    canonical_id: str = ""  # normalised per the bind's id mode, for receipt matching
    status_name: str = ""  # e.g. "ESME_RINVDSTADR"; "" when no response came
    sent_at: float = 0.0  # the session clock when the PDU was written (0.0: never written)
