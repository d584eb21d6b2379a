"""Fixtures of the session tests: a scripted SMSC and fake time (see session_support.py)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from herald.smpp.session import Session
from tests.integration.session_support import FakeTime, ScriptedSmsc, shut

SESSION_ARGS = ("on_deliver", "on_state", "stats", "connect", "rng")


@pytest.fixture
async def smsc() -> AsyncIterator[ScriptedSmsc]:
    server = await ScriptedSmsc().start()
    yield server
    await server.stop()


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def make(smsc: ScriptedSmsc, fake: FakeTime) -> AsyncIterator[Callable[..., Session]]:
    """make(**settings_and_session_kwargs) -> a Session on fake time (and a seeded jitter),
    closed at the end."""
    made: list[Session] = []

    def build(**kwargs: Any) -> Session:
        session_kwargs = {k: kwargs.pop(k) for k in SESSION_ARGS if k in kwargs}
        session_kwargs.setdefault("rng", random.Random(3))
        session = Session(
            smsc.settings(**kwargs), clock=fake.clock, sleep=fake.sleep, **session_kwargs
        )
        made.append(session)
        return session

    yield build
    for session in made:
        await shut(session, fake)
