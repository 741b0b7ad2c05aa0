"""The folders the tray, the relay and the demo use by default, from platformdirs.

On Linux these are the XDG folders under the name ``profitringer``
(``~/.config/profitringer``, ``~/.local/share/profitringer``,
``~/.local/state/profitringer/log``), as they have always been; on macOS and
Windows the platform's own folders under ``ProfitRinger``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final

import platformdirs

#: The folder name: lower case on XDG desktops, as the XDG folders are.
APP_NAME: Final = (
    "ProfitRinger" if sys.platform == "darwin" or sys.platform == "win32" else "profitringer"
)


def user_config_dir() -> Path:
    """Settings (roaming on Windows)."""
    return platformdirs.user_config_path(APP_NAME, appauthor=False, roaming=True)


def user_data_dir() -> Path:
    """Data that must not be lost: the relay's and the demo's below it."""
    return platformdirs.user_data_path(APP_NAME, appauthor=False)


def user_log_dir() -> Path:
    return platformdirs.user_log_path(APP_NAME, appauthor=False)
