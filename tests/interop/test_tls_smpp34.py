"""SMPP over TLS against an independent implementation (issue 21, item 5): smpp34's client,
whose TLS is rustls (nothing of Python's or OpenSSL's), binds to herald's simulator listening
with TLS; and herald's TLS bind reaches smpp34's SMSC, which speaks plain TCP only (no SMPP
server on PyPI listens with TLS), through a TLS terminator made of Python's ssl module.
The certificates are made in the test (trustme)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from herald.simulator import Simulator
from herald.smpp.session import Session, SessionSettings
from herald.smpp.submit import SubmitOutcome
from tests.support.tls import Certificates, make_certificates

smpp34 = pytest.importorskip("smpp34")


@pytest.fixture
def certificates(tmp_path: Path) -> Certificates:
    return make_certificates(tmp_path)


async def test_smpp34_binds_over_tls_to_the_simulator(
    certificates: Certificates, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca))  # rustls-native-certs reads it
    async with Simulator(tls_cert=certificates.server_cert, tls_key=certificates.server_key) as sim:
        assert sim.address is not None
        host, port = sim.address
        client = smpp34.Client(host, port, sim.settings.system_id, sim.settings.password, tls=True)
        smsc = await asyncio.wait_for(client.connect(), 10)
        try:
            response = await asyncio.wait_for(
                smsc.submit_sm("306948530920", b"hello over TLS", source_addr="Herald"), 10
            )
            assert response.is_success and response.message_id == sim.submits[-1].message_id
            assert sim.submits[-1].message_text == "hello over TLS"
        finally:
            await client.stop()
    assert sim.stats.binds == 1


@contextlib.asynccontextmanager
async def tls_terminator(certificates: Certificates, backend_port: int) -> AsyncIterator[int]:
    """A TLS listener relaying every connection to 127.0.0.1:`backend_port` in plain TCP."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates.server_cert, certificates.server_key)
    pipes: set[asyncio.Task[None]] = set()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        back_reader, back_writer = await asyncio.open_connection("127.0.0.1", backend_port)
        for task in (pipe(reader, back_writer), pipe(back_reader, writer)):
            pipes.add(asyncio.ensure_future(task))

    server = await asyncio.start_server(relay, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in pipes:
            task.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_herald_binds_over_tls_to_smpp34s_smsc(certificates: Certificates) -> None:
    port = free_port()
    smsc = smpp34.Server("127.0.0.1", port, system_id="SMPP34")
    await smsc.start()
    try:
        async with tls_terminator(certificates, port) as tls_port:
            session = Session(
                SessionSettings(
                    name="smpp34-tls",
                    host="127.0.0.1",
                    port=tls_port,
                    system_id="herald",
                    password="pw",
                    tls=True,
                    tls_ca=str(certificates.ca),
                )
            )
            await session.start()
            try:
                esme = await asyncio.wait_for(smsc.next(), 10)
                assert type(esme).__name__ == "Esme" and esme.system_id == "herald"
                await session.wait_bound(10)
                pending = session.submit(
                    source_addr="Herald",
                    source_ton=5,
                    source_npi=0,
                    destination_addr="306948530920",
                    short_message=b"hello over TLS",
                )
                event = await asyncio.wait_for(smsc.next(), 10)
                assert event.short_message == b"hello over TLS"
                event.accept("7f3a")
                result = await pending
                assert result.outcome is SubmitOutcome.ACCEPTED and result.message_id == "7f3a"
            finally:
                await session.close(drain_timeout=1)
    finally:
        await smsc.stop()
