"""The whole loop on loopback: OAuth through the local Zoom, then presence
webhooks driving availability through every row of the rules table."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest

from desktop.zoomsim.server import RunningZoomSim
from tests.relay.zoom.conftest import (
    ZOOM_USER,
    Wire,
    account,
    assert_no_zoom_secrets,
    query,
    zoom_link,
)
from tests.support.live import open_live
from tests.support.relay import RunningRelay


def effective(state: dict[str, Any]) -> tuple[str, str]:
    return state["effective"]["availability"], state["effective"]["reason"]


def test_connect_then_presence_drives_every_rule(
    zrelay: RunningRelay,
    sim: RunningZoomSim,
    wire: Wire,
    browser: httpx.Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    token = account(zrelay)

    async def scenario() -> None:
        ws = await open_live(zrelay.ws_url, token)
        assert (await wire.next(ws))["type"] == "snapshot"

        # -- connect ----------------------------------------------------------------
        with wire.client(zrelay.url, token) as sync_api:
            start = sync_api.post("/api/v1/integrations/zoom/connect").json()["authorize_url"]
        url = await asyncio.to_thread(zoom_link, browser, start)
        params = query(url)
        assert url.startswith(sim.url + "/oauth/authorize?")
        assert "scope" not in params  # configured on the Marketplace app (ZOOM.md)
        assert params["code_challenge_method"] == ["S256"]
        assert params["redirect_uri"] == [zrelay.url + "/oauth/zoom/callback"]
        assert len(params["state"][0]) >= 32
        assert len(params["code_challenge"][0]) == 43
        page = await asyncio.to_thread(lambda: browser.get(url, follow_redirects=True))
        wire.seen.append(page.text)
        assert page.status_code == 200
        assert "Zoom is connected" in page.text
        assert f"Zoom {ZOOM_USER} is now connected to ProfitRinger ada@example.com" in page.text
        connected = (await wire.next(ws))["state"]
        assert connected["cause"] == "zoom_connected"
        assert connected["zoom"]["state"] == "connected"
        assert connected["zoom"]["email"] == ZOOM_USER
        assert effective(connected) == ("available", "preferred")

        async with (
            wire.async_client(zrelay.url, token) as api,
            httpx.AsyncClient(base_url=sim.url) as control,
        ):

            async def presence(status: str) -> dict[str, Any]:
                answer = await control.post(
                    f"/_sim/users/{ZOOM_USER}/presence", json={"status": status}
                )
                assert answer.json()["delivery"]["status"] == 200, answer.text
                pushed: dict[str, Any] = (await wire.next(ws))["state"]
                return pushed

            async def put(path: str, body: object) -> dict[str, Any]:
                response = await api.put(path, json=body)
                assert response.status_code == 200, response.text
                pushed: dict[str, Any] = (await wire.next(ws))["state"]
                return pushed

            # Row 3 then 4: a meeting pauses, its end restores "available".
            state = await presence("In_Meeting")
            assert state["cause"] == "meeting_started"
            assert state["zoom"]["in_meeting"] is True
            assert effective(state) == ("unavailable", "in_meeting")
            state = await presence("Available")
            assert state["cause"] == "meeting_ended"
            assert effective(state) == ("available", "preferred")

            # Unavailable before the meeting: still unavailable after it.
            await put("/api/v1/availability", {"preferred": "unavailable"})
            state = await presence("Presenting")
            assert (state["cause"], effective(state)) == (
                "meeting_started",
                ("unavailable", "in_meeting"),
            )
            state = await presence("Away")
            assert (state["cause"], effective(state)) == (
                "meeting_ended",
                ("unavailable", "preferred"),
            )

            # Changing preferred during a meeting takes effect when it ends.
            await presence("On_Phone_Call")
            state = await put("/api/v1/availability", {"preferred": "available"})
            assert effective(state) == ("unavailable", "in_meeting")
            state = await presence("Available")
            assert effective(state) == ("available", "preferred")

            # Row 2: an override "until this meeting ends" wins, and clears at the end.
            await presence("In_Meeting")
            state = await put("/api/v1/override", {"value": "available", "until": "meeting_end"})
            assert effective(state) == ("available", "override")
            state = await presence("Do_Not_Disturb")
            assert state["cause"] == "meeting_ended"
            assert state["override"] is None
            assert effective(state) == ("available", "preferred")

            # Row 1: ringer off beats everything, meeting or not.
            await put("/api/v1/ringer", {"on": False})
            state = await presence("In_Meeting")
            assert (state["cause"], effective(state)) == (
                "meeting_started",
                ("unavailable", "ringer_off"),
            )
            state = await presence("Available")
            assert (state["cause"], effective(state)) == (
                "meeting_ended",
                ("unavailable", "ringer_off"),
            )
            state = await put("/api/v1/ringer", {"on": True})
            assert effective(state) == ("available", "preferred")

            # Row 3 needs auto_pause: switched off, a meeting is seen but not obeyed.
            state = await put("/api/v1/auto-pause", {"on": False})
            assert (state["auto_pause"], state["cause"]) == (False, "auto_pause_changed")
            state = await presence("In_Meeting")
            assert state["zoom"]["in_meeting"] is True
            assert effective(state) == ("available", "preferred")
            state = await put("/api/v1/auto-pause", {"on": True})
            assert effective(state) == ("unavailable", "in_meeting")
            state = await presence("Available")
            assert effective(state) == ("available", "preferred")

            # A meeting link, then disconnect; both pushed or answered without secrets.
            created = await api.post("/api/v1/meetings", json={"topic": "Standup"})
            assert created.status_code == 201, created.text
            assert created.json()["join_url"].startswith(sim.url + "/j/")
            assert "start_url" not in created.json()
            await presence("In_Meeting")
            gone = await api.delete("/api/v1/integrations/zoom")
            assert gone.status_code == 200
            assert gone.json()["zoom"]["state"] == "disconnected"
            assert gone.json()["zoom"]["in_meeting"] is False
            state = (await wire.next(ws))["state"]
            assert state["cause"] == "meeting_ended"  # disconnecting ends the meeting
            assert state["zoom"]["state"] == "disconnected"
            assert effective(state) == ("available", "preferred")
        await ws.close()

    asyncio.run(scenario())

    # Nothing Zoom issued, and no app secret, is anywhere a person or a log could see.
    zrelay.stop()
    assert "Zoom connected for account" in caplog.text
    assert_no_zoom_secrets(zrelay, sim, wire, caplog)
