"""SMPP over TLS (issue 21, item 5): herald's bind against the simulator listening with TLS,
with a certificate made in the test; what a wrong CA, a wrong name and a missing client
certificate do; and the settings that are refused before anything connects."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from herald.config import BindConfig, load_config
from herald.errors import ConfigError
from herald.simulator import Simulator
from herald.smpp.session import Session, SessionSettings
from herald.smpp.session_settings import SettingsError
from herald.smpp.submit import SubmitOutcome
from tests.support.tls import Certificates, make_certificates


@pytest.fixture
def certificates(tmp_path: Path) -> Certificates:
    return make_certificates(tmp_path)


@pytest.fixture
async def tls_simulator(certificates: Certificates) -> AsyncIterator[Simulator]:
    async with Simulator(tls_cert=certificates.server_cert, tls_key=certificates.server_key) as sim:
        yield sim


async def first_failure(settings: SessionSettings) -> str:
    """Start a session and wait for its first attempt to fail (the session then sleeps before
    the next one): why it failed. Nothing binds meanwhile."""
    failed = asyncio.Event()

    async def sleep(seconds: float) -> None:
        # The session sleeps for its timers too; once an attempt has failed, last_error says
        # why, before the backoff's sleep.
        if session.last_error:
            failed.set()
        await asyncio.sleep(seconds)

    session = Session(settings, sleep=sleep)
    await session.start()
    try:
        await asyncio.wait_for(failed.wait(), 10)
        assert session.state == "connecting"
    finally:
        await session.close()
    return session.last_error


def settings(sim: Simulator, **tls: object) -> SessionSettings:
    assert sim.address is not None
    host, port = sim.address
    return SessionSettings(
        name="tls",
        host=host,
        port=port,
        system_id=sim.settings.system_id,
        password=sim.settings.password,
        reconnect_min=0.05,
        reconnect_max=0.1,
        connect_timeout=5,
        **tls,  # type: ignore[arg-type]
    )


async def test_a_tls_bind_submits_and_takes_receipts(
    tls_simulator: Simulator, certificates: Certificates
) -> None:
    delivered: list[object] = []

    async def keep(pdu: object) -> None:
        delivered.append(pdu)

    session = Session(
        settings(tls_simulator, tls=True, tls_ca=str(certificates.ca)), on_deliver=keep
    )
    await session.start()
    try:
        await session.wait_bound(10)
        result = await session.submit(
            source_addr="Herald",
            source_ton=5,
            source_npi=0,
            destination_addr="306948530920",
            short_message=b"over TLS",
            registered_delivery=1,
        )
        assert result.outcome is SubmitOutcome.ACCEPTED
        await tls_simulator.wait_for_receipts_acked(1)
        assert len(delivered) == 1
        assert tls_simulator.submits[-1].message_text == "over TLS"
    finally:
        await session.close()


async def test_a_plain_bind_to_a_tls_listener_a_wrong_ca_or_name_never_bind(
    tls_simulator: Simulator, certificates: Certificates
) -> None:
    plain = await first_failure(settings(tls_simulator))
    assert plain  # the TLS listener drops what is not a TLS handshake
    wrong_ca = await first_failure(
        settings(tls_simulator, tls=True, tls_ca=str(certificates.other_ca))
    )
    assert "CERTIFICATE_VERIFY_FAILED" in wrong_ca
    wrong_name = await first_failure(
        settings(
            tls_simulator,
            tls=True,
            tls_ca=str(certificates.ca),
            tls_server_name="smpp.carrier.example",
        )
    )
    assert "CERTIFICATE_VERIFY_FAILED" in wrong_name and "smpp.carrier.example" in wrong_name
    assert tls_simulator.stats.binds == 0
    unverified = Session(settings(tls_simulator, tls=True, tls_verify=False))
    await unverified.start()
    try:
        await unverified.wait_bound(10)
    finally:
        await unverified.close()


async def test_a_client_certificate_when_the_carrier_requires_one(
    certificates: Certificates,
) -> None:
    async with Simulator(
        tls_cert=certificates.server_cert,
        tls_key=certificates.server_key,
        tls_client_ca=certificates.ca,
    ) as sim:
        await first_failure(settings(sim, tls=True, tls_ca=str(certificates.ca)))
        with_cert = Session(
            settings(
                sim, tls=True, tls_ca=str(certificates.ca), tls_cert=str(certificates.client_cert)
            )
        )
        await with_cert.start()
        try:
            await with_cert.wait_bound(10)
        finally:
            await with_cert.close()
        assert sim.stats.binds == 1


def test_tls_settings_are_checked_before_anything_connects(
    tmp_path: Path, certificates: Certificates
) -> None:
    base: dict[str, Any] = {"name": "a", "host": "127.0.0.1", "port": 3550, "system_id": "x"}
    with pytest.raises(SettingsError, match="tls_ca is set but tls is off"):
        SessionSettings(**base, tls_ca=str(certificates.ca))
    with pytest.raises(SettingsError, match="tls_key needs tls_cert"):
        SessionSettings(**base, tls=True, tls_key="key.pem")
    config = tmp_path / "herald.toml"
    config.write_text(
        '[[binds]]\nname = "carrier"\nhost = "127.0.0.1"\nport = 3550\nsystem_id = "x"\n'
        f'tls = true\ntls_ca = "{tmp_path / "missing.pem"}"\n'
        '[[routes]]\nname = "all"\nbinds = ["carrier"]\n',
        encoding="utf-8",
    )
    with pytest.raises(
        ConfigError, match=r"binds\.0\.tls_ca: tls_ca '.*missing\.pem' cannot be used"
    ):
        load_config(config, env={})
    bind = BindConfig.model_validate(
        {
            "name": "carrier",
            "host": "127.0.0.1",
            "port": 3550,
            "system_id": "x",
            "tls": True,
            "tls_ca": str(certificates.ca),
            "tls_cert": str(certificates.client_cert),
        }
    )
    assert bind.session.tls and bind.model_dump()["tls_ca"] == str(certificates.ca)
