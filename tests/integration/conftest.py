"""Fixtures of the session tests: a scripted SMSC and fake time (see session_support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.session_support import FakeTime, ScriptedSmsc


@pytest.fixture
async def smsc() -> AsyncIterator[ScriptedSmsc]:
    server = await ScriptedSmsc().start()
    yield server
    await server.stop()


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()
