"""Keywords of replies: opt-out, opt-in, automatic replies.

A reply that is an opt-out keyword (`campaigns.opt_out_keywords`: STOP, ...) blacklists its
number for every account owning the sender it was sent to, with source 'opt_out' so the account
can tell it from numbers it added itself. An opt-in keyword (`inbound.opt_in_keywords`: START,
UNSTOP) takes the number off those blacklists, but only where its own opt-out put it: a number
the account blacklisted stays. A keyword may have an automatic reply (`inbound.auto_replies`),
sent back from the sender the reply was sent to. Keywords match the whole reply, trimmed and
case-folded (STRASSE is straße).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from herald.store.inbound import InboundAction


def fold(text: str) -> str:
    return text.strip().casefold()


def is_opt_out(text: str, keywords: Sequence[str]) -> bool:
    """True when `text`, trimmed and case-folded, is one of `keywords` (compared alike)."""
    return fold(text) in {fold(k) for k in keywords}


@dataclass(frozen=True, slots=True)
class KeywordMatch:
    keyword: str | None = None  # as configured
    action: InboundAction | None = None
    reply: str | None = None  # the automatic reply's text


NO_KEYWORD = KeywordMatch()


class Keywords:
    def __init__(
        self,
        *,
        opt_out: Sequence[str],
        opt_in: Sequence[str] = (),
        replies: Mapping[str, str] | None = None,
    ) -> None:
        table: dict[str, tuple[str, InboundAction | None]] = {}
        actions: tuple[tuple[Sequence[str], InboundAction], ...] = (
            (opt_out, "opt_out"),
            (opt_in, "opt_in"),
        )
        for words, action in actions:
            for word in words:
                table[fold(word)] = (word.strip(), action)
        replies = dict(replies or {})
        for word in replies:
            table.setdefault(fold(word), (word.strip(), None))
        self._table = table
        self._replies = {fold(word): text for word, text in replies.items()}

    def match(self, text: str | None) -> KeywordMatch:
        """What the reply `text` is: a keyword (with its action and automatic reply), or not."""
        if not text:
            return NO_KEYWORD
        key = fold(text)
        found = self._table.get(key)
        if found is None:
            return NO_KEYWORD
        keyword, action = found
        return KeywordMatch(keyword, action, self._replies.get(key))


def sender_addresses(destination_addr: str) -> list[str]:
    """The sender addresses a reply's destination may be stored as: senders are stored as
    parse_sender gives them (numeric ones without '+'), and carriers send destination_addr with
    or without it, so both forms are looked up."""
    address = destination_addr.strip()
    bare = address.removeprefix("+")
    return [address] if bare == address else [address, bare]
