"""The tray on a session bus, on a real X screen (run by scripts/screen-test.sh
in its second phase, under dbus-run-session).

The desktop there is Debian's ``status-notifier-watcher`` with
``gtk-sni-tray-standalone`` as the StatusNotifierItem host, ``dunst`` as the
notification server, and GNOME Keyring as the Secret Service: what a
KDE/XFCE/GNOME-with-AppIndicator session offers the tray. The tray's item must
register with the watcher, its tooltip must carry the state in words, a pause
and a resume must each send one ``org.freedesktop.Notifications.Notify``, and a
second start must resume the session from GNOME Keyring without asking.
Everything is read back over D-Bus with ``gdbus`` and ``dbus-monitor``, as
another program on that desktop would see it. Screenshots go to
$PROFITRINGER_TEST_OUTPUT.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from keyring.backends import SecretService
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QSystemTrayIcon

from desktop.client.credentials import SERVICE_NAME, TokenKeyring
from tests.client.documents import document
from tests.support.tray import AppFactory, sign_in_through_dialog


def keep_qt_running(milliseconds: int = 20) -> None:
    """Run Qt's event loop for a moment: the asking interval of the waits
    below, during which the tray keeps answering D-Bus (wait_until's sleep
    would block it)."""
    loop = QEventLoop()
    QTimer.singleShot(milliseconds, loop.quit)
    loop.exec()


def wait_for(predicate: Callable[[], object], what: str, timeout: float = 15.0) -> None:
    """Ask again until true, with Qt's event loop running in between."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not met within {timeout} s")
        keep_qt_running()


pytestmark = [pytest.mark.screen, pytest.mark.screen_bus]

EMAIL = "ada@example.com"
PASSWORD = "screen test password"
WATCHER = ("org.kde.StatusNotifierWatcher", "/StatusNotifierWatcher")


def output_dir() -> Path:
    output = Path(os.environ.get("PROFITRINGER_TEST_OUTPUT", "test-output"))
    output.mkdir(parents=True, exist_ok=True)
    return output


def run_while_qt_answers(argv: list[str]) -> tuple[int, str]:
    """Run a D-Bus client while Qt's event loop keeps running: the tray answers
    D-Bus calls on the Qt thread, so blocking it would stall the call."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 30
    while process.poll() is None:
        if time.monotonic() > deadline:
            process.kill()
            break
        keep_qt_running()
    output, _ = process.communicate(timeout=30)
    return process.returncode, output


def gdbus_get(service: str, path: str, interface: str, name: str) -> str:
    code, output = run_while_qt_answers(
        [
            "gdbus", "call", "--session", "--dest", service, "--object-path", path,
            "--method", "org.freedesktop.DBus.Properties.Get", interface, name,
        ]
    )  # fmt: skip
    return output if code == 0 else ""


def registered_items() -> list[str]:
    """What the watcher lists: ``<bus name>/<object path>`` or a bus name."""
    answer = gdbus_get(*WATCHER, "org.kde.StatusNotifierWatcher", "RegisteredStatusNotifierItems")
    return re.findall(r"'([^']+)'", answer)


def item_tooltip(item: str) -> str:
    service, _, path = item.partition("/")
    answer = gdbus_get(
        service,
        "/" + path if path else "/StatusNotifierItem",
        "org.kde.StatusNotifierItem",
        "ToolTip",
    )
    return answer


def shoot(name: str) -> None:
    """The screen: the host's bar with the tray's icon. (dunst's popups are
    mapped, as xwininfo shows, but do not appear in a grab of Xvfb's root
    window; the Notify calls are counted on the bus instead.)"""
    screen = QGuiApplication.primaryScreen()
    assert screen.grabWindow(0).save(str(output_dir() / f"sni-{name}.png"))


class NotifyMonitor:
    """Counts Notify calls on the session bus, with ``dbus-monitor``."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [
                "dbus-monitor", "--session",
                "type='method_call',interface='org.freedesktop.Notifications'",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._lock:
                self.lines.append(line)

    def count(self, member: str) -> int:
        with self._lock:
            return sum(
                1
                for line in self.lines
                if line.startswith("method call") and f"member={member}" in line
            )

    def barrier(self) -> None:
        """Wait until the monitor has seen everything sent before now: it
        shows a call made after them, from another process, after them."""
        seen = self.count("GetServerInformation")
        code, _ = run_while_qt_answers(
            [
                "gdbus", "call", "--session", "--dest", "org.freedesktop.Notifications",
                "--object-path", "/org/freedesktop/Notifications",
                "--method", "org.freedesktop.Notifications.GetServerInformation",
            ]
        )  # fmt: skip
        assert code == 0
        wait_for(lambda: self.count("GetServerInformation") > seen, "the monitor caught up")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)
        self._reader.join(30)
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture
def notify_monitor() -> Iterator[NotifyMonitor]:
    monitor = NotifyMonitor()
    try:
        monitor.barrier()  # the monitor is listening
        yield monitor
    finally:
        monitor.stop()


