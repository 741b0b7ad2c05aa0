"""Zoom failing in the ways tests/relay/zoom does not already cover.

- The token endpoint times out, fails (500) or rate-limits (429) during a
  refresh: the caller gets a clear error, the connection stays connected, the
  stored tokens are exactly the old ones (nothing half-written), no client is
  told Zoom expired, and the next call refreshes and succeeds.
- Creating a meeting times out at Zoom: a clear 502, then it works again.
- A revoke answered with 429 still deletes the tokens on disconnect.
- The presence re-read fails (500) twice: the background planner survives,
  retries, and a lost "meeting ended" is still recovered.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from desktop.zoomsim.server import RunningZoomSim, run_in_thread
from tests.support.live import open_live
from tests.support.relay import RunningRelay, start_relay
from tests.support.waiting import wait_until
from tests.support.zoom import (
    PASSWORD,
    Wire,
    connect_zoom,
    sim_config,
    zoom_settings,
)

ZOOM_USER = "demo@zoom.example"


@pytest.fixture
def zoom() -> Iterator[RunningZoomSim]:
    with run_in_thread(sim_config(fault_timeout=3.0)) as running:
        yield running


def zoom_row(relay: RunningRelay) -> dict[str, Any]:
    db = sqlite3.connect(relay.settings.data_dir / "relay.sqlite3")
    db.row_factory = sqlite3.Row
    try:
        row = db.execute("SELECT * FROM zoom_connections").fetchone()
        assert row is not None
        return dict(row)
    finally:
        db.close()


def signed_in_and_connected(relay: RunningRelay, wire: Wire) -> str:
    relay.add_user("ada@example.com", PASSWORD)
    token = relay.sign_in("ada@example.com", PASSWORD)
    assert connect_zoom(relay.url, wire, token).status_code == 200
    return token


@pytest.mark.parametrize(
    ("mode", "status", "code"),
    [("500", 502, "zoom_error"), ("timeout", 502, "zoom_error"), ("429", 429, "zoom_rate_limited")],
)
def test_a_failed_refresh_keeps_the_connection_and_the_old_tokens(
    tmp_path: Path, zoom: RunningZoomSim, mode: str, status: int, code: str
) -> None:
    wire = Wire()
    with start_relay(tmp_path / "relay", **zoom_settings(zoom, zoom_http_timeout=0.5)) as relay:
        zoom.sim.set_webhook_url(relay.url + "/webhooks/zoom")
        token = signed_in_and_connected(relay, wire)

        async def scenario() -> None:
            ws = await open_live(relay.ws_url, token)
            await wire.next(ws)  # snapshot
            assert zoom.sim.expire_access_tokens(ZOOM_USER) == 1
            before = zoom_row(relay)
            zoom.sim.inject_fault("token", mode, 1)
            async with wire.async_client(relay.url, token) as api:
                failed = await api.post("/api/v1/meetings", json={"topic": "during the fault"})
                assert failed.status_code == status, failed.text
                error = failed.json()["error"]
                assert error["code"] == code
                assert error["message"].endswith(".")
                after = zoom_row(relay)
                for column in ("state", "access_token", "refresh_token", "zoom_user_id"):
                    assert after[column] == before[column], column
                state = (await api.get("/api/v1/state")).json()
                assert state["zoom"]["state"] == "connected"
                # A marker change: the next socket message must be it, not zoom_expired.
                await api.put("/api/v1/ringer", json={"on": False})
                assert (await wire.next(ws))["state"]["cause"] == "ringer_changed"
                again = await api.post("/api/v1/meetings", json={"topic": "after the fault"})
                assert again.status_code == 201, again.text
            assert zoom_row(relay)["refresh_token"] != before["refresh_token"]
            assert next(u for u in zoom.sim.users() if u["email"] == ZOOM_USER)["authorized"]
            await ws.close()

        asyncio.run(scenario())


def test_a_meeting_call_that_times_out_is_a_clear_502(tmp_path: Path, zoom: RunningZoomSim) -> None:
    wire = Wire()
    with start_relay(tmp_path / "relay", **zoom_settings(zoom, zoom_http_timeout=0.5)) as relay:
        token = signed_in_and_connected(relay, wire)
        zoom.sim.inject_fault("meetings", "timeout", 1)
        with wire.client(relay.url, token) as api:
            failed = api.post("/api/v1/meetings", json={"topic": "slow"})
            assert failed.status_code == 502
            assert failed.json()["error"]["code"] == "zoom_error"
            assert api.get("/api/v1/state").json()["zoom"]["state"] == "connected"
            assert api.post("/api/v1/meetings", json={"topic": "fine"}).status_code == 201


def test_a_rate_limited_revoke_still_deletes_the_tokens(
    tmp_path: Path, zoom: RunningZoomSim
) -> None:
    wire = Wire()
    with start_relay(tmp_path / "relay", **zoom_settings(zoom)) as relay:
        token = signed_in_and_connected(relay, wire)
        zoom.sim.inject_fault("revoke", "429", 1)
        with wire.client(relay.url, token) as api:
            response = api.delete("/api/v1/integrations/zoom")
        assert response.status_code == 200
        assert response.json()["zoom"]["state"] == "disconnected"
        row = zoom_row(relay)
        assert (row["access_token"], row["refresh_token"], row["zoom_user_id"]) == (None,) * 3


def test_a_failing_presence_reread_is_retried(tmp_path: Path, zoom: RunningZoomSim) -> None:
    wire = Wire()
    with start_relay(
        tmp_path / "relay",
        **zoom_settings(zoom, zoom_reconcile_after=0.3, zoom_retry_delay=0.3),
    ) as relay:
        zoom.sim.set_webhook_url(relay.url + "/webhooks/zoom")
        token = signed_in_and_connected(relay, wire)
        assert zoom.sim.set_presence(ZOOM_USER, "In_Meeting").status == 200
        with wire.client(relay.url, token) as api:
            assert api.get("/api/v1/state").json()["zoom"]["in_meeting"] is True
            # "Meeting ended" is lost, and Zoom's presence API fails twice.
            zoom.sim.set_webhook_url(None)
            zoom.sim.inject_fault("presence", "500", 2)
            assert zoom.sim.set_presence(ZOOM_USER, "Available").attempt == 0

            def ended() -> bool:
                return api.get("/api/v1/state").json()["zoom"]["in_meeting"] is False

            wait_until(ended, timeout=15, what="the lost meeting end recovered")
        assert zoom.sim.faults() == {}  # both failures were met, and retried past
