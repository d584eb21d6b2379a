"""Serving ASGI apps on 127.0.0.1 inside the test's event loop, and a settable clock.

The listening socket is bound before uvicorn starts, so its port is known at once and a client
may connect immediately (the kernel queues the connection until uvicorn accepts it): nothing
waits for the server to come up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn

from herald.listeners import listen


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # pytest owns the signals
        yield


@contextlib.asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1 (a free port); yields the base URL."""
    sock = listen("127.0.0.1", 0, key="api.port", variable="HERALD_API_PORT")  # as herald's
    port = sock.getsockname()[1]
    server = _Server(
        uvicorn.Config(
            app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=5
        )
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


class Clock:
    """A clock the test moves by hand: aware UTC, starting a minute after the real now (so
    rows the database stamps with now() are already due by it), or later, at the next 07:00
    UTC, when the real time of day is inside the default quiet hours of the test numbers'
    zone (Athens: 23:00-08:00 and 14:00-17:00 local). Between 07:00 and 10:00 UTC it is
    09:00-13:00 there, summer or winter, so what the tests expect does not hang on when the
    suite runs."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or _outside_quiet_hours(
            datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
        )

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def _outside_quiet_hours(at: datetime) -> datetime:
    if 7 <= at.hour < 10:
        return at
    seven = at.replace(hour=7, minute=0, second=0)
    return seven if seven > at else seven + timedelta(days=1)
