"""Inbound (mobile-originated) messages: stored before they are answered, whole.

`receive(bind, message)` is the tracker's hook for every deliver_sm or data_sm that is not a
receipt. It returns once what it stored has committed, and the session answers the deliver_sm
only then (ESME_RX_T_APPN if it raised: the database was away), so a reply herald did not keep
is delivered again by the carrier, as receipts are (docs/architecture.md, durability).

- A message is stored once per account owning the sender it was sent to (a short code or long
  number; with or without '+'), or once with no account when nobody owns it: it is kept all
  the same, for the operator.
- A concatenated message (UDH 8- or 16-bit reference, or SAR TLVs) is stored part by part in
  `inbound_parts` and becomes one message when its last part is in, whichever bind of the
  account, or whichever herald process, each part came to, and across restarts. The parts of
  one message are handled under one advisory lock, so two parts arriving together cannot each
  miss the other. A part sent again (its answer was lost) is kept once. Parts whose message
  never completes are stored as the message after `inbound.parts_ttl_seconds`, with the count
  of parts missing (`expire`, run by maintenance): nothing accepted is dropped.
- The text is decoded per data_coding (herald/text/inbound.py). Keywords (opt-out, opt-in,
  automatic replies: herald/delivery/replies.py) act in the same transaction as the store.
- An owner's sender with an `inbound_callback` gets an `inbound` callback, written in the same
  transaction (the outbox).
- An automatic reply is sent after the commit, from the sender the reply went to, through the
  injected `auto_reply` (the single-message service: the same pipeline as any message),
  once per inbound message whatever happens to this call (its id is the request's key).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from herald.delivery.replies import NO_KEYWORD, KeywordMatch, Keywords, sender_addresses
from herald.metrics import Metrics
from herald.numbers import check_number
from herald.smpp import InboundMessage
from herald.states import CALLBACK, transition
from herald.store import callbacks as callback_store
from herald.store import inbound as store
from herald.store.db import Database
from herald.store.inbound import ConcatKey, InboundRow, Owner, StoredPart
from herald.text.inbound import decode_inbound

log = logging.getLogger(__name__)

EXPIRE_LIMIT = 500  # incomplete messages stored per sweep; the rest at the next one


@dataclass(frozen=True)
class AutoReplyRequest:
    """An automatic reply to send: `text` to `phone` from the account's `sender`."""

    account_id: int
    sender: str
    phone: str
    text: str
    inbound_id: int  # the reply's own key: sent once per inbound message


AutoReply = Callable[[AutoReplyRequest], Awaitable[None]]


@dataclass(frozen=True)
class _Stored:
    row: InboundRow
    owners: Sequence[Owner]
    ids: Sequence[int]  # one per owner (one when nobody owns the destination)
    match: KeywordMatch


