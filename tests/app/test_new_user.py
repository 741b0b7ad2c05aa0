"""What a new user tripped over in the tray (issue 15), each pinned by a test."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSystemTrayIcon

from desktop.app.application import TrayApplication
from desktop.client.api import RelayClient
from desktop.client.credentials import TokenKeyring
from desktop.client.settings import AppSettings, SettingsStore
from tests.app.conftest import FakeRelay
from tests.client.documents import document
from tests.support.tray import AppFactory, Desktop

EMAIL = "race@example.com"
PASSWORD = "correct horse battery"


def test_enter_in_the_sign_in_dialog_signs_in(qtbot: Any, make_app: AppFactory, relay: Any) -> None:
    relay.add_user(EMAIL, PASSWORD)
    app = make_app(backend_url=relay.url)
    app.start()
    dialog = app.shell.sign_in_dialog
    qtbot.waitExposed(dialog)
    dialog.email.setText(EMAIL)
    dialog.password.setText(PASSWORD)
    dialog.password.setFocus()
    assert dialog.sign_in_button.isDefault()
    with qtbot.waitSignal(dialog.signed_in, timeout=10_000):
        qtbot.keyClick(dialog.password, Qt.Key.Key_Return)
    assert app.controller.signed_in


def test_the_sign_in_dialog_fits_what_it_asks_for(
    qtbot: Any, make_app: AppFactory, relay: Any
) -> None:
    app = make_app(backend_url=relay.url)
    app.start()
    dialog = app.shell.sign_in_dialog
    qtbot.waitExposed(dialog)
    assert dialog.windowTitle() == "Sign in to ProfitRinger"
    assert not dialog.windowIcon().isNull()
    assert dialog.width() >= 420
    assert "relay" in dialog.backend_help.text()
    dialog.email.setText(EMAIL)
    for field in (dialog.backend, dialog.email):
        text_width = field.fontMetrics().horizontalAdvance(field.text())
        assert text_width < field.width() - 12, (field.objectName(), field.width())


def test_connect_without_a_browser_shows_the_link_to_copy(
    qtbot: Any, online_app: Callable[..., TrayApplication], desktop: Desktop
) -> None:
    app = online_app(document(seq=1, zoom_state="disconnected"))

    def no_browser(url: str) -> bool:
        desktop.opened.append(url)
        return False  # what QDesktopServices.openUrl says when no browser starts

    app.controller._browser = no_browser
    app.menu.rebuild()
    app.menu.action("zoom.connect").trigger()  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: app.shell.link_window is not None, timeout=10_000)
    window = app.shell.link_window
    assert window is not None
    qtbot.waitExposed(window)
    assert window.link.text() == "http://127.0.0.1:9/authorize?state=s"
    assert "copy this link" in window.explanation.text()
    assert "browser" in window.explanation.text()
    window.copy_button.click()
    assert desktop.clipboard == ["http://127.0.0.1:9/authorize?state=s"]
    assert window.copied.isVisible()


def test_a_browser_that_opens_shows_no_link_window(
    qtbot: Any, online_app: Callable[..., TrayApplication], desktop: Desktop
) -> None:
    app = online_app(document(seq=1, zoom_state="disconnected"))
    app.controller.connect_zoom()
    qtbot.waitUntil(lambda: len(desktop.opened) == 1, timeout=10_000)
    assert app.shell.link_window is None


def test_clicking_the_icon_while_a_message_shows_does_not_reconnect(
    qtbot: Any,
    online_app: Callable[..., TrayApplication],
    desktop: Desktop,
    fake_relay: FakeRelay,
) -> None:
    app = online_app(document(seq=1))
    app.bridge.live_message.emit(
        "update", document(seq=2, zoom_state="expired", cause="zoom_expired")
    )
    assert desktop.notifier.last_kind == "zoom_reconnect"
    assert app.tray is not None
    qt_tray = app.tray.tray
    # What Qt does on X11 when the icon is clicked while its balloon shows:
    # messageClicked first ("we follow Windows"), then the activation.
    qt_tray.messageClicked.emit()
    qt_tray.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)
    app.tray.menu.menu.hide()
    tray = app.tray
    qtbot.waitUntil(lambda: not tray.message_click_pending, timeout=5_000)
    # One full round trip through the client thread, after anything a
    # reconnect would have sent.
    app.controller.set_ringer(False)
    qtbot.waitUntil(lambda: len(fake_relay.requests) >= 1, timeout=10_000)
    assert [path for _, path, _ in fake_relay.requests] == ["/api/v1/ringer"]
    assert desktop.opened == []

    # A click on the message itself still reconnects.
    qt_tray.messageClicked.emit()
    qtbot.waitUntil(lambda: desktop.opened == ["http://127.0.0.1:9/authorize?state=s"])


def test_the_first_line_always_gives_the_availability(
    online_app: Callable[..., TrayApplication],
) -> None:
    app = online_app(document(seq=1, zoom_state="expired"))
    menu = app.menu
    menu.rebuild()
    assert menu.action("status").text().startswith("Available since")  # type: ignore[union-attr]
    zoom_line = menu.action("zoom_status")
    assert zoom_line is not None
    assert zoom_line.text() == "Zoom connection expired — reconnect"
    assert app.controller.status().kind == "zoom_action"  # the icon still asks for action

    app.bridge.live_message.emit(
        "update",
        document(seq=2, zoom_state="expired", preferred="unavailable", cause="preferred_changed"),
    )
    menu.rebuild()
    assert menu.action("status").text().startswith("Unavailable since")  # type: ignore[union-attr]
    assert menu.action("zoom_status").text() == "Zoom connection expired — reconnect"  # type: ignore[union-attr]
    assert app.tray is not None
    assert app.tray.tray.toolTip().startswith("ProfitRinger: Unavailable since")

    app.bridge.live_message.emit(
        "update", document(seq=3, zoom_state="disconnected", cause="zoom_disconnected")
    )
    menu.rebuild()
    assert menu.action("zoom_status").text() == "Zoom not connected — connect"  # type: ignore[union-attr]
    app.bridge.live_message.emit("update", document(seq=4, cause="zoom_connected"))
    menu.rebuild()
    assert menu.action("zoom_status") is None


def test_the_status_window_gives_availability_and_the_zoom_problem_apart(
    online_app: Callable[..., TrayApplication],
) -> None:
    app = online_app(document(seq=1, zoom_state="expired"), tray_available=False)
    assert app.window is not None
    assert app.window.title.text().startswith("Available since")
    assert "Zoom connection expired — reconnect" in app.window.detail.text()


def test_the_availability_choice_says_it_is_for_outside_meetings(
    online_app: Callable[..., TrayApplication],
) -> None:
    app = online_app(document(seq=1, in_meeting=True, cause="meeting_started"))
    menu = app.menu
    menu.rebuild()
    ids = menu.action_ids()
    heading = menu.action("availability.heading")
    assert heading is not None
    assert heading.text() == "When not in a meeting:"
    assert not heading.isEnabled()
    assert ids.index("availability.heading") + 1 == ids.index("availability.available")
    assert menu.action("status").text().startswith("Paused — in a Zoom meeting")  # type: ignore[union-attr]
    assert menu.action("availability.available").isChecked()  # type: ignore[union-attr]


def test_removal_at_zoom_notifies_and_a_click_connects(
    qtbot: Any, online_app: Callable[..., TrayApplication], desktop: Desktop
) -> None:
    app = online_app(document(seq=1))
    app.bridge.live_message.emit(
        "update", document(seq=2, zoom_state="disconnected", cause="zoom_disconnected")
    )
    assert desktop.notifier.kinds() == ["zoom_reconnect"]
    _, title, body = desktop.notifier.shown[0]
    assert title == "Zoom disconnected"
    assert "meetings no longer pause your ringer" in body
    assert "Click to connect" in body
    assert app.tray is not None
    app.tray.tray.messageClicked.emit()
    qtbot.waitUntil(lambda: desktop.opened == ["http://127.0.0.1:9/authorize?state=s"])


def test_the_meeting_link_message_names_the_topic_not_the_url(
    qtbot: Any, online_app: Callable[..., TrayApplication], desktop: Desktop
) -> None:
    app = online_app(document(seq=1))
    app.controller.new_meeting("Call with Race")
    qtbot.waitUntil(lambda: desktop.clipboard == ["https://zoom.example/j/123"])
    kind, title, body = desktop.notifier.shown[-1]
    assert (kind, title) == ("meeting_link", "Meeting link copied")
    assert body == "The link to “Call with Race” is on the clipboard."
    assert "https://" not in body


def test_plain_http_to_another_machine_needs_the_person_to_confirm(
    qtbot: Any, make_app: AppFactory, desktop: Desktop
) -> None:
    # Another machine, reached as tests reach the network: not at all (the
    # transport refuses as a machine without a route would, and says it was asked).
    attempts: list[str] = []

    def unreachable(request: httpx.Request) -> httpx.Response:
        attempts.append(str(request.url))
        raise httpx.ConnectError("no route to host", request=request)

    def client(url: str, token: str | None) -> RelayClient:
        return RelayClient(url, token, transport=httpx.MockTransport(unreachable))

    app = make_app(backend_url="http://10.255.255.1:8765", client_factory=client)
    app.start()
    dialog = app.shell.sign_in_dialog
    dialog.email.setText(EMAIL)
    dialog.password.setText(PASSWORD)
    desktop.confirm_answer = False
    dialog.sign_in_button.click()
    [(title, warning)] = desktop.confirmations
    assert title == "Unencrypted connection"
    assert "password and session token" in warning
    assert "in the clear" in warning
    assert "Not signed in" in dialog.error_label.text()
    assert dialog.isVisible()
    assert dialog.sign_in_button.isEnabled()
    assert attempts == []  # nothing was sent

    # Confirmed: the attempt goes ahead (and fails here, as tests have no network).
    desktop.confirm_answer = True
    dialog.sign_in_button.click()
    assert len(desktop.confirmations) == 2
    qtbot.waitUntil(lambda: "Cannot reach" in dialog.error_label.text(), timeout=10_000)
    assert attempts == ["http://10.255.255.1:8765/api/v1/sessions"]


def test_a_remembered_plain_http_session_is_not_resumed_unconfirmed(
    qtbot: Any, make_app: AppFactory, tmp_path: Path, memory_keyring: Any
) -> None:
    backend = "http://relay.example.com"
    SettingsStore(tmp_path / "config").save(AppSettings(backend_url=backend, email=EMAIL))
    TokenKeyring().save(backend, EMAIL, "tok")
    app = make_app(config_dir=tmp_path / "config")
    with qtbot.waitSignal(app.controller.sign_in_required) as asked:
        app.start()
    assert "not encrypted" in asked.args[0]
    assert not app.controller.signed_in


def test_a_backend_without_a_scheme_is_https(
    qtbot: Any, make_app: AppFactory, desktop: Desktop
) -> None:
    app = make_app(backend_url="relay.example.com")
    assert app.controller.settings.backend_url == "https://relay.example.com"
