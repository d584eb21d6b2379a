"""What people and the dispatcher see of a bind: its state, why the last attempt failed, and
the callers waiting for it to be bound.

States: "closed" (not started, or closed), "connecting" (connecting, binding, or waiting to
reconnect), "bound", "unbinding" (closing: draining the window, then unbind), "refused" (the
SMSC refused the bind as bind-fatal: bad password, system_id or system_type; no reconnecting).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from herald.errors import BindError, SessionClosedError

log = logging.getLogger(__name__)


class BindState:
    __slots__ = ("_on_state", "_waiters", "closing", "last_error", "name", "refusal", "state")

    def __init__(self, name: str, on_state: Callable[[str], None] | None) -> None:
        self.name = name
        self._on_state = on_state
        self.state = "closed"
        self.last_error = ""  # why the last connect or bind attempt failed, for people
        self.refusal: BindError | None = None  # the bind-fatal refusal, once refused
        self.closing = False  # close() was called: no more reconnecting
        self._waiters: list[asyncio.Future[None]] = []

    def set(self, state: str) -> None:
        if state == self.state:
            return
        self.state = state
        if self._on_state is not None:
            try:
                self._on_state(state)
            except Exception:
                log.exception("bind %s: on_state callback failed", self.name)

    def bound(self) -> None:
        self.set("bound")
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    def refused(self, error: BindError) -> None:
        log.error("%s", error)
        self.refusal = error
        self.set("refused")
        self._fail_waiters(error)

    def closed(self) -> None:
        self.set("closed")
        self._fail_waiters(SessionClosedError(f"bind {self.name}: the session was closed"))

    async def wait_bound(self, loop: asyncio.AbstractEventLoop, timeout: float | None) -> None:  # noqa: ASYNC109 - the API
        """Until bound (see Session.wait_bound); the caller checked it is running."""
        waiter = loop.create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def _fail_waiters(self, error: Exception) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(error)
