"""What starting a run of a campaign produced: the API's answer, and a send-now run's rest
(the messages stored after its request commits, herald/campaigns/runs.py)."""

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


@dataclass
class RestChunk:
    """Rows expanded but not stored yet: messages, parts, links, and the (message id, reason)
    of its rejected messages whose campaign wants a callback for them."""

    messages: list[tuple]
    parts: list[tuple]
    links: list[tuple[str, int, int, str]]
    rejected: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class Rest:
    """What a send-now run stores after its request commits (herald/campaigns/runs.py)."""

    batch_id: int
    chunks: list[RestChunk]
    analyze: bool  # the run is large enough to refresh the planner's statistics after
