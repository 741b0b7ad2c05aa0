"""The whole loop: tray, real relay, local Zoom, all on 127.0.0.1.

sign in → connect Zoom (the local Zoom auto-approves) → a meeting starts at
Zoom → the tray shows "paused" and notifies → the meeting ends → restored,
with a "resumed" notification → relay stopped → offline since … → relay
restarted → live again without a click → Zoom tokens invalidated → the relay
finds out → "Reconnect" offered, with a notification.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from desktop.relay.zoom.start_page import START_PATH, continue_link
from tests.support.tray import AppFactory, Desktop, sign_in_through_dialog

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery"
ZOOM_USER = "demo@zoom.example"
CLIENT_ID = "e2e-client-id"
CLIENT_SECRET = "e2e-client-secret"
WEBHOOK_SECRET = "e2e-webhook-secret"


@pytest.fixture
def zoom() -> Iterator[Any]:
    from desktop.zoomsim.server import run_in_thread
    from desktop.zoomsim.sim import SimConfig

    with run_in_thread(
        SimConfig(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            webhook_secret=WEBHOOK_SECRET,
            auto_approve=True,
            retry_time_scale=0.001,
        )
    ) as running:
        yield running


@pytest.fixture
def zoom_relay(tmp_path: Path, zoom: Any) -> Iterator[Any]:
    from tests.support.relay import start_relay

    with start_relay(
        tmp_path / "relay",
        zoom_client_id=CLIENT_ID,
        zoom_client_secret=CLIENT_SECRET,
        zoom_webhook_secret=WEBHOOK_SECRET,
        zoom_oauth_url=zoom.url,
        zoom_api_url=zoom.url,
    ) as running:
        httpx.put(
            zoom.url + "/_sim/config", json={"webhook_url": running.url + "/webhooks/zoom"}
        ).raise_for_status()
        yield running


@pytest.mark.expect_log(
    "created the Zoom token key file",
    "Zoom refused the refresh token",
    "Zoom connection of account \\w+ expired",
)
def test_the_whole_loop(
    qtbot: Any, make_app: AppFactory, desktop: Desktop, zoom: Any, zoom_relay: Any
) -> None:
    relay = zoom_relay
    relay.add_user(EMAIL, PASSWORD)
    app = make_app(backend_url=relay.url)
    controller = app.controller

    def status() -> Any:
        return controller.status()

    # 1. sign in
    app.start()
    sign_in_through_dialog(qtbot, app, EMAIL, PASSWORD)
    qtbot.waitUntil(lambda: controller.model.online, timeout=10_000)
    assert status().kind == "zoom_action"

    # 2. connect Zoom: the browser gets the relay's start page, which names the
    #    account and leads on to the local Zoom; that approves and redirects to
    #    the relay, which pushes zoom_connected.
    app.menu.rebuild()
    connect = app.menu.action("zoom.connect")
    assert connect is not None
    connect.trigger()
    qtbot.waitUntil(lambda: len(desktop.opened) == 1, timeout=10_000)
    assert desktop.opened[0].startswith(relay.url + START_PATH + "?ticket=")
    callback = through_start_page(desktop.opened[0])
    assert callback.status_code == 200, callback.text
    assert str(callback.url).startswith(relay.url)
    qtbot.waitUntil(lambda: status().kind == "available", timeout=10_000)
    assert f"Zoom: connected as {ZOOM_USER}" in status().tooltip

    # 3. a meeting starts at Zoom: paused, with a notification
    httpx.post(
        f"{zoom.url}/_sim/users/{ZOOM_USER}/presence", json={"status": "In_Meeting"}
    ).raise_for_status()
    qtbot.waitUntil(lambda: status().kind == "paused", timeout=10_000)
    assert status().title.startswith("Paused — in a Zoom meeting since")
    assert desktop.notifier.kinds() == ["paused"]

    # 4. the meeting ends: back to what it was, with a notification
    httpx.post(
        f"{zoom.url}/_sim/users/{ZOOM_USER}/presence", json={"status": "Available"}
    ).raise_for_status()
    qtbot.waitUntil(lambda: status().kind == "available", timeout=10_000)
    assert desktop.notifier.kinds() == ["paused", "resumed"]

    # 5. the relay goes away: offline, since when
    relay.stop()
    qtbot.waitUntil(lambda: status().kind == "offline", timeout=10_000)
    assert status().title.startswith("Offline since")

    # 6. it comes back: live again without any click, and no notification
    relay.start()
    qtbot.waitUntil(lambda: status().kind == "available", timeout=15_000)
    assert desktop.notifier.kinds() == ["paused", "resumed"]

    # 7. Zoom invalidates the tokens; the relay finds out at its next Zoom call
    #    (here: a new meeting link) and the tray offers Reconnect.
    httpx.post(f"{zoom.url}/_sim/users/{ZOOM_USER}/invalidate_tokens").raise_for_status()
    httpx.post(f"{zoom.url}/_sim/users/{ZOOM_USER}/expire_access_tokens").raise_for_status()
    app.menu.rebuild()
    meeting = app.menu.action("meeting")
    assert meeting is not None
    assert meeting.isEnabled()
    meeting.trigger()
    qtbot.waitUntil(lambda: status().kind == "zoom_action", timeout=15_000)
    assert status().zoom_problem == "Zoom connection expired — reconnect"
    app.menu.rebuild()
    assert "zoom.reconnect" in app.menu.action_ids()
    assert "zoom_reconnect" in desktop.notifier.kinds()

    # 8. Reconnect opens a new start page too, and going through it connects again.
    reconnect = app.menu.action("zoom.reconnect")
    assert reconnect is not None
    reconnect.trigger()
    qtbot.waitUntil(lambda: len(desktop.opened) == 2, timeout=10_000)
    assert desktop.opened[1].startswith(relay.url + START_PATH + "?ticket=")
    assert desktop.opened[1] != desktop.opened[0]
    assert through_start_page(desktop.opened[1]).status_code == 200
    qtbot.waitUntil(lambda: status().kind == "available", timeout=10_000)


def through_start_page(start_url: str) -> httpx.Response:
    """What the person's browser does with the link the tray opened: the start
    page (naming the account), its Continue link, Zoom, the relay's callback."""
    with httpx.Client(timeout=10) as browser:
        page = browser.get(start_url)
        assert page.status_code == 200, page.text
        assert f"ProfitRinger account <b>{EMAIL}</b>" in page.text
        zoom_url = continue_link(page.text)
        assert zoom_url is not None
        return browser.get(zoom_url, follow_redirects=True)
