"""Token lifecycle against the local Zoom: disconnect, deauthorization, account
deletion, single-flight refresh, a dead grant, the keep-alive and meetings."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest

from desktop.zoomsim.server import RunningZoomSim, run_in_thread
from tests.relay.zoom.conftest import (
    PASSWORD,
    ZOOM_USER,
    Wire,
    account,
    assert_no_zoom_secrets,
    connect_zoom,
    sim_config,
    zoom_row,
)
from tests.support.live import open_live
from tests.support.relay import RunningRelay, start_relay
from tests.support.waiting import wait_until
from tests.support.zoom import zoom_settings


def authorized_at_zoom(sim: RunningZoomSim) -> bool:
    users = httpx.get(sim.url + "/_sim/users").json()["users"]
    return bool(next(u for u in users if u["email"] == ZOOM_USER)["authorized"])


def refresh_count(sim: RunningZoomSim) -> int:
    return len(httpx.get(sim.url + "/_sim/issued_tokens").json()["refresh_tokens"])


def test_disconnect_deletes_the_tokens_even_when_the_revoke_fails(
    zrelay: RunningRelay, sim: RunningZoomSim, wire: Wire
) -> None:
    token = account(zrelay)
    assert connect_zoom(zrelay, wire, token).status_code == 200
    row = zoom_row(zrelay)
    assert row is not None
    assert row["access_token"] is not None
    # With Zoom answering, the revoke ends the grant there too.
    with wire.client(zrelay.url, token) as api:
        assert api.delete("/api/v1/integrations/zoom").status_code == 200
        again = api.delete("/api/v1/integrations/zoom")
    assert again.json()["cause"] == "unchanged"
    assert not authorized_at_zoom(sim)
    for mode in ("500", "timeout"):
        assert connect_zoom(zrelay, wire, token).status_code == 200
        httpx.post(sim.url + "/_sim/fail", json={"endpoint": "revoke", "mode": mode, "count": 1})
        with wire.client(zrelay.url, token) as api:
            response = api.delete("/api/v1/integrations/zoom")
        assert response.status_code == 200
        assert response.json()["zoom"]["state"] == "disconnected"
        assert response.json()["cause"] == "zoom_disconnected"
        row = zoom_row(zrelay)
        assert row is not None
        assert (row["access_token"], row["refresh_token"], row["zoom_user_id"]) == (None,) * 3


def test_app_deauthorized_deletes_the_tokens_and_pushes(
    zrelay: RunningRelay, sim: RunningZoomSim, wire: Wire
) -> None:
    token = account(zrelay)
    assert connect_zoom(zrelay, wire, token).status_code == 200

    async def scenario() -> None:
        ws = await open_live(zrelay.ws_url, token)
        await wire.next(ws)
        async with httpx.AsyncClient(base_url=sim.url) as control:
            await control.post(f"/_sim/users/{ZOOM_USER}/presence", json={"status": "In_Meeting"})
            assert (await wire.next(ws))["state"]["cause"] == "meeting_started"
            answer = await control.post(f"/_sim/users/{ZOOM_USER}/deauthorize")
            assert answer.json()["delivery"]["status"] == 200
        update = (await wire.next(ws))["state"]
        assert update["zoom"]["state"] == "disconnected"
        assert update["zoom"]["in_meeting"] is False
        assert update["effective"]["reason"] == "preferred"
        await ws.close()

    asyncio.run(scenario())
    row = zoom_row(zrelay)
    assert row is not None
    assert (row["access_token"], row["refresh_token"]) == (None, None)


def test_deleting_the_account_revokes_and_deletes_the_tokens(
    zrelay: RunningRelay, sim: RunningZoomSim, wire: Wire
) -> None:
    token = account(zrelay)
    assert connect_zoom(zrelay, wire, token).status_code == 200
    assert authorized_at_zoom(sim)
    with wire.client(zrelay.url, token) as api:
        deleted = api.request("DELETE", "/api/v1/account", json={"password": PASSWORD})
        assert deleted.status_code == 204
    assert zoom_row(zrelay) is None
    assert not authorized_at_zoom(sim)


def test_concurrent_calls_with_an_expired_token_refresh_once(
    zrelay: RunningRelay, sim: RunningZoomSim, wire: Wire, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = account(zrelay)
    assert connect_zoom(zrelay, wire, token).status_code == 200
    before = refresh_count(sim)
    assert (
        httpx.post(f"{sim.url}/_sim/users/{ZOOM_USER}/expire_access_tokens").json()["expired"] == 1
    )

    async def scenario() -> list[httpx.Response]:
        async with wire.async_client(zrelay.url, token) as api:
            return await asyncio.gather(
                *(api.post("/api/v1/meetings", json={"topic": f"m{n}"}) for n in range(6))
            )

    responses = asyncio.run(scenario())
    assert [r.status_code for r in responses] == [201] * 6, [r.text for r in responses]
    assert refresh_count(sim) == before + 1
    assert authorized_at_zoom(sim)  # the grant survived
    assert "refreshed the Zoom tokens" in caplog.text
    assert_no_zoom_secrets(zrelay, sim, wire, caplog)


def test_a_dead_grant_expires_the_connection(
    zrelay: RunningRelay, sim: RunningZoomSim, wire: Wire, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = account(zrelay)
    assert connect_zoom(zrelay, wire, token).status_code == 200

    async def scenario() -> None:
        ws = await open_live(zrelay.ws_url, token)
        await wire.next(ws)
        async with httpx.AsyncClient(base_url=sim.url) as control:
            await control.post(f"/_sim/users/{ZOOM_USER}/invalidate_tokens")
        async with wire.async_client(zrelay.url, token) as api:
            response = await api.post("/api/v1/meetings", json={"topic": "doomed"})
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "zoom_not_connected"
        update = (await wire.next(ws))["state"]
        assert update["cause"] == "zoom_expired"
        assert update["zoom"]["state"] == "expired"
        assert update["zoom"]["email"] == ZOOM_USER
        await ws.close()

    asyncio.run(scenario())
    row = zoom_row(zrelay)
    assert row is not None
    assert (row["access_token"], row["refresh_token"]) == (None, None)
    assert "expired; tokens deleted" in caplog.text
    assert_no_zoom_secrets(zrelay, sim, wire, caplog)


def test_keep_alive_refreshes_before_the_refresh_token_dies(tmp_path: Path, wire: Wire) -> None:
    # Refresh tokens live 0.9 s here; the relay must refresh every 0.6 s to keep the grant.
    with (
        run_in_thread(sim_config(refresh_token_lifetime=0.9)) as sim,
        start_relay(
            tmp_path / "relay", **zoom_settings(sim, zoom_refresh_token_lifetime=0.9)
        ) as relay,
    ):
        token = account(relay)
        assert connect_zoom(relay, wire, token).status_code == 200
        first = refresh_count(sim)
        wait_until(lambda: refresh_count(sim) >= first + 2, timeout=10)
        with wire.client(relay.url, token) as api:
            httpx.post(f"{sim.url}/_sim/users/{ZOOM_USER}/expire_access_tokens")
            assert api.post("/api/v1/meetings", json={"topic": "still"}).status_code == 201


def test_meeting_errors_are_mapped(zrelay: RunningRelay, sim: RunningZoomSim, wire: Wire) -> None:
    token = account(zrelay)
    with wire.client(zrelay.url, token) as api:
        not_connected = api.post("/api/v1/meetings", json={"topic": "x"})
        assert not_connected.status_code == 409
        assert not_connected.json()["error"]["code"] == "zoom_not_connected"
        assert connect_zoom(zrelay, wire, token).status_code == 200
        for body in (
            {},
            {"topic": ""},
            {"topic": "   "},
            {"topic": "x" * 201},
            {"topic": "x", "duration_minutes": 0},
            {"topic": "x", "duration_minutes": 1441},
            {"topic": "x", "start_time": "tomorrow"},
            {"topic": "x", "start_time": "2030-01-01T10:00:00"},
            {"topic": "x", "extra": 1},
        ):
            response = api.post("/api/v1/meetings", json=body)
            assert response.status_code == 422, body
        scheduled = api.post(
            "/api/v1/meetings",
            json={"topic": "Review", "start_time": "2030-01-01T10:00:00Z", "duration_minutes": 30},
        )
        assert scheduled.status_code == 201
        assert scheduled.json()["start_time"] == "2030-01-01T10:00:00Z"
        assert scheduled.json()["topic"] == "Review"
        for mode, status, code in (("429", 429, "zoom_rate_limited"), ("500", 502, "zoom_error")):
            httpx.post(sim.url + "/_sim/fail", json={"endpoint": "meetings", "mode": mode})
            response = api.post("/api/v1/meetings", json={"topic": "x"})
            assert response.status_code == status
            assert response.json()["error"]["code"] == code
        assert api.post("/api/v1/meetings", json={"topic": "fine again"}).status_code == 201


@pytest.mark.parametrize("when", ["long meeting", "relay restart"])
def test_reconciliation_recovers_a_lost_meeting_end(
    tmp_path: Path, sim: RunningZoomSim, wire: Wire, when: str
) -> None:
    after = 0.5 if when == "long meeting" else 3600
    with start_relay(tmp_path / "relay", **zoom_settings(sim, zoom_reconcile_after=after)) as relay:
        sim.sim.set_webhook_url(relay.url + "/webhooks/zoom")
        token = account(relay)
        assert connect_zoom(relay, wire, token).status_code == 200

        async def scenario() -> None:
            ws = await open_live(relay.ws_url, token)
            await wire.next(ws)
            async with httpx.AsyncClient(base_url=sim.url) as control:
                await control.post(
                    f"/_sim/users/{ZOOM_USER}/presence", json={"status": "In_Meeting"}
                )
                assert (await wire.next(ws))["state"]["cause"] == "meeting_started"
                # "Meeting ended" is lost: Zoom has nowhere to send it.
                await control.put("/_sim/config", json={"webhook_url": None})
                if when == "relay restart":
                    await ws.close()
                    await asyncio.to_thread(relay.stop)
                await control.post(
                    f"/_sim/users/{ZOOM_USER}/presence", json={"status": "Available"}
                )
                if when == "relay restart":
                    await asyncio.to_thread(relay.start)
                    ws = await open_live(relay.ws_url, token)
                    snapshot = (await wire.next(ws))["state"]
                    if not snapshot["zoom"]["in_meeting"]:
                        await ws.close()
                        return
            update = (await wire.next(ws, wait=10))["state"]
            assert update["cause"] == "meeting_ended"
            assert update["effective"]["availability"] == "available"
            await ws.close()

        asyncio.run(scenario())
