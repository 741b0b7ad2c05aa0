"""The demo's world and its "Simulate Zoom" actions, flowing through the relay."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytestqt.qtbot import QtBot
from websockets.sync.client import connect

from desktop.demo.sim_window import SimulateZoomWindow
from desktop.demo.world import DemoSession, DemoWorld, SimControl


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[DemoWorld, DemoSession]]:
    events: list[tuple[str, str]] = []
    demo = DemoWorld(tmp_path / "demo", fresh=False, on_event=lambda *e: events.append(e))
    try:
        yield demo, demo.start()
    finally:
        demo.stop()


def zoom_state(session: DemoSession) -> dict[str, Any]:
    state = httpx.get(
        session.relay_url + "/api/v1/state",
        headers={"Authorization": f"Bearer {session.token}"},
    ).json()
    zoom: dict[str, Any] = state["zoom"]
    return zoom


def wait_for_zoom(session: DemoSession, **expected: Any) -> dict[str, Any]:
    """Wait on the live socket: its snapshot, then each update, until Zoom's
    part of the state matches (the snapshot already does if the change won)."""
    url = session.relay_url.replace("http://", "ws://") + "/api/v1/live"
    deadline = time.monotonic() + 20
    with connect(url, additional_headers={"Authorization": f"Bearer {session.token}"}) as ws:
        while True:
            zoom: dict[str, Any] = json.loads(ws.recv(timeout=deadline - time.monotonic()))[
                "state"
            ]["zoom"]
            if all(zoom[k] == v for k, v in expected.items()):
                return zoom


def test_the_world_starts_signed_in_and_connected(
    world: tuple[DemoWorld, DemoSession],
) -> None:
    _, session = world
    zoom = zoom_state(session)
    assert zoom["state"] == "connected"
    assert zoom["email"] == "demo@zoom.example"


def test_simulate_zoom_buttons_flow_through_the_relay(
    world: tuple[DemoWorld, DemoSession], qtbot: QtBot
) -> None:
    _, session = world
    control = SimControl(session.sim_url, session.zoom_email, session.relay_url, session.token)
    said: list[tuple[str, str]] = []
    window = SimulateZoomWindow(control, lambda who, text: said.append((who, text)))
    qtbot.addWidget(window)

    window.buttons["join"].click()
    assert wait_for_zoom(session, in_meeting=True)["in_meeting"] is True
    window.buttons["leave"].click()
    assert wait_for_zoom(session, in_meeting=False)["in_meeting"] is False
    window.buttons["expire"].click()
    assert wait_for_zoom(session, state="expired")["state"] == "expired"
    assert all(text.endswith("sent") for _, text in said), said
    assert "Expire the Zoom token: sent" in window.result.text()


def test_removing_the_app_at_zoom_disconnects(world: tuple[DemoWorld, DemoSession]) -> None:
    _, session = world
    control = SimControl(session.sim_url, session.zoom_email, session.relay_url, session.token)
    assert control.remove_app() == "sent"
    assert wait_for_zoom(session, state="disconnected")["state"] == "disconnected"


def test_a_second_run_on_the_same_data_dir_reconnects(tmp_path: Path) -> None:
    for _ in range(2):
        demo = DemoWorld(tmp_path / "demo", fresh=False, on_event=lambda *e: None)
        try:
            session = demo.start()
            assert zoom_state(session)["state"] == "connected"
        finally:
            demo.stop()
