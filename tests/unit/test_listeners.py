"""The API's and the metrics' listening sockets (src/herald/listeners.py)."""

from __future__ import annotations

import socket

import pytest

from herald.errors import StartupError
from herald.listeners import listen


def nodelay(sock: socket.socket) -> bool:
    return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


def test_accepted_connections_send_small_writes_at_once() -> None:
    # Plain asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP, and
    # create_server makes them with proto 0: without the listener's own option a kept-alive
    # HTTP client waited 40 ms per request (its delayed ACK) under the fallback loop.
    with listen("127.0.0.1", 0, key="api.port", variable="HERALD_API_PORT") as server:
        assert server.proto == 0
        with socket.create_connection(server.getsockname()[:2]) as client:
            accepted, _ = server.accept()
            with accepted:
                assert nodelay(server) and nodelay(accepted)
                assert not nodelay(client)  # the option is the listener's, not the kernel's


def test_a_port_in_use_names_the_key_and_its_variable() -> None:
    with listen("127.0.0.1", 0, key="api.port", variable="HERALD_API_PORT") as taken:
        port = taken.getsockname()[1]
        with pytest.raises(StartupError) as refused:
            listen("127.0.0.1", port, key="api.port", variable="HERALD_API_PORT")
    assert f"api.port: 127.0.0.1:{port} is already in use" in str(refused.value)
    assert "HERALD_API_PORT" in str(refused.value)
