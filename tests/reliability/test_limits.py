"""Oversized and slow input is cut off, and the relay keeps serving everyone else.

- A body over ``max_body_bytes`` gets 413 on every path, the webhook included,
  whether it declares its length or streams it chunked.
- A body that trickles in (headers, a few bytes, then nothing) gets 408 once
  ``body_read_timeout`` has passed.
- Request headers that never complete (a partial request line, headers dripped
  a byte at a time, or nothing at all after connecting) get the connection
  closed once ``header_timeout`` has passed: uvicorn alone would hold it open
  for ever (it only times out idle keep-alive connections).
- A live-socket frame over the limit closes that socket with 1009; other
  sockets and requests carry on.
"""

from __future__ import annotations

import asyncio
import json
import select
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
import websockets

from tests.support.live import nothing_within, open_live
from tests.support.relay import RunningRelay, start_relay

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery"
LIMIT = 64 * 1024
#: Deadlines shortened for the test; production uses 10 s for both.
BODY_TIMEOUT = 0.5
HEADER_TIMEOUT = 0.5
#: Generous bound for a loaded 2-core machine: cut off well before "for ever".
CUT_OFF_WITHIN = 8.0


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRelay]:
    with start_relay(
        tmp_path_factory.mktemp("limits") / "relay",
        body_read_timeout=BODY_TIMEOUT,
        header_timeout=HEADER_TIMEOUT,
        zoom_webhook_secret="limits-webhook-secret",
    ) as running:
        yield running


@pytest.fixture(scope="module")
def token(relay: RunningRelay) -> str:
    relay.add_user(EMAIL, PASSWORD)
    return relay.sign_in(EMAIL, PASSWORD)


def state(relay: RunningRelay, token: str) -> dict[str, object]:
    response = httpx.get(relay.url + "/api/v1/state", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    document: dict[str, object] = response.json()
    return document


def raw_connection(relay: RunningRelay) -> socket.socket:
    return socket.create_connection((relay.settings.host, relay.settings.port), timeout=10)


def read_until_closed(sock: socket.socket, within: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and how long that took."""
    started = time.monotonic()
    received = b""
    while time.monotonic() - started < within:
        ready, _, _ = select.select([sock], [], [], 0.1)
        if ready:
            chunk = sock.recv(65536)
            if not chunk:
                return received, time.monotonic() - started
            received += chunk
    pytest.fail(f"the relay kept the connection open for {within} s")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/api/v1/ringer"),
        ("POST", "/webhooks/zoom"),
        ("POST", "/api/v1/sessions"),
        ("POST", "/api/v1/meetings"),
    ],
)
@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_the_limit_gets_413(
    relay: RunningRelay, token: str, method: str, path: str, chunked: bool
) -> None:
    before = state(relay, token)
    body = b'{"on": false}' + b" " * LIMIT

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    response = httpx.request(
        method,
        relay.url + path,
        content=pieces() if chunked else body,
        headers={"Authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    assert state(relay, token) == before


@pytest.mark.parametrize("path", ["/api/v1/ringer", "/webhooks/zoom"])
def test_a_slow_drip_body_gets_408(relay: RunningRelay, token: str, path: str) -> None:
    before = state(relay, token)
    method = "POST" if path.startswith("/webhooks") else "PUT"
    with raw_connection(relay) as sock:
        sock.sendall(
            (
                f"{method} {path} HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer {token}\r\n"
                "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                '{"on": '
            ).encode()
        )
        answer, took = read_until_closed(sock, CUT_OFF_WITHIN)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"request_timeout" in answer
    assert took >= BODY_TIMEOUT * 0.8
    print(f"\nslow body on {path}: 408 after {took:.2f} s")
    assert state(relay, token) == before


@pytest.mark.parametrize(
    "start",
    [b"", b"GET /heal", b"GET /healthz HTTP/1.1\r\nHost: relay\r\n"],
    ids=["nothing", "partial request line", "headers never end"],
)
def test_headers_that_never_complete_are_cut_off(relay: RunningRelay, start: bytes) -> None:
    with raw_connection(relay) as sock:
        sock.sendall(start)
        answer, took = read_until_closed(sock, CUT_OFF_WITHIN)
    assert answer == b""
    assert took >= HEADER_TIMEOUT * 0.8
    print(f"\nstalled headers ({start!r}): closed after {took:.2f} s")


def test_headers_dripped_a_byte_at_a_time_are_cut_off(relay: RunningRelay) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: relay\r\nX-Padding: " + b"a" * 10_000
    started = time.monotonic()
    with raw_connection(relay) as sock:
        for byte in request:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break  # closed by the relay
            # Paced by the relay: the next byte goes once it has not closed within 50 ms.
            ready, _, _ = select.select([sock], [], [], 0.05)
            if ready and sock.recv(1024) == b"":
                break
            assert time.monotonic() - started < CUT_OFF_WITHIN, "still open"
    took = time.monotonic() - started
    assert took < CUT_OFF_WITHIN
    print(f"\nheaders dripped a byte at a time: closed after {took:.2f} s")


def test_stalled_connections_do_not_stop_others(relay: RunningRelay, token: str) -> None:
    stalled = [raw_connection(relay) for _ in range(20)]
    try:
        for sock in stalled:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: relay\r\n")
        for _ in range(10):
            assert httpx.get(relay.url + "/healthz", timeout=5).status_code == 200
            assert state(relay, token)["seq"] is not None
    finally:
        for sock in stalled:
            sock.close()


def test_a_live_frame_over_the_limit_closes_only_that_socket(
    relay: RunningRelay, token: str
) -> None:
    async def scenario() -> None:
        big = await open_live(relay.ws_url, token)
        other = await open_live(relay.ws_url, token)
        for ws in (big, other):
            assert (await asyncio.wait_for(ws.recv(), 10)) is not None  # snapshots
        await big.send("x" * (LIMIT + 1))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(big.recv(), 10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1009
        async with httpx.AsyncClient(
            base_url=relay.url, headers={"Authorization": f"Bearer {token}"}
        ) as api:
            response = await api.put("/api/v1/ringer", json={"on": False})
            assert response.status_code == 200
        update = json.loads(await asyncio.wait_for(other.recv(), 10))
        assert update["state"]["ringer_on"] is False
        await other.close()

    asyncio.run(scenario())


def test_the_header_deadline_does_not_touch_live_sockets(relay: RunningRelay, token: str) -> None:
    async def scenario() -> None:
        ws = await open_live(relay.ws_url, token)
        await asyncio.wait_for(ws.recv(), 10)  # snapshot
        async with httpx.AsyncClient(
            base_url=relay.url, headers={"Authorization": f"Bearer {token}"}
        ) as api:
            assert (await api.get("/api/v1/state")).status_code == 200
            # Quiet for three header deadlines: the upgraded socket must not be
            # closed by the deadline of the request that opened it.
            assert await nothing_within(ws, 3 * HEADER_TIMEOUT)
            current = (await api.get("/api/v1/state")).json()["ringer_on"]
            response = await api.put("/api/v1/ringer", json={"on": not current})
            assert response.status_code == 200
        update = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert update["state"]["ringer_on"] is (not current)
        await ws.close()

    asyncio.run(scenario())