class Inbound:
    def __init__(
        self,
        db: Database,
        *,
        keywords: Keywords,
        metrics: Metrics,
        clock: Callable[[], datetime],
        parts_ttl: float = 3600.0,
        auto_reply: AutoReply | None = None,
    ) -> None:
        self._db = db
        self._keywords = keywords
        self._metrics = metrics
        self._clock = clock
        self._parts_ttl = timedelta(seconds=parts_ttl)
        self._auto_reply = auto_reply

    async def receive(self, bind: str, message: InboundMessage) -> None:
        """Store `message` (or, for a part of a longer one, the part; the whole message once
        it is complete). Returns after the commit."""
        now = self._clock()
        part = StoredPart(
            message.concat.sequence if message.concat else 1,
            bind,
            message.data_coding,
            message.esm_class,
            message.user_data,
            now,
        )
        concat = message.concat
        if concat is None or not 1 <= concat.sequence <= concat.total or concat.total < 2:
            # A single message, or a concatenation header that cannot be honoured (sequence 0,
            # past the total): kept whole, as received.
            async with self._db.acquire() as conn, conn.transaction():
                stored = await self._store(
                    conn, message.source_addr, message.destination_addr, [part], 1
                )
        else:
            key = ConcatKey(
                message.source_addr, message.destination_addr, concat.reference, concat.total
            )
            async with self._db.acquire() as conn, conn.transaction():
                await store.lock_message(conn, key)
                if await store.add_part(conn, key, part):
                    self._metrics.inbound_parts += 1
                stored = None
                if len(await store.parts_of(conn, key)) == key.total:
                    parts = await store.take_parts(conn, key)
                    stored = await self._store(
                        conn, key.source_addr, key.destination_addr, parts, key.total
                    )
        if stored is not None:
            await self._after(stored)

    async def expire(self, limit: int = EXPIRE_LIMIT) -> int:
        """Store the messages whose first part is older than the parts' time to live with
        the parts that came (maintenance's tick); how many."""
        before = self._clock() - self._parts_ttl
        async with self._db.acquire() as conn:
            keys = await store.stale_messages(conn, before, limit)
        done = 0
        for key in keys:
            async with self._db.acquire() as conn, conn.transaction():
                await store.lock_message(conn, key)
                parts = await store.take_parts(conn, key)
                if not parts:  # completed, or stored by another process, meanwhile
                    continue
                stored = await self._store(
                    conn, key.source_addr, key.destination_addr, parts, key.total
                )
            log.warning(
                "inbound message from %s to %s stored with %d of its %d parts: the rest did "
                "not come within %.0f s",
                key.source_addr,
                key.destination_addr,
                len(parts),
                key.total,
                self._parts_ttl.total_seconds(),
            )
            self._metrics.inbound_incomplete += 1
            await self._after(stored)
            done += 1
        return done

    async def _store(
        self,
        conn: Any,
        source_addr: str,
        destination_addr: str,
        parts: Sequence[StoredPart],
        total: int,
    ) -> _Stored:
        first, last = parts[0], parts[-1]
        decoded = decode_inbound([(p.user_data, p.esm_class) for p in parts], first.data_coding)
        phone, _ = check_number(source_addr.strip())
        match = self._keywords.match(decoded.text) if phone is not None else NO_KEYWORD
        owners = await store.owners(conn, sender_addresses(destination_addr))
        accounts = [o.account_id for o in owners]
        if phone is not None and accounts:
            if match.action == "opt_out":
                await store.opt_out(conn, accounts, phone)
            elif match.action == "opt_in":
                await store.opt_in(conn, accounts, phone)
        row = InboundRow(
            bind=last.bind,
            source_addr=source_addr,
            phone=phone,
            destination_addr=destination_addr,
            text=decoded.text,
            data_coding=first.data_coding,
            payload=decoded.payload,
            parts=len(parts),
            missing_parts=max(0, total - len(parts)),
            keyword=match.keyword,
            action=match.action,
            received_at=min(p.received_at for p in parts),
        )
        inserted = await store.insert_messages(conn, owners, row)
        ids = [int(r["id"]) for r in inserted]
        for owner, inbound_id in zip(owners, ids, strict=False):
            if owner.inbound_callback:
                transition(CALLBACK, None, "create")
                await callback_store.enqueue(
                    conn,
                    owner.account_id,
                    owner.inbound_callback,
                    callback_body(inbound_id, owner, row),
                    "inbound",
                )
        return _Stored(row, owners, ids, match)

    async def _after(self, stored: _Stored) -> None:
        """Committed: count it, say what a keyword did, send the automatic reply."""
        row, owners, match = stored.row, stored.owners, stored.match
        m = self._metrics
        m.inbound[match.action or ("keyword" if match.keyword else "message")] += 1
        if match.action == "opt_out" and owners:
            m.opt_outs["opt_out"] += 1  # herald_opt_outs_total{source="opt_out"}
        if not owners:
            m.inbound_unmatched += 1
            log.warning(
                "inbound message from %s to %r stored with no account: no account owns that sender",
                row.source_addr,
                row.destination_addr,
            )
        elif match.action is not None:
            log.info(
                "%s sent %s to %s: %s for account(s) %s",
                row.phone,
                match.keyword,
                row.destination_addr,
                "blacklisted" if match.action == "opt_out" else "off the blacklist",
                ", ".join(str(o.account_id) for o in owners),
            )
        if match.reply is None or not owners or row.phone is None or self._auto_reply is None:
            return
        first = owners[0]  # one reply, from the first account owning the sender
        request = AutoReplyRequest(
            first.account_id, first.address, row.phone, match.reply, stored.ids[0]
        )
        try:
            await self._auto_reply(request)
        except Exception as exc:  # no credit, no route, the database away: said, not raised
            m.auto_replies["failed"] += 1
            log.warning(
                "automatic reply to %s (%s) from %s not sent: %s",
                row.phone,
                match.keyword,
                first.address,
                exc,
            )
        else:
            m.auto_replies["sent"] += 1


def callback_body(inbound_id: int, owner: Owner, row: InboundRow) -> dict[str, Any]:
    """The `inbound` callback of one stored reply, as the sender's owner gets it."""
    return {
        "event": "inbound",
        "inbound_id": inbound_id,
        "from": row.source_addr,
        "phone": row.phone,
        "to": row.destination_addr,
        "sender": owner.address,
        "sender_id": owner.sender_id,
        "text": row.text,
        "data_coding": row.data_coding,
        "parts": row.parts,
        "missing_parts": row.missing_parts,
        "keyword": row.keyword,
        "action": row.action,
        "bind": row.bind,
        "received_at": row.received_at.isoformat(),
    }
