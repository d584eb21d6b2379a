"""What starting a run of a campaign produced (the API answers with it)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RunResult:
    batch_id: int
    number: int  # 1, 2, ... within the campaign
    count: int  # messages queued for sending (deferred ones included)
    segments: int  # what those messages cost, in segments
    rejected: int  # messages stored as rejected (invalid number, blacklisted, ...)
    skipped: int  # invalid numbers left out (ignore_invalid_numbers)
    credit_used: int
    rejected_reasons: dict[str, int] = field(default_factory=dict)
    deferred: int = 0  # of `count`, waiting for the end of their quiet hours
