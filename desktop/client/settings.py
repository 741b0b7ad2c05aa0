"""The tray's settings: a small JSON file in the config dir.

Nothing secret lives here: the session token is in the keyring
(``desktop/client/credentials.py``). The file holds the backend URL and email
of the last sign-in, which notifications the person wants, and "start at login".
The dialog that edits them is ``desktop/app/settings.py``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from desktop.client.api import DEFAULT_BACKEND
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
