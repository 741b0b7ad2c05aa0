"""The live socket: snapshot, fan-out to one account's sockets only, 4401."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.support.live import next_message, open_live
from tests.support.relay import RunningRelay
from tests.support.waiting import wait_until

PASSWORD = "correct horse battery"


def users(relay: RunningRelay) -> tuple[str, str]:
    relay.add_user("a@example.com", PASSWORD)
    relay.add_user("b@example.com", PASSWORD)
    return relay.sign_in("a@example.com", PASSWORD), relay.sign_in("b@example.com", PASSWORD)


async def put(relay: RunningRelay, token: str, path: str, body: object) -> httpx.Response:
    async with httpx.AsyncClient(base_url=relay.url) as client:
        return await client.put(path, json=body, headers={"Authorization": f"Bearer {token}"})


def test_two_sockets_of_one_account_get_each_update_and_another_account_none(
    relay: RunningRelay,
) -> None:
    token_a, token_b = users(relay)

    async def scenario() -> None:
        a1 = await open_live(relay.ws_url, token_a)
        a2 = await open_live(relay.ws_url, token_a)
        b = await open_live(relay.ws_url, token_b)
        snaps = [await next_message(ws) for ws in (a1, a2, b)]
        assert [s["type"] for s in snaps] == ["snapshot"] * 3
        assert snaps[0]["state"]["account"]["email"] == "a@example.com"
        assert snaps[2]["state"]["account"]["email"] == "b@example.com"

        response = await put(relay, token_a, "/api/v1/ringer", {"on": False})
        assert response.status_code == 200
        for ws in (a1, a2):
            update = await next_message(ws)
            assert update["type"] == "update"
            assert update["seq"] == snaps[0]["seq"] + 1 == response.json()["seq"]
            assert update["state"]["ringer_on"] is False
            assert update["state"]["cause"] == "ringer_changed"

        # b's next message must be about b's own change, not a's.
        await put(relay, token_b, "/api/v1/availability", {"preferred": "unavailable"})
        update_b = await next_message(b)
        assert update_b["state"]["account"]["email"] == "b@example.com"
        assert update_b["state"]["ringer_on"] is True
        assert update_b["seq"] == snaps[2]["seq"] + 1
        for ws in (a1, a2, b):
            await ws.close()

    asyncio.run(scenario())


def test_signed_out_session_closes_its_socket_with_4401(relay: RunningRelay) -> None:
    token_a, _ = users(relay)
    other = relay.sign_in("a@example.com", PASSWORD, device="phone")

    async def scenario() -> None:
        ws = await open_live(relay.ws_url, token_a)
        survivor = await open_live(relay.ws_url, other)
        await next_message(ws)
        await next_message(survivor)
        async with httpx.AsyncClient(base_url=relay.url) as client:
            response = await client.delete(
                "/api/v1/sessions/current", headers={"Authorization": f"Bearer {token_a}"}
            )
        assert response.status_code == 204
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4401
        # the account's other session keeps its socket and gets updates
        await put(relay, other, "/api/v1/ringer", {"on": False})
        assert (await next_message(survivor))["state"]["ringer_on"] is False
        await survivor.close()

    asyncio.run(scenario())


def test_bad_token_at_the_socket_gets_4401(relay: RunningRelay) -> None:
    async def scenario() -> None:
        ws = await open_live(relay.ws_url, "not-a-token")
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4401

    asyncio.run(scenario())


def test_browser_first_frame_auth(relay: RunningRelay) -> None:
    token_a, _ = users(relay)

    async def scenario() -> None:
        async with websockets.connect(relay.ws_url) as ws:
            await ws.send(json.dumps({"type": "auth", "token": token_a}))
            snapshot = await next_message(ws)
            assert snapshot["type"] == "snapshot"
            assert snapshot["state"]["account"]["email"] == "a@example.com"
        async with websockets.connect(relay.ws_url) as ws:
            await ws.send(json.dumps({"type": "hello"}))
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 4401

    asyncio.run(scenario())


def test_token_in_the_url_is_not_accepted(relay: RunningRelay) -> None:
    token_a, _ = users(relay)

    async def scenario() -> None:
        async with websockets.connect(f"{relay.ws_url}?token={token_a}") as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 4401

    asyncio.run(scenario())


def test_heartbeats_keep_an_idle_socket_open(relay: RunningRelay) -> None:
    """The relay pings every second here (tests shorten it); a client that
    answers stays connected, and a ping the client sends is answered."""
    token_a, _ = users(relay)

    async def scenario() -> None:
        ws = await open_live(relay.ws_url, token_a)
        await next_message(ws)
        for _ in range(3):
            latency = await asyncio.wait_for(ws.ping(), 5)
            await asyncio.wait_for(latency, 5)
        await put(relay, token_a, "/api/v1/ringer", {"on": False})
        assert (await next_message(ws))["type"] == "update"
        await ws.close()

    asyncio.run(scenario())


def test_plain_http_to_the_socket_path_is_refused_cleanly(relay: RunningRelay) -> None:
    response = httpx.get(relay.ws_url.replace("ws://", "http://"))
    assert 400 <= response.status_code < 500


def test_unreachable_relay_refuses_the_handshake(relay: RunningRelay) -> None:
    url = relay.ws_url
    relay.stop()

    async def scenario() -> None:
        with pytest.raises((OSError, InvalidStatus)):
            await websockets.connect(url, open_timeout=5)

    asyncio.run(scenario())


def test_a_time_bound_override_expires_on_time_and_is_pushed(relay: RunningRelay) -> None:
    from datetime import UTC, datetime, timedelta

    token_a, _ = users(relay)

    async def scenario() -> None:
        ws = await open_live(relay.ws_url, token_a)
        await next_message(ws)
        ends = datetime.now(UTC) + timedelta(seconds=1)
        await put(
            relay, token_a, "/api/v1/override", {"value": "unavailable", "until": ends.isoformat()}
        )
        set_update = await next_message(ws)
        assert set_update["state"]["effective"]["reason"] == "override"
        expired = await next_message(ws, wait=10)
        assert expired["state"]["cause"] == "override_expired"
        assert expired["state"]["override"] is None
        assert expired["state"]["effective"]["availability"] == "available"
        await ws.close()

    asyncio.run(scenario())


IDLE_SOCKETS = 12


def test_an_idle_socket_holds_one_task_on_the_relay_and_a_push_none_after_it(
    relay: RunningRelay,
) -> None:
    """At 10,000 sockets every task and queue per socket is memory: an idle one
    holds only the task reading it, and a push's writer ends once it is out."""
    token_a, _ = users(relay)

    def subscribers_idle() -> bool:
        subscribers = relay.relay.hub._by_account.values()
        return all(not s.writing for group in subscribers for s in group)

    async def scenario() -> None:
        before = relay.task_count()
        sockets = [await open_live(relay.ws_url, token_a) for _ in range(IDLE_SOCKETS)]
        for ws in sockets:
            assert (await next_message(ws))["type"] == "snapshot"
        wait_until(subscribers_idle, what="the snapshots' writers ended")
        assert relay.task_count() == before + IDLE_SOCKETS

        assert (await put(relay, token_a, "/api/v1/ringer", {"on": False})).status_code == 200
        for ws in sockets:
            assert (await next_message(ws))["state"]["ringer_on"] is False
        wait_until(subscribers_idle, what="the update's writers ended")
        assert relay.task_count() == before + IDLE_SOCKETS

        for ws in sockets:
            await ws.close()
        wait_until(lambda: relay.relay.hub.count() == 0, what="the sockets left the hub")
        wait_until(lambda: relay.task_count() == before, what="the sockets' tasks ended")

    asyncio.run(scenario())
