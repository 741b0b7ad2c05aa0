"""The suite reaches nothing but loopback and unix sockets (pytest-socket)."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path

import pytest
from pytest_socket import SocketConnectBlockedError


def test_a_connect_beyond_loopback_fails_the_test() -> None:
    with (
        pytest.warns(UserWarning, match="192.0.2.1"),
        pytest.raises(SocketConnectBlockedError),
        socket.socket() as probe,
    ):
        probe.connect(("192.0.2.1", 80))


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6])
def test_loopback_is_allowed(family: socket.AddressFamily) -> None:
    host = "127.0.0.1" if family == socket.AF_INET else "::1"
    with socket.socket(family) as server, socket.socket(family) as client:
        server.bind((host, 0))
        server.listen()
        client.connect(server.getsockname()[:2])


def test_unix_sockets_are_allowed() -> None:
    with tempfile.TemporaryDirectory(prefix="pr-") as folder:
        path = str(Path(folder) / "s")
        with socket.socket(socket.AF_UNIX) as server, socket.socket(socket.AF_UNIX) as client:
            server.bind(path)
            server.listen()
            client.connect(path)
