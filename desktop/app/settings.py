"""The tray's settings: a small JSON file in the config dir, and its dialog.

Nothing secret lives here: the session token is in the keyring
(``desktop/client/credentials.py``). The file holds the backend URL and email
of the last sign-in, which notifications the person wants, and "start at login".
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from desktop.client.api import DEFAULT_BACKEND, redact_url
from desktop.client.notifications import NotificationPrefs

log = logging.getLogger(__name__)

SETTINGS_FILE = "settings.json"


@dataclass
class AppSettings:
    backend_url: str = DEFAULT_BACKEND
    email: str = ""
    notify_paused: bool = True
    notify_resumed: bool = True
    notify_zoom_reconnect: bool = True
    start_at_login: bool = False
    #: The plain-http backend the person chose to use despite the warning
    #: (``desktop.client.api.plain_http_risk``); empty if none.
    plain_http_confirmed: str = ""

    @property
    def notification_prefs(self) -> NotificationPrefs:
        return NotificationPrefs(
            paused=self.notify_paused,
            resumed=self.notify_resumed,
            zoom_reconnect=self.notify_zoom_reconnect,
        )


class SettingsStore:
    """Loads and saves :class:`AppSettings` as JSON under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / SETTINGS_FILE

    def load(self) -> AppSettings:
        try:
            raw: Any = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return AppSettings()
        except (OSError, ValueError) as exc:
            log.warning("settings file unreadable, using defaults: %s", exc)
            return AppSettings()
        settings = AppSettings()
        if isinstance(raw, dict):
            for item in fields(AppSettings):
                value = raw.get(item.name)
                if isinstance(value, type(getattr(settings, item.name))):
                    setattr(settings, item.name, value)
        return settings

    def save(self, settings: AppSettings) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(settings), indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, self.path)
        with contextlib.suppress(OSError):
            self.path.chmod(0o600)


class SettingsDialog(QDialog):
    """Notifications on/off per kind and "start at login".

    The caller reads :meth:`apply_to` after the dialog is accepted.
    """

    def __init__(
        self,
        settings: AppSettings,
        parent: QWidget | None = None,
        *,
        signed_in_as: str | None = None,
        device_name: str = "",
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("ProfitRinger settings")
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Backend: {redact_url(settings.backend_url)}"))
        who = f"Signed in as {signed_in_as}" if signed_in_as else "Not signed in"
        self.account = QLabel(
            f"{who}. This computer appears in your account's sign-ins as “{device_name}”."
            if device_name
            else f"{who}."
        )
        self.account.setObjectName("account")
        self.account.setWordWrap(True)
        layout.addWidget(self.account)
        layout.addWidget(QLabel("Notify me when:"))
        self.paused = QCheckBox("a Zoom meeting pauses my ringer")
        self.paused.setChecked(settings.notify_paused)
        self.resumed = QCheckBox("my ringer resumes after a meeting")
        self.resumed.setChecked(settings.notify_resumed)
        self.zoom = QCheckBox("Zoom needs reconnecting")
        self.zoom.setChecked(settings.notify_zoom_reconnect)
        self.start_at_login = QCheckBox("Start ProfitRinger when I log in")
        self.start_at_login.setChecked(settings.start_at_login)
        for box in (self.paused, self.resumed, self.zoom, self.start_at_login):
            layout.addWidget(box)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def apply_to(self, settings: AppSettings) -> None:
        settings.notify_paused = self.paused.isChecked()
        settings.notify_resumed = self.resumed.isChecked()
        settings.notify_zoom_reconnect = self.zoom.isChecked()
        settings.start_at_login = self.start_at_login.isChecked()
