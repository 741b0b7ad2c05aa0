"""Menu, notifications and the status window, with the relay faked at the
HTTP layer (httpx.MockTransport) and live messages fed through the bridge."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QTimer

from desktop.app.application import TrayApplication
from desktop.app.menu import disconnect_text
from desktop.client.settings import SettingsStore
from tests.app.conftest import BACKEND, EMAIL, FakeRelay
from tests.client.documents import document
from tests.support.tray import Desktop


def ids(app: TrayApplication) -> list[str]:
    app.menu.rebuild()
    return app.menu.action_ids()


def test_menu_follows_the_state(online_app: Callable[..., TrayApplication]) -> None:
    app = online_app(document(seq=1))
    menu = app.menu
    menu.rebuild()
    assert menu.action("status").text().startswith("Available since ")  # type: ignore[union-attr]
    assert menu.action("availability.available").isChecked()  # type: ignore[union-attr]
    assert menu.action("ringer").isChecked()  # type: ignore[union-attr]
    assert "zoom.disconnect" in ids(app)
    assert "zoom.connect" not in ids(app)
    assert menu.action("meeting").isEnabled()  # type: ignore[union-attr]
    assert not menu.action("override.meeting").isEnabled()  # type: ignore[union-attr]
    assert not menu.action("override.clear").isEnabled()  # type: ignore[union-attr]
    assert menu.action("sign_out").text() == f"Sign out ({EMAIL})"  # type: ignore[union-attr]

    app.bridge.live_message.emit(
        "update", document(seq=2, in_meeting=True, cause="meeting_started")
    )
    menu.rebuild()
    assert menu.action("status").text().startswith("Paused — in a Zoom meeting since")  # type: ignore[union-attr]
    assert menu.action("override.meeting").isEnabled()  # type: ignore[union-attr]

    app.bridge.live_message.emit(
        "update", document(seq=3, zoom_state="expired", cause="zoom_expired")
    )
    assert "zoom.reconnect" in ids(app)
    assert "zoom.disconnect" in ids(app)
    assert not app.menu.action("meeting").isEnabled()  # type: ignore[union-attr]
    app.bridge.live_message.emit(
        "update", document(seq=4, zoom_state="disconnected", cause="zoom_disconnected")
    )
    assert "zoom.connect" in ids(app)
    assert "zoom.disconnect" not in ids(app)


def test_notifications_from_live_updates(
    online_app: Callable[..., TrayApplication], desktop: Desktop
) -> None:
    app = online_app(document(seq=1))
    # a reconnect snapshot in a meeting: quiet
    app.bridge.live_message.emit("snapshot", document(seq=2, in_meeting=True))
    assert desktop.notifier.shown == []
    app.bridge.live_message.emit("update", document(seq=3, cause="meeting_ended"))
    app.bridge.live_message.emit(
        "update", document(seq=4, in_meeting=True, cause="meeting_started")
    )
    app.bridge.live_message.emit("update", document(seq=4, cause="meeting_ended"))  # stale: ignored
    app.bridge.live_message.emit(
        "update", document(seq=5, zoom_state="expired", cause="zoom_expired")
    )
    assert desktop.notifier.kinds() == ["resumed", "paused", "zoom_reconnect"]
    assert app.tray is not None
    assert app.tray.tray.toolTip().startswith("ProfitRinger: Available since")


def test_switched_off_notifications_stay_quiet(
    online_app: Callable[..., TrayApplication], desktop: Desktop
) -> None:
    app = online_app(document(seq=1))
    settings = app.controller.settings
    settings.notify_paused = False
    app.controller.apply_settings(settings)
    app.bridge.live_message.emit(
        "update", document(seq=2, in_meeting=True, cause="meeting_started")
    )
    app.bridge.live_message.emit("update", document(seq=3, cause="meeting_ended"))
    assert desktop.notifier.kinds() == ["resumed"]


def test_clicking_the_zoom_notification_reconnects(
    qtbot: Any, online_app: Callable[..., TrayApplication], desktop: Desktop
) -> None:
    app = online_app(document(seq=1))
    app.bridge.live_message.emit(
        "update", document(seq=2, zoom_state="expired", cause="zoom_expired")
    )
    assert app.tray is not None
    app.tray.tray.messageClicked.emit()
    qtbot.waitUntil(lambda: desktop.opened == ["http://127.0.0.1:9/authorize?state=s"])


def test_connect_opens_the_browser_and_the_relay_push_updates_the_icon(
    qtbot: Any, online_app: Callable[..., TrayApplication], desktop: Desktop, fake_relay: FakeRelay
) -> None:
    app = online_app(document(seq=1, zoom_state="disconnected"))
    assert app.controller.status().kind == "zoom_action"
    app.menu.rebuild()
    app.menu.action("zoom.connect").trigger()  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: len(desktop.opened) == 1)
    assert fake_relay.requests[-1][:2] == ("POST", "/api/v1/integrations/zoom/connect")
    app.bridge.live_message.emit("update", document(seq=2, cause="zoom_connected"))
    assert app.controller.status().kind == "available"
    assert desktop.notifier.shown == []


def test_disconnect_asks_first_and_says_what_it_deletes(
    qtbot: Any, online_app: Callable[..., TrayApplication], desktop: Desktop, fake_relay: FakeRelay
) -> None:
    app = online_app(document(seq=1))
    desktop.confirm_answer = False
    app.menu.rebuild()
    app.menu.action("zoom.disconnect").trigger()  # type: ignore[union-attr]
    assert desktop.confirmations == [("Disconnect Zoom", disconnect_text("ada@zoom.example"))]
    assert "deletes the Zoom access tokens" in desktop.confirmations[0][1]
    assert fake_relay.requests == []
    desktop.confirm_answer = True
    app.menu.action("zoom.disconnect").trigger()  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: app.controller.status().kind == "zoom_action")
    assert fake_relay.requests[-1][:2] == ("DELETE", "/api/v1/integrations/zoom")
    assert desktop.notifier.shown == []


@pytest.mark.parametrize(
    ("action_id", "method", "path", "body"),
    [
        ("availability.unavailable", "PUT", "/api/v1/availability", {"preferred": "unavailable"}),
        ("ringer", "PUT", "/api/v1/ringer", {"on": False}),
        ("auto_pause", "PUT", "/api/v1/auto-pause", {"on": False}),
        ("override.manual", "PUT", "/api/v1/override", {"value": "unavailable", "until": "manual"}),
    ],
)
def test_menu_entries_send_the_wire_contract(
    qtbot: Any,
    online_app: Callable[..., TrayApplication],
    fake_relay: FakeRelay,
    action_id: str,
    method: str,
    path: str,
    body: Any,
) -> None:
    app = online_app(document(seq=1))
    app.menu.rebuild()
    app.menu.action(action_id).trigger()  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: len(fake_relay.requests) == 1)
    assert fake_relay.requests[0] == (method, path, body)


def test_pause_for_a_time_and_take_calls_during_a_meeting(
    qtbot: Any, online_app: Callable[..., TrayApplication], fake_relay: FakeRelay
) -> None:
    app = online_app(document(seq=1, in_meeting=True))
    app.menu.rebuild()
    app.menu.action("override.pause_60").trigger()  # type: ignore[union-attr]
    app.menu.action("override.meeting").trigger()  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: len(fake_relay.requests) == 2)
    bodies = sorted((r[2] for r in fake_relay.requests), key=lambda b: b["value"])
    assert bodies[0] == {"value": "available", "until": "meeting_end"}
    assert bodies[1]["value"] == "unavailable"
    assert bodies[1]["until"].endswith("Z")


def test_new_meeting_link_goes_to_the_clipboard(
    qtbot: Any, online_app: Callable[..., TrayApplication], desktop: Desktop
) -> None:
    app = online_app(document(seq=1))
    app.menu.rebuild()
    app.menu.action("meeting").trigger()  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: desktop.clipboard == ["https://zoom.example/j/123"])
    assert desktop.notifier.shown[-1][:2] == ("meeting_link", "Meeting link copied")


def test_diagnostics_have_no_secrets(
    online_app: Callable[..., TrayApplication], desktop: Desktop
) -> None:
    app = online_app(document(seq=7))
    app.menu.rebuild()
    app.menu.action("diagnostics").trigger()  # type: ignore[union-attr]
    text = desktop.clipboard[-1]
    assert f"backend: {BACKEND}" in text
    assert f"account: {EMAIL}" in text
    assert "seq: 7" in text
    assert "pyside6:" in text
    assert "profitringer:" in text
    assert "tok" not in text.replace("token", "")


def test_status_window_without_a_tray(
    qtbot: Any, online_app: Callable[..., TrayApplication], desktop: Desktop
) -> None:
    app = online_app(document(seq=1, in_meeting=True), tray_available=False)
    window = app.window
    assert app.tray is None
    assert window is not None
    assert window.isVisible()
    assert window.title.text().startswith("Paused — in a Zoom meeting")
    assert "Zoom: connected" in window.detail.text()
    assert window.menu_button.menu() is app.menu.menu
    app.bridge.live_message.emit("update", document(seq=2, cause="meeting_ended"))
    assert window.title.text().startswith("Available since")
    window.close()
    assert desktop.quits == 1


def test_quit_and_sign_out_entries(
    qtbot: Any, online_app: Callable[..., TrayApplication], desktop: Desktop, memory_keyring: Any
) -> None:
    app = online_app(document(seq=1))
    app.menu.rebuild()
    app.menu.action("quit").trigger()  # type: ignore[union-attr]
    assert desktop.quits == 1
    app.menu.action("sign_out").trigger()  # type: ignore[union-attr]
    assert app.controller.status().kind == "signed_out"
    assert memory_keyring.entries == {}
    assert ids(app) == ["status", "sign_in", "settings", "diagnostics", "quit"]
    app.menu.action("sign_in").trigger()  # type: ignore[union-attr]
    assert app.shell.sign_in_dialog.isVisible()


def test_settings_dialog_saves_and_sets_start_at_login(
    online_app: Callable[..., TrayApplication], tmp_path: Path
) -> None:
    app = online_app(document(seq=1))
    app.menu.rebuild()
    app.menu.action("settings").trigger()  # type: ignore[union-attr]
    dialog = app.shell.settings_dialog
    assert dialog is not None
    assert dialog.isVisible()
    dialog.paused.setChecked(False)
    dialog.start_at_login.setChecked(True)
    dialog.accept()
    assert app.controller.model.prefs.paused is False
    assert (tmp_path / "home" / ".config" / "autostart" / "profitringer.desktop").exists()
    saved = SettingsStore(tmp_path / "config").load()
    assert saved.notify_paused is False
    assert saved.start_at_login is True
    assert saved.email == EMAIL


def test_a_second_start_brings_the_app_forward(
    online_app: Callable[..., TrayApplication], desktop: Desktop
) -> None:
    app = online_app(document(seq=1))
    app.activate()
    assert desktop.notifier.shown[-1][1] == "ProfitRinger is already running"
    app.controller.sign_out()
    app.activate()
    assert app.shell.sign_in_dialog.isVisible()


def test_no_timer_ticks_while_idle(online_app: Callable[..., TrayApplication]) -> None:
    app = online_app(document(seq=1))
    app.menu.rebuild()
    active = [timer for timer in app.findChildren(QTimer) if timer.isActive()]
    assert active == []


def test_status_window_messages_can_be_clicked(
    qtbot: Any, online_app: Callable[..., TrayApplication], desktop: Desktop
) -> None:
    app = online_app(document(seq=1), tray_available=False, notifier=None)
    window = app.window
    assert window is not None
    app.bridge.live_message.emit(
        "update", document(seq=2, zoom_state="expired", cause="zoom_expired")
    )
    assert window.message.isVisible()
    assert window.message.text().startswith("Zoom needs reconnecting")
    window.message.click()
    qtbot.waitUntil(lambda: desktop.opened == ["http://127.0.0.1:9/authorize?state=s"])
    assert not window.message.isVisible()
