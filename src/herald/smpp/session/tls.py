"""SMPP over TLS, the client side: a bind's `ssl.SSLContext` from its settings, and the
connect function that uses it. Many carriers take binds only over TLS (often on port 3550).

Part of the session (the I/O side of smpp/): it touches files: it reads the CA bundle and
the client certificate and key the settings name. Every problem is a SettingsError naming
the key, raised when the configuration is loaded (herald.config) and again, should the files
have gone since, when the session starts.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from herald.smpp.session_settings import SessionSettings, SettingsError

ProtocolFactory = Callable[[], asyncio.Protocol]
Connect = Callable[[ProtocolFactory, str, int], Awaitable[tuple[asyncio.BaseTransport, Any]]]


def client_context(settings: SessionSettings) -> ssl.SSLContext | None:
    """The bind's TLS context (None: plain TCP). Certificates are verified against `tls_ca`
    (a PEM bundle) or the system's CAs, and the host name against the certificate, unless
    `tls_verify` is off; `tls_cert` (and `tls_key`) is the client certificate some carriers
    require."""
    if not settings.tls:
        return None
    problem = "tls_ca"
    try:
        context = ssl.create_default_context(cafile=settings.tls_ca or None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if not settings.tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if settings.tls_cert:
            problem = "tls_cert"
            context.load_cert_chain(settings.tls_cert, settings.tls_key or None)
    except (OSError, ssl.SSLError) as exc:
        named = settings.tls_ca if problem == "tls_ca" else settings.tls_cert
        raise SettingsError(
            settings.name, [(problem, f"{problem} {named!r} cannot be used: {exc}")]
        ) from None
    return context


def tls_connect(settings: SessionSettings) -> Connect | None:
    """The bind's `Connect` over TLS (SNI and the name the certificate must carry:
    `tls_server_name`, else the host), or None when it asks for plain TCP."""
    context = client_context(settings)
    if context is None:
        return None
    server_hostname = settings.tls_server_name or settings.host

    async def connect(
        factory: ProtocolFactory, host: str, port: int
    ) -> tuple[asyncio.BaseTransport, Any]:
        loop = asyncio.get_running_loop()
        return await loop.create_connection(
            factory, host, port, ssl=context, server_hostname=server_hostname
        )

    return connect
