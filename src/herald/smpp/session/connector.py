"""Connecting, binding and reconnecting: the bind's background task.

- Connect (within `connect_timeout`), bind (within `bind_timeout`); once bound, wait for the
  link to be lost, then connect again.
- Between attempts, exponential backoff with jitter between `reconnect_min` and
  `reconnect_max` (`backoff`); a successful bind starts the count again, unless the bind is
  out of rotation (`in_rotation`: a black hole being probed), so probes come ever less often.
- A bind refused as bind-fatal (bad password, system_id, system_type) stops reconnecting:
  state "refused", and `Session.wait_bound` raises the BindError. Other refusals, refused or
  broken connections and timeouts are retried; each sets `last_error` for people.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from herald.errors import BindError
from herald.metrics import BindStats
from herald.smpp.layouts import CommandId
from herald.smpp.pdu import Pdu
from herald.smpp.session.link import Link
from herald.smpp.session.state import BindState
from herald.smpp.session.tls import tls_connect
from herald.smpp.session_settings import BIND_COMMANDS, SessionSettings, describe_status
from herald.smpp.status import CommandStatus, StatusClass, StatusTable

log = logging.getLogger(__name__)

ProtocolFactory = Callable[[], asyncio.Protocol]
Connect = Callable[[ProtocolFactory, str, int], Awaitable[tuple[asyncio.BaseTransport, Any]]]

_GENERIC_NACK = CommandId.GENERIC_NACK.value
_BOUND_STATUSES = (CommandStatus.ESME_ROK.value, CommandStatus.ESME_RALYBND.value)


async def tcp_connect(
    factory: ProtocolFactory, host: str, port: int
) -> tuple[asyncio.BaseTransport, Any]:
    """The default `Connect`: the running loop's create_connection."""
    return await asyncio.get_running_loop().create_connection(factory, host, port)


class Connector:
    """Runs connect, bind, wait for loss, back off, again: until stopped or refused."""

    def __init__(
        self,
        settings: SessionSettings,
        *,
        state: BindState,
        statuses: StatusTable,
        stats: BindStats,
        sleep: Callable[[float], Awaitable[None]],
        rng: random.Random,
        connect: Connect | None,
        new_link: Callable[[], Link],
        on_opened: Callable[[Link], None],
        on_bound: Callable[[Link], None],
        in_rotation: Callable[[], bool] = lambda: True,
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self._state = state
        self._statuses = statuses
        self._stats = stats
        self._sleep = sleep
        self._rng = rng
        # plain TCP, or TLS when the settings ask for it (herald.smpp.session.tls)
        self._connect = connect or tls_connect(settings) or tcp_connect
        self._new_link = new_link
        self._on_opened = on_opened  # connected, not yet bound: the session's link now
        self._on_bound = on_bound
        self._in_rotation = in_rotation
        self._task: asyncio.Task[None] | None = None

    @property
    def started(self) -> bool:
        return self._task is not None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._task = loop.create_task(self._run(), name=f"smpp-session-{self.name}")

    async def stop(self) -> None:
        """Stop connecting and reconnecting (a bind in progress is abandoned, its link closed)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        state = self._state
        attempt = 0
        while not state.closing:
            state.set("connecting")
            link: Link | None = None
            try:
                link = await self._open()
            except BindError as error:
                state.last_error = str(error)
                if self._statuses.classify(error.status) is StatusClass.BIND_FATAL:
                    state.refused(error)
                    return
                log.warning("%s", error)
            except (OSError, TimeoutError, ConnectionError) as error:
                state.last_error = (
                    f"cannot connect to {self.settings.host}:{self.settings.port}: "
                    f"{error or type(error).__name__}"
                )
                log.warning("bind %s: %s", self.name, state.last_error)
            except Exception as error:  # a bug: log it, keep the bind alive
                state.last_error = f"unexpected error while connecting: {error!r}"
                log.exception("bind %s: unexpected error while connecting", self.name)
            else:
                if self._in_rotation():
                    attempt = 0
                await link.lost
                if state.closing:
                    return
            if state.closing:
                return
            state.set("connecting")
            await self._sleep(self.backoff(attempt))
            attempt += 1
            self._stats.reconnects += 1

    def backoff(self, attempt: int) -> float:
        """Exponential with jitter, always within [reconnect_min, reconnect_max]: the first
        wait is reconnect_min, the k-th is drawn from [ceiling/2, ceiling], ceiling doubling."""
        lo, hi = self.settings.reconnect_min, self.settings.reconnect_max
        ceiling = min(hi, lo * 2.0 ** min(attempt, 60))
        return self._rng.uniform(max(lo, ceiling / 2), ceiling)

    async def _open(self) -> Link:
        """Connect and bind; the bound link, or an exception (the link is then closed)."""
        s = self.settings
        link = self._new_link()
        try:
            await asyncio.wait_for(self._connect(lambda: link, s.host, s.port), s.connect_timeout)
        except TimeoutError:
            raise TimeoutError(f"no TCP connection within {s.connect_timeout}s") from None
        if link.transport is None:  # pragma: no cover - connect() always calls connection_made
            raise ConnectionError("the connect function did not start the protocol")
        self._on_opened(link)
        bind = Pdu(
            BIND_COMMANDS[s.bind_type],
            system_id=s.system_id,
            password=s.password,
            system_type=s.system_type,
            interface_version=0x34,
            addr_ton=s.addr_ton,
            addr_npi=s.addr_npi,
            address_range=s.address_range,
        )
        try:
            response = await link.request(bind, s.bind_timeout)
        except BaseException:
            link.close()
            raise
        if response is None:
            link.close()
            if link.lost.done():
                raise ConnectionError("the connection closed before the bind was answered")
            raise TimeoutError(f"no bind response within {s.bind_timeout}s")
        status = response.command_status
        if response.command_id == _GENERIC_NACK or status not in _BOUND_STATUSES:
            link.close()
            what = "generic_nack" if response.command_id == _GENERIC_NACK else response.name
            description = self._statuses.describe(status).description
            fatal = self._statuses.classify(status) is StatusClass.BIND_FATAL
            raise BindError(
                f"bind {self.name}: {s.host}:{s.port} refused {bind.name} as {s.system_id!r} "
                f"with {what} {describe_status(status)}: {description}"
                + ("; not reconnecting (fix the credentials)" if fatal else ""),
                status,
            )
        if link.closing:
            raise ConnectionError("the connection closed while binding")
        log.info("bind %s: bound (%s) to %s:%d", self.name, s.bind_type, s.host, s.port)
        self._on_bound(link)
        return link
