"""Screenshots on a real X screen with a tray host (run by scripts/screen-test.sh).

Starts the tray against a live relay with Qt on xcb, embeds its icon in
trayer, and saves PNGs of the icon and of the open menu in the main states
under $PROFITRINGER_TEST_OUTPUT (default test-output/).

States the relay can reach without Zoom (signed out, Zoom not connected,
ringer off, offline) are driven through the relay; overridden, available,
paused and unavailable need a connected Zoom (otherwise "Zoom needs action"
shows), so their documents are fed to the tray's live channel directly,
which renders them the same way.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QGuiApplication, QImage, QPixmap
from PySide6.QtWidgets import QSystemTrayIcon

from desktop.app.application import TrayApplication
from desktop.core.wire import iso, now_utc
from tests.client.documents import document
from tests.support.tray import AppFactory, sign_in_through_dialog

pytestmark = pytest.mark.screen

EMAIL = "ada@example.com"
PASSWORD = "screen test password"


#: Each icon's own colour (its fill, or a glyph colour no other icon has), and
#: the share of the icon's pixels that must have it.
ICON_COLOURS: dict[str, tuple[tuple[int, int, int], float]] = {
    "signed_out": ((0xE8, 0xEA, 0xED), 0.2),
    "zoom_action": ((0xF9, 0xAB, 0x00), 0.06),
    "ringer_off": ((0x4D, 0x51, 0x56), 0.06),
    "overridden": ((0x1A, 0x63, 0xC8), 0.06),
    "available": ((0x1E, 0x8E, 0x3E), 0.06),
    "paused": ((0xC2, 0x60, 0x00), 0.06),
    "unavailable": ((0xC5, 0x22, 0x1F), 0.06),
    "offline": ((0x80, 0x86, 0x8B), 0.06),
}


def share_of_colour(image: QImage, colour: tuple[int, int, int]) -> float:
    total = near = 0
    for x in range(image.width()):
        for y in range(image.height()):
            pixel = image.pixelColor(x, y)
            total += 1
            rgb = (pixel.red(), pixel.green(), pixel.blue())
            distance = sum(abs(a - b) for a, b in zip(rgb, colour, strict=True))
            near += distance <= 30
    return near / total if total else 0.0


class Camera:
    def __init__(self, qtbot: Any, app: TrayApplication, output: Path) -> None:
        self.qtbot = qtbot
        self.app = app
        self.output = output
        assert app.tray is not None
        self.tray = app.tray.tray

    def _grab(self, rect: QRect) -> QPixmap:
        screen = QGuiApplication.primaryScreen()
        return screen.grabWindow(0, rect.x(), rect.y(), rect.width(), rect.height())

    def icon_image(self) -> QImage:
        return self._grab(self.tray.geometry()).toImage()

    def shoot(self, name: str) -> None:
        """Save the tray icon, once the screen shows the current state's icon,
        and the open menu."""
        self.qtbot.waitUntil(lambda: self.tray.geometry().width() > 0, timeout=10_000)
        colour, share = ICON_COLOURS[self.app.controller.status().kind]
        self.qtbot.waitUntil(
            lambda: share_of_colour(self.icon_image(), colour) >= share, timeout=10_000
        )
        icon = self.icon_image()
        assert icon.save(str(self.output / f"tray-{name}.png"))
        big = QPixmap.fromImage(icon).scaled(icon.width() * 4, icon.height() * 4)
        assert big.save(str(self.output / f"tray-{name}-x4.png"))

        menu = self.app.menu.menu
        geometry = self.tray.geometry()
        where = QPoint(geometry.left() - 200, geometry.bottom() + 4)
        closed = [time.monotonic()]
        opened = [0.0]

        # Open the menu as a person would, and wait until it is on the screen
        # (mapped is not yet painted; the root window is black where nothing is
        # drawn). A popup closes when it loses the keyboard focus, and the X
        # server reports the focus leaving a popup only after it is unmapped:
        # with the other core busy, the report for the menu just closed arrived
        # after the next one had opened, and closed that one too, over and
        # over. So open it only once Qt has seen the focus leave the last one
        # (or after 3 s, if the report never comes), and open it again if it
        # closes or is not drawn within 2 s.
        def painted() -> None:
            now = time.monotonic()
            if not menu.isVisible():
                focus_left = QGuiApplication.focusWindow() is not menu.windowHandle()
                assert focus_left or now - closed[0] > 3, f"menu {name}: focus not yet left"
                menu.popup(where)
                opened[0] = now
            assert menu.geometry().height() > 100, f"menu {name}: {menu.geometry()}"
            black = share_of_colour(self._grab(menu.geometry()).toImage(), (0, 0, 0))
            if black >= 0.5 and now - opened[0] > 2:
                menu.hide()
                closed[0] = now
            assert black < 0.5, (
                f"menu {name}: visible={menu.isVisible()} geometry={menu.geometry()} "
                f"black={black:.2f}"
            )

        try:
            self.qtbot.waitUntil(painted, timeout=20_000)
        except BaseException:
            QGuiApplication.primaryScreen().grabWindow(0).save(
                str(self.output / f"failed-{name}.png")
            )
            raise
        screen = QGuiApplication.primaryScreen()
        assert screen.grabWindow(0).save(str(self.output / f"screen-{name}.png"))
        assert self._grab(menu.geometry()).save(str(self.output / f"menu-{name}.png"))
        menu.hide()


def test_tray_icon_and_menu_screenshots(
    qtbot: Any, make_app: AppFactory, relay: Any, tmp_path: Path
) -> None:
    output = Path(os.environ.get("PROFITRINGER_TEST_OUTPUT", "test-output"))
    output.mkdir(parents=True, exist_ok=True)
    assert QGuiApplication.platformName() == "xcb"
    qtbot.waitUntil(QSystemTrayIcon.isSystemTrayAvailable, timeout=10_000)
    relay.add_user(EMAIL, PASSWORD)
    app = make_app(backend_url=relay.url, tray_available=None)
    assert app.tray is not None
    app.start()
    camera = Camera(qtbot, app, output)
    controller = app.controller

    def kind() -> str:
        return controller.status().kind

    camera.shoot("signed-out")
    dialog = app.shell.sign_in_dialog
    qtbot.waitExposed(dialog)
    dialog.email.setText(EMAIL)
    assert dialog.grab().save(str(output / "sign-in.png"))
    sign_in_through_dialog(qtbot, app, EMAIL, PASSWORD)
    qtbot.waitUntil(lambda: controller.model.online, timeout=10_000)
    camera.shoot("zoom-needs-action")

    controller.set_ringer(False)
    qtbot.waitUntil(lambda: kind() == "ringer_off", timeout=10_000)
    camera.shoot("ringer-off")
    controller.set_ringer(True)
    qtbot.waitUntil(lambda: kind() == "zoom_action", timeout=10_000)

    # "since" a few minutes ago, today: what the README's picture shows.
    since = iso((now_utc() - timedelta(minutes=12)).replace(second=0, microsecond=0))
    # (picture, status shown, the document's fields)
    updates: list[tuple[str, str, dict[str, Any]]] = [
        ("overridden", "overridden", {"override": {"value": "unavailable", "until": "manual"}}),
        ("available", "available", {}),
        ("paused", "paused", {"in_meeting": True, "cause": "meeting_started"}),
        ("unavailable", "unavailable", {"preferred": "unavailable", "cause": "meeting_ended"}),
        ("zoom-expired", "zoom_action", {"zoom_state": "expired", "cause": "zoom_expired"}),
        (
            "zoom-linked-elsewhere",
            "zoom_action",
            {
                "zoom_state": "disconnected",
                "cause": "zoom_linked_elsewhere",
                "zoom_problem": {
                    "code": "zoom_linked_elsewhere",
                    "message": "Zoom ada@zoom.example was connected to another ProfitRinger "
                    "account, and Zoom keeps one connection per Zoom user, so it is no "
                    "longer connected here. Connect Zoom again to connect it to this account.",
                },
            },
        ),
    ]
    for seq, (name, shown_as, fields) in enumerate(updates, start=10_000):
        app.bridge.live_message.emit("update", document(seq=seq, since=since, **fields))
        assert kind() == shown_as
        camera.shoot(name)

    # No browser could open the Zoom link: the window that shows it instead.
    app.shell.show_link("Reconnect Zoom", "https://zoom.us/oauth/authorize?state=example")
    link_window = app.shell.link_window
    assert link_window is not None
    qtbot.waitExposed(link_window)
    assert link_window.grab().save(str(output / "link-window.png"))
    link_window.close()

    relay.stop()
    qtbot.waitUntil(lambda: kind() == "offline", timeout=10_000)
    camera.shoot("offline")
    relay.start()

    shots = sorted(p.name for p in output.glob("tray-*-x4.png"))
    assert len(shots) == 10, shots
