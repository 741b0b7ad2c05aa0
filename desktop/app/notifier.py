"""Showing notifications: an interface, so tests can record what would be shown.

*Whether* to notify is decided in ``desktop/client/notifications.py``; these
classes only display.
"""

from __future__ import annotations

from typing import Protocol

from PySide6.QtWidgets import QSystemTrayIcon


class Notifier(Protocol):
    """Shows one message to the person. ``kind`` says what it is about
    (``paused``, ``resumed``, ``zoom_reconnect``, ``meeting_link``, ``info``,
    ``warning``), so a click can be routed to the right action.

    ``last_kind`` is the kind of the last message shown: a tray reports a click
    on a message without saying which one.
    """

    last_kind: str | None

    def show(self, kind: str, title: str, body: str) -> None: ...


class TrayNotifier:
    """Notifications as tray balloons or desktop notifications.

    ``last_kind`` remembers what the last message was about, because
    QSystemTrayIcon reports a click without saying which message was clicked.
    """

    def __init__(self, tray: QSystemTrayIcon, timeout_ms: int = 8000) -> None:
        self._tray = tray
        self._timeout_ms = timeout_ms
        self.last_kind: str | None = None

    def show(self, kind: str, title: str, body: str) -> None:
        self.last_kind = kind
        icon = (
            QSystemTrayIcon.MessageIcon.Warning
            if kind in ("zoom_reconnect", "warning")
            else QSystemTrayIcon.MessageIcon.Information
        )
        self._tray.showMessage(title, body, icon, self._timeout_ms)


class RecordingNotifier:
    """Keeps every message instead of showing it (tests, and headless runs)."""

    def __init__(self) -> None:
        self.shown: list[tuple[str, str, str]] = []
        self.last_kind: str | None = None

    def show(self, kind: str, title: str, body: str) -> None:
        self.last_kind = kind
        self.shown.append((kind, title, body))

    def kinds(self) -> list[str]:
        return [kind for kind, _, _ in self.shown]
