"""The delivery side of a bind: deliver_sm / data_sm from the SMSC go to `on_deliver`, and each
is answered once herald has kept it.

- deliver_sm / data_sm go to `on_deliver` without stopping the reader; the answer is sent
  when its awaitable completes, with the status it returns (0x64, temporary, if it raises), so
  a receipt herald did not keep is never acknowledged. Cancelled (shutting down): no answer,
  the SMSC redelivers.
- Back-pressure: with `max_pending_deliveries` handed on and not yet answered, the link stops
  reading (TCP pushes back on the SMSC) until half of them are answered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING

from herald.smpp.pdu import Pdu
from herald.smpp.status import CommandStatus

if TYPE_CHECKING:
    from herald.smpp.session.link import Link

log = logging.getLogger(__name__)

# Returns the command_status to answer (None: ESME_ROK) through an awaitable: a coroutine
# (run as a task) or a future (answered from its done-callback, no task per PDU).
OnDeliver = Callable[[Pdu], Awaitable[int | None]]

_ROK = CommandStatus.ESME_ROK.value
_RX_T_APPN = CommandStatus.ESME_RX_T_APPN.value


class Deliveries:
    """Hands each deliver_sm / data_sm to `on_deliver` and answers it when that is done."""

    def __init__(self, name: str, on_deliver: OnDeliver | None, max_pending: int) -> None:
        self.name = name
        self._on_deliver = on_deliver
        self._max_pending = max_pending
        self._keeping: set[asyncio.Task[None]] = set()  # on_deliver coroutines' tasks
        self._keeping_futures: set[asyncio.Future[int | None]] = set()  # or their futures

    def deliver(self, link: Link, pdu: Pdu) -> None:
        """Hand a deliver_sm/data_sm to on_deliver; answer when it is done, not before."""
        on_deliver = self._on_deliver
        if on_deliver is None:
            link.answer_delivery(pdu, _ROK)
            return
        try:
            awaitable = on_deliver(pdu)
        except Exception:
            log.exception(
                "bind %s: on_deliver failed for %r; answering ESME_RX_T_APPN", self.name, pdu
            )
            link.answer_delivery(pdu, _RX_T_APPN)
            return
        link.pending_deliveries += 1
        if link.pending_deliveries >= self._max_pending and not link.reading_paused:
            link.pause_reads()
        if isinstance(awaitable, asyncio.Future):
            # A future (the tracker's "stored" future): answer from its callback, no task.
            self._keeping_futures.add(awaitable)
            awaitable.add_done_callback(partial(self._kept, link, pdu))
            return
        task = link.loop.create_task(self._keep(link, pdu, awaitable))
        self._keeping.add(task)  # a strong reference until it is done
        task.add_done_callback(self._keeping.discard)

    async def _keep(self, link: Link, pdu: Pdu, awaitable: Awaitable[int | None]) -> None:
        """Await on_deliver's answer, then send it in the same loop turn."""
        try:
            status = await awaitable
        except asyncio.CancelledError:  # shutting down: no answer, the SMSC redelivers
            self._done(link)
            raise
        except Exception as error:
            self._answer(link, pdu, None, error)
        else:
            self._answer(link, pdu, status, None)

    def _kept(self, link: Link, pdu: Pdu, future: asyncio.Future[int | None]) -> None:
        self._keeping_futures.discard(future)
        if future.cancelled():  # shutting down: no answer, the SMSC redelivers
            self._done(link)
            return
        error = future.exception()
        self._answer(link, pdu, None if error else future.result(), error)

    def _answer(self, link: Link, pdu: Pdu, status: object, error: BaseException | None) -> None:
        if error is not None:
            log.error(
                "bind %s: on_deliver failed for %r; answering ESME_RX_T_APPN: %r",
                self.name,
                pdu,
                error,
            )
            answer = _RX_T_APPN
        elif status is None:
            answer = _ROK
        elif type(status) is not int or not 0 <= status <= 0xFFFFFFFF:
            log.error(
                "bind %s: on_deliver returned %r, not a command_status; answering ESME_RX_T_APPN",
                self.name,
                status,
            )
            answer = _RX_T_APPN
        else:
            answer = status
        if not link.closing:  # else the SMSC redelivers it: it never got an answer
            link.answer_delivery(pdu, answer)
        self._done(link)

    def _done(self, link: Link) -> None:
        link.pending_deliveries -= 1
        if link.reading_paused and link.pending_deliveries <= self._max_pending // 2:
            link.resume_reads()
        if link.drained is not None:
            link.check_drained()
