"""One client must not take the relay from everyone else (issue 12, "Limits").

- Request headers over ``max_header_bytes`` in all, or more than
  ``max_header_count`` of them, get 431 before the relay reads on; a 60 MB
  header is refused after its first few hundred KiB.
- Past ``max_connections`` open HTTP connections a new one gets 503; once the
  others go, it is served again.
- A client that pipelines requests and never reads the answers is dropped
  after ``write_timeout``, with one log line and no traceback.
- A body refused with 413 while it is still arriving: the 413 reaches the
  client (lingering close), where it used to see a connection reset.
"""

from __future__ import annotations

import logging
import select
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.relay import RunningRelay, start_relay
from tests.support.waiting import wait_until

MAX_HEADER_BYTES = 16 * 1024
MAX_CONNECTIONS = 20
WRITE_TIMEOUT = 0.5


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRelay]:
    with start_relay(
        tmp_path_factory.mktemp("hostile") / "relay",
        max_header_bytes=MAX_HEADER_BYTES,
        max_header_count=100,
        max_connections=MAX_CONNECTIONS,
        write_timeout=WRITE_TIMEOUT,
        zoom_webhook_secret="hostile-webhook-secret",
    ) as running:
        yield running


def connect(relay: RunningRelay) -> socket.socket:
    sock = socket.create_connection((relay.settings.host, relay.settings.port), timeout=10)
    return sock


def answer_of(sock: socket.socket, within: float = 10.0) -> bytes:
    """What the relay sends until it closes the connection (or ``within`` passes)."""
    deadline = time.monotonic() + within
    received = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], 0.1)
        if ready:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                return received
            if not chunk:
                return received
            received += chunk
    return received