def test_the_item_registers_says_its_state_and_notifies_once_per_change(
    qtbot: Any, make_app: AppFactory, relay: Any, notify_monitor: NotifyMonitor
) -> None:
    assert QGuiApplication.platformName() == "xcb"
    wait_for(
        lambda: (
            "true"
            in gdbus_get(
                *WATCHER, "org.kde.StatusNotifierWatcher", "IsStatusNotifierHostRegistered"
            )
        ),
        "the StatusNotifierItem host registered",
    )
    qtbot.waitUntil(QSystemTrayIcon.isSystemTrayAvailable, timeout=10_000)
    assert registered_items() == []
    relay.add_user(EMAIL, PASSWORD)
    # The real notifier: its messages go to dunst over D-Bus.
    app = make_app(backend_url=relay.url, tray_available=None, notifier=None)
    assert app.tray is not None
    app.start()
    wait_for(lambda: len(registered_items()) == 1, "the tray's item registered")
    [item] = registered_items()
    wait_for(
        lambda: "ProfitRinger: signed out" in item_tooltip(item), "the tooltip says signed out"
    )
    sign_in_through_dialog(qtbot, app, EMAIL, PASSWORD)
    qtbot.waitUntil(lambda: app.controller.model.online, timeout=10_000)
    wait_for(lambda: "Zoom: not connected" in item_tooltip(item), "the tooltip names Zoom")

    app.bridge.live_message.emit("update", document(seq=10_000, cause="zoom_connected"))
    wait_for(lambda: "ProfitRinger: Available since" in item_tooltip(item), "available")
    shoot("available")
    notify_monitor.barrier()
    assert notify_monitor.count("Notify") == 0

    app.bridge.live_message.emit(
        "update", document(seq=10_001, in_meeting=True, cause="meeting_started")
    )
    wait_for(lambda: "Paused" in item_tooltip(item), "the tooltip says paused")
    wait_for(lambda: notify_monitor.count("Notify") >= 1, "the pause notified")
    notify_monitor.barrier()
    assert notify_monitor.count("Notify") == 1
    shoot("paused")

    app.bridge.live_message.emit("update", document(seq=10_002, cause="meeting_ended"))
    wait_for(lambda: "ProfitRinger: Available since" in item_tooltip(item), "resumed")
    wait_for(lambda: notify_monitor.count("Notify") >= 2, "the resume notified")
    shoot("resumed")
    app.close()
    notify_monitor.barrier()
    assert notify_monitor.count("Notify") == 2
    wait_for(lambda: registered_items() == [], "the item went away at quit")


def test_a_second_start_resumes_from_gnome_keyring_without_asking(
    qtbot: Any, make_app: AppFactory, relay: Any, tmp_path: Path
) -> None:
    secret_service = SecretService.Keyring()
    config = tmp_path / "config"
    relay.add_user(EMAIL, PASSWORD)
    first = make_app(
        config_dir=config,
        backend_url=relay.url,
        tray_available=None,
        keyring=TokenKeyring(backend=secret_service),
    )
    first.start()
    dialog = first.shell.sign_in_dialog
    qtbot.waitExposed(dialog)
    dialog.email.setText(EMAIL)
    assert dialog.grab().save(str(output_dir() / "sni-sign-in.png"))
    sign_in_through_dialog(qtbot, first, EMAIL, PASSWORD)
    qtbot.waitUntil(lambda: first.controller.model.online, timeout=10_000)
    first.close()
    stored = subprocess.run(
        ["secret-tool", "search", "--all", "service", SERVICE_NAME],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    # Only the attribute lines: the others hold the token itself.
    attributes = [
        line
        for line in (stored.stdout + stored.stderr).splitlines()
        if line.startswith("attribute.")
    ]
    assert f"attribute.username = {relay.url}|{EMAIL}" in attributes, attributes

    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHON_KEYRING_BACKEND", "QT_QPA_PLATFORM")
    }
    env["QT_QPA_PLATFORM"] = "xcb"
    second = subprocess.run(
        [
            sys.executable, "-m", "desktop", "--quit-after-start",
            "--config-dir", str(config), "--log-dir", str(tmp_path / "log"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert second.returncode == 0, second.stdout + second.stderr
    assert "ProfitRinger started in the tray: Connecting…" in second.stdout, second.stdout
    log = (tmp_path / "log" / "profitringer.log").read_text()
    assert f"resuming the session of {EMAIL}" in log
    assert "Cannot remember your sign-in" not in log
