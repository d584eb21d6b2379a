"""Opt-out: a mobile-originated reply that is an opt-out keyword blacklists its sender.

The reply is addressed to one of our sender ids (a short code or a long number); every account
owning a sender with that address stops sending to the number. The number is blacklisted with
source 'opt_out', so the account can tell it from numbers it added itself.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from herald.numbers import check_number
from herald.store import contacts as store
from herald.store.db import Database

log = logging.getLogger(__name__)


def is_opt_out(text: str, keywords: Sequence[str]) -> bool:
    """True when `text`, trimmed and case-folded, is one of `keywords` (compared alike)."""
    return text.strip().casefold() in {k.strip().casefold() for k in keywords}


def _sender_addresses(destination_addr: str) -> list[str]:
    # Senders are stored as parse_sender gives them: numeric ones without '+'. Carriers send
    # destination_addr with or without it, so both forms are looked up.
    address = destination_addr.strip()
    bare = address.removeprefix("+")
    return [address] if bare == address else [address, bare]


async def handle_mobile_originated(
    db: Database,
    *,
    source_addr: str,
    destination_addr: str,
    text: str,
    keywords: Sequence[str],
) -> list[int]:
    """Blacklist `source_addr` if `text` is an opt-out keyword, for every account owning the
    sender `destination_addr`. Returns those accounts' ids ([] when nothing was done)."""
    if not is_opt_out(text, keywords):
        return []
    # MO source addresses usually arrive in international form without '+' (TON 1).
    phone, reason = check_number(source_addr.strip())
    if phone is None:
        log.warning("opt-out from %r ignored: not a valid number (%s)", source_addr, reason)
        return []
    async with db.acquire() as conn:
        accounts = await store.opt_out(conn, _sender_addresses(destination_addr), phone)
    if accounts:
        log.info(
            "%s opted out (to %s): blacklisted for accounts %s", phone, destination_addr, accounts
        )
    else:
        log.warning("opt-out from %s to %r: no account owns that sender", phone, destination_addr)
    return accounts
