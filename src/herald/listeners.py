"""Listening sockets and TLS files, opened before anything else starts, so that a port in use
or a bad certificate ends the start at once with one line naming the key to change
(StartupError), instead of a traceback after the database and the binds came up."""

from __future__ import annotations

import errno
import socket
import ssl
from pathlib import Path

from herald.errors import StartupError


def tcp_server(host: str, port: int) -> socket.socket:
    """A listening TCP socket for an HTTP server, with TCP_NODELAY, which the accepted
    connections inherit. uvloop sets it on each of them anyway; plain asyncio (herald's
    fallback, `herald simulate --loop asyncio`) skips a socket made with proto 0, as
    create_server makes it, and a response's last write then waits on the client's delayed
    ACK: 40 ms per request on a kept-alive connection (tests/unit/test_listeners.py)."""
    sock = socket.create_server((host, port), reuse_port=False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def listen(host: str, port: int, *, key: str, variable: str) -> socket.socket:
    """A listening TCP socket on host:port (tcp_server); StartupError naming `key`
    (`api.port`) and its environment variable when it cannot be had."""
    try:
        return tcp_server(host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            why = "is already in use (another herald, or another program)"
        elif exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
            why = "is not an address of this machine"
        elif exc.errno == errno.EACCES:
            why = "needs privileges this process does not have (ports below 1024)"
        else:
            why = f"cannot be listened on: {exc.strerror or exc}"
        raise StartupError(
            f"{key}: {host}:{port} {why}; choose another in the configuration or {variable}"
        ) from None
    except (socket.gaierror, UnicodeError) as exc:
        raise StartupError(f"{key}: cannot listen on {host!r}: {exc}") from None


def server_tls(certfile: Path, keyfile: Path) -> ssl.SSLContext:
    """A server TLS context from PEM files; StartupError naming the file and what is wrong."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    for key, path in (("api.tls_certfile", certfile), ("api.tls_keyfile", keyfile)):
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            raise StartupError(f"{key}: {path}: {exc.strerror or exc}") from None
    try:
        context.load_cert_chain(certfile, keyfile)
    except ssl.SSLError as exc:
        raise StartupError(
            f"api.tls_certfile / api.tls_keyfile: {certfile}, {keyfile}: not a certificate "
            f"chain and its private key in PEM ({exc.reason or exc})"
        ) from None
    return context
