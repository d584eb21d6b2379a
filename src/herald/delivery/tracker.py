"""The tracker: what carriers send back on a bind, turned into stored receipts and events.

A session calls `handler(bind)` for every deliver_sm and data_sm. Receipts (and intermediate
notifications) become writer rows keyed by the bind and the canonical carrier id; the handler
returns only when the writer has stored the receipt (applied to its part or parked as an
orphan), so the session acknowledges it only then. Mobile-originated messages go to
`on_mobile_originated` (herald/delivery/inbound.py: stored, keywords) and are acknowledged
after it returns, that is once they are stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from herald.delivery.writer import Writer
from herald.metrics import Metrics
from herald.smpp import IdMode, InboundMessage, Pdu, inbound_message, parse_receipt
from herald.smpp.receipts import MESSAGE_STATES, MessageType, message_type
from herald.store.send_rows import Receipt

log = logging.getLogger(__name__)

# Receipt stat names to part states (docs/protocol.md §5.3). Unknown names are final failures, as in
# Kannel; SMPP 5.0's SCHEDULED is still en route and SKIPPED a rejection.
PART_STATE = {
    "DELIVRD": "delivered",
    "UNDELIV": "undeliverable",
    "EXPIRED": "expired",
    "DELETED": "deleted",
    "REJECTD": "rejected",
    "UNKNOWN": "unknown",
    "SKIPPED": "rejected",
    "ACCEPTD": "accepted",
    "ENROUTE": "enroute",
    "SCHEDULED": "enroute",
    "ACKED": "accepted",
    "BUFFRED": "enroute",
    "BUFFERD": "enroute",
}
OnMobileOriginated = Callable[[str, InboundMessage], Awaitable[None]]


class Tracker:
    def __init__(
        self,
        writer: Writer,
        *,
        metrics: Metrics,
        clock: Callable[[], datetime],
        id_modes: Mapping[str, str] | None = None,
        receipt_groups: Mapping[str, str] | None = None,
        on_mobile_originated: OnMobileOriginated | None = None,
    ) -> None:
        self._writer = writer
        self._metrics = metrics
        self._clock = clock
        self._id_modes = {bind: IdMode(mode) for bind, mode in (id_modes or {}).items()}
        self._groups = dict(receipt_groups or {})
        self._on_mo = on_mobile_originated

    def handler(self, bind: str) -> Callable[[Pdu], asyncio.Future[Any]]:
        """The `on_deliver` callback for the session of `bind`. It returns a future the
        session answers from: the writer's "stored" future for a receipt (no task per PDU)."""
        mode = self._id_modes.get(bind, IdMode.AS_IS)
        group = self._groups.get(bind, bind)  # parts store their bind's receipt group
        stats = self._metrics.bind(bind)
        loop = asyncio.get_running_loop()

        def on_deliver(pdu: Pdu) -> asyncio.Future[Any]:
            kind = message_type(pdu.integer("esm_class"))
            if kind in (MessageType.RECEIPT, MessageType.INTERMEDIATE):
                receipt = parse_receipt(pdu)
                if receipt is None:
                    # Nothing to match it by; acknowledging stops the SMSC redelivering junk.
                    log.warning("%s: receipt without id or state ignored: %r", bind, pdu)
                    stats.receipts["unparsable"] += 1
                    return _done(loop)
                state = PART_STATE.get(receipt.state, "unknown")
                stats.receipts[state] += 1
                network = receipt.network_error
                # Positional: a named tuple built from keywords costs twice as much (per receipt).
                return self._writer.add_receipt(
                    Receipt(
                        group,
                        receipt.canonical_id(mode),
                        state,
                        receipt.message_state
                        if receipt.message_state is not None
                        else _state_code(receipt.state),
                        receipt.error,
                        f"{network.network_type}:{network.code}" if network else None,
                        self._clock().timestamp(),
                        {
                            "id": receipt.message_id,
                            "stat": receipt.state,
                            "err": receipt.error,
                            "done": receipt.done_date,
                        },
                    )
                )
            if kind is MessageType.MOBILE_ORIGINATED and self._on_mo is not None:
                return asyncio.ensure_future(self._mobile_originated(bind, pdu))
            return _done(loop)

        return on_deliver

    async def _mobile_originated(self, bind: str, pdu: Pdu) -> None:
        assert self._on_mo is not None
        await self._on_mo(bind, inbound_message(pdu))


def _done(loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = loop.create_future()
    future.set_result(None)
    return future


def _state_code(state: str) -> int | None:
    try:
        return MESSAGE_STATES.index(state)
    except ValueError:
        return None