def test_headers_over_the_size_limit_get_431(relay: RunningRelay) -> None:
    response = httpx.get(relay.url + "/healthz", headers={"X-Big": "a" * (MAX_HEADER_BYTES + 1)})
    assert response.status_code == 431
    assert response.json()["error"]["code"] == "headers_too_large"
    ok = httpx.get(relay.url + "/healthz", headers={"X-Fits": "a" * (MAX_HEADER_BYTES // 2)})
    assert ok.status_code == 200


def test_too_many_headers_get_431(relay: RunningRelay) -> None:
    headers = {f"X-H{i}": "1" for i in range(150)}
    response = httpx.get(relay.url + "/healthz", headers=headers)
    assert response.status_code == 431


def test_a_huge_header_is_refused_before_it_is_read(relay: RunningRelay) -> None:
    """The 431 comes after at most a few hundred KiB of a header meant to be 60 MB,
    and others are answered meanwhile."""
    sock = connect(relay)
    piece = b"a" * 65536
    sent = 0
    answer = b""
    sock.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Huge: ")
    try:
        while sent < 60 * 1024 * 1024:
            ready, _, _ = select.select([sock], [], [], 0)
            if ready:
                answer = answer_of(sock)
                break
            sent += sock.send(piece)
    except (BrokenPipeError, ConnectionResetError):
        # The relay stopped discarding (256 KiB after refused headers) and closed
        # while this kept sending; its 431 may still be in our receive buffer.
        answer = answer or answer_of(sock) or b"(reset)"
    sock.close()
    assert answer.startswith(b"HTTP/1.1 431"), answer[:100]
    assert sent < 4 * 1024 * 1024
    assert httpx.get(relay.url + "/healthz").status_code == 200


def test_connections_past_the_cap_get_503_until_others_close(relay: RunningRelay) -> None:
    wait_until(lambda: httpx.get(relay.url + "/healthz").status_code == 200, what="relay idle")
    held = [connect(relay) for _ in range(MAX_CONNECTIONS)]
    try:
        # The relay counts a connection once it has accepted it: wait for all.
        extra: bytes = b""

        def refused() -> bool:
            nonlocal extra
            probe = connect(relay)
            try:
                extra = answer_of(probe, within=5)
            finally:
                probe.close()
            return extra.startswith(b"HTTP/1.1 503")

        wait_until(refused, what="a connection over the cap refused")
        assert b"too_many_connections" in extra
    finally:
        for sock in held:
            sock.close()
    wait_until(lambda: _healthz_status(relay) == 200, what="served again once the others closed")


def _healthz_status(relay: RunningRelay) -> int:
    try:
        return httpx.get(relay.url + "/healthz", timeout=5).status_code
    except httpx.HTTPError:
        return 0


def test_a_client_that_never_reads_its_answers_is_dropped(
    relay: RunningRelay, caplog: pytest.LogCaptureFixture
) -> None:
    """Each hog pipelines requests until its own send buffer is full and never
    reads. The relay must end all three (seen from its side: no HTTP connection
    left open) and keep answering everyone else.

    The drop is judged on the relay's side only: a client that neither reads
    nor can send learns of the reset from its kernel, whose zero-window probes
    back off to tens of seconds on a loaded machine (CI saw a 10 s read time
    out), so what the client sees says more about the kernel than the relay."""
    caplog.set_level(logging.INFO)
    wait_until(lambda: relay.open_http_connections() == 0, what="an idle relay")
    request = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n" * 200
    hogs = []
    for _ in range(3):
        sock = connect(relay)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        hogs.append(sock)
    try:
        stuck: set[int] = set()
        # What each hog has yet to send of its current batch: a send that takes
        # only part of it goes on from there, or the relay would see a request
        # cut short and drop the connection for that (400) instead.
        pending = [request] * len(hogs)
        deadline = time.monotonic() + 60
        while len(stuck) < len(hogs):
            assert time.monotonic() < deadline, "the hogs never filled their send buffers"
            for index, sock in enumerate(hogs):
                if index in stuck:
                    continue
                try:
                    sent = sock.send(pending[index])
                except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                    stuck.add(index)
                    continue
                pending[index] = pending[index][sent:] or request
            select.select([], [], [], 0.01)
        # Usually well under a second; once (under the coverage run) over 30 s,
        # cause not yet found: each time the writes resume (the kernel took more
        # of the unread answers) the write timeout starts again.
        wait_until(
            lambda: relay.open_http_connections() == 0,
            timeout=90,
            what="the relay dropping every connection whose answers went unread",
        )
    finally:
        for sock in hogs:
            sock.close()
    assert _healthz_status(relay) == 200
    lines = [r for r in caplog.records if "answers went unread" in r.getMessage()]
    assert lines, "no log line for the dropped connections"
    assert all(r.exc_info is None for r in caplog.records), "a traceback was logged"


def test_a_413_reaches_a_client_still_sending_its_body(relay: RunningRelay) -> None:
    body = b"x" * (8 * 1024 * 1024)
    for path in ("/api/v1/sessions", "/webhooks/zoom"):
        response = httpx.post(
            relay.url + path, content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "body_too_large"


def test_after_a_413_the_relay_reads_on_and_closes_cleanly(relay: RunningRelay) -> None:
    """What lingering means on the wire: after the 413, what the client still
    sends is taken (no reset), and the relay ends with a FIN once the client has
    finished. Closing at once, with body bytes unread, sends a reset instead."""
    sock = connect(relay)
    sock.sendall(
        b"POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 4194304\r\n\r\n" + b"x" * 65536
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, "the relay closed before answering"
        head += chunk
    assert head.startswith(b"HTTP/1.1 413")
    for _ in range(16):
        sock.sendall(b"x" * 65536)
    sock.shutdown(socket.SHUT_WR)
    rest = answer_of_strict(sock)
    assert b"body_too_large" in head + rest
    sock.close()


def answer_of_strict(sock: socket.socket, within: float = 10.0) -> bytes:
    """Like :func:`answer_of`, but a reset fails the test: it must end with a FIN."""
    deadline = time.monotonic() + within
    received = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], 0.1)
        if ready:
            chunk = sock.recv(65536)
            if not chunk:
                return received
            received += chunk
    pytest.fail("the relay neither finished nor closed the connection")
