"""Live sockets are bounded per account and, before they authenticate, per
address (issue 12, "Live sockets").

- Past ``max_sockets_per_account`` sockets an account's next one is closed
  with 1013 (try again later); once one of them goes, a new one is served.
- Past ``max_unauthenticated_sockets_per_address`` sockets that have not yet
  authenticated, an address's next handshake is refused (HTTP 403) while
  signed-in sockets from elsewhere are unaffected.
- A socket that does not authenticate within ``ws_auth_timeout`` is closed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.support.live import next_message, open_live
from tests.support.relay import RunningRelay, start_relay

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery"
PER_ACCOUNT = 3
UNAUTHENTICATED = 2
AUTH_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRelay]:
    with start_relay(
        tmp_path_factory.mktemp("live-limits") / "relay",
        max_sockets_per_account=PER_ACCOUNT,
        max_unauthenticated_sockets_per_address=UNAUTHENTICATED,
        ws_auth_timeout=AUTH_TIMEOUT,
    ) as running:
        running.add_user(EMAIL, PASSWORD)
        yield running


@pytest.fixture(scope="module")
def token(relay: RunningRelay) -> str:
    return relay.sign_in(EMAIL, PASSWORD)


async def closed_code(ws: ClientConnection, within: float = 10.0) -> int | None:
    """The close code the relay sends, skipping any messages before it."""
    async with asyncio.timeout(within):
        try:
            async for _ in ws:
                pass
        except websockets.ConnectionClosed:
            pass
    return ws.close_code


def test_an_account_gets_at_most_its_share_of_sockets(relay: RunningRelay, token: str) -> None:
    async def scenario() -> None:
        held = [await open_live(relay.ws_url, token) for _ in range(PER_ACCOUNT)]
        for ws in held:
            assert (await next_message(ws))["type"] == "snapshot"
        extra = await open_live(relay.ws_url, token)
        assert await closed_code(extra) == 1013
        assert extra.close_reason == "too many live sockets for this account"
        await held.pop().close()
        # The relay forgets a closed socket once its handler ends: ask until then.
        deadline = time.monotonic() + 10
        while True:
            again = await open_live(relay.ws_url, token)
            try:
                message = await next_message(again, 2)
            except (websockets.ConnectionClosed, TimeoutError):
                assert time.monotonic() < deadline, "a freed place was never given out"
                continue
            assert message["type"] == "snapshot"
            held.append(again)
            break
        for ws in held:
            await ws.close()

    asyncio.run(scenario())


def test_unauthenticated_sockets_per_address_are_bounded(relay: RunningRelay, token: str) -> None:
    async def scenario() -> None:
        waiting = [
            await websockets.connect(relay.ws_url, open_timeout=10) for _ in range(UNAUTHENTICATED)
        ]
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(relay.ws_url, open_timeout=10)
        assert refused.value.response.status_code == 403
        # Those that never authenticate are closed after the auth timeout...
        for ws in waiting:
            assert await closed_code(ws) == 4401
        # ... and then the address may open sockets again.
        signed_in = await open_live(relay.ws_url, token)
        assert (await next_message(signed_in))["type"] == "snapshot"
        await signed_in.close()

    asyncio.run(scenario())


def test_a_socket_that_never_authenticates_is_closed(relay: RunningRelay) -> None:
    async def scenario() -> float:
        ws = await websockets.connect(relay.ws_url, open_timeout=10)
        started = time.monotonic()
        assert await closed_code(ws) == 4401
        return time.monotonic() - started

    took = asyncio.run(scenario())
    assert took >= AUTH_TIMEOUT * 0.9
