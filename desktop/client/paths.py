"""Where the tray keeps its settings and log, per platform, with overrides.

``PROFITRINGER_CONFIG_DIR`` and ``PROFITRINGER_LOG_DIR`` override the platform
defaults, so tests and portable setups never touch the person's home.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Final

APP_DIR_NAME: Final = "ProfitRinger"


def _home(env: Mapping[str, str]) -> Path:
    return Path(env.get("HOME") or env.get("USERPROFILE") or Path.home())


def config_dir(env: Mapping[str, str] | None = None, platform: str | None = None) -> Path:
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if override := env.get("PROFITRINGER_CONFIG_DIR"):
        return Path(override)
    if platform == "win32":
        base = env.get("APPDATA")
        return (Path(base) if base else _home(env) / "AppData" / "Roaming") / APP_DIR_NAME
    if platform == "darwin":
        return _home(env) / "Library" / "Application Support" / APP_DIR_NAME
    xdg = env.get("XDG_CONFIG_HOME")
    return (Path(xdg) if xdg else _home(env) / ".config") / "profitringer"


def log_dir(env: Mapping[str, str] | None = None, platform: str | None = None) -> Path:
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if override := env.get("PROFITRINGER_LOG_DIR"):
        return Path(override)
    if platform == "win32":
        base = env.get("LOCALAPPDATA")
        root = Path(base) if base else _home(env) / "AppData" / "Local"
        return root / APP_DIR_NAME / "Logs"
    if platform == "darwin":
        return _home(env) / "Library" / "Logs" / APP_DIR_NAME
    xdg = env.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg else _home(env) / ".local" / "state") / "profitringer" / "log"
