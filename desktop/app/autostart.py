"""Start at login, the native way on each platform, from one setting.

- Linux and other XDG desktops: ``$XDG_CONFIG_HOME/autostart/profitringer.desktop``.
- macOS: a LaunchAgent ``~/Library/LaunchAgents/com.profitringer.desktop.plist``.
- Windows: a value in ``HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run``.

The home and config dirs and the Windows registry are injected, so tests
write to a temporary directory and a dict.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Protocol

DESKTOP_FILE: Final = "profitringer.desktop"
LAUNCH_AGENT_LABEL: Final = "com.profitringer.desktop"
RUN_VALUE_NAME: Final = "ProfitRinger Desktop"
RUN_KEY_PATH: Final = r"Software\Microsoft\Windows\CurrentVersion\Run"


def default_command() -> list[str]:
    """How to start this app again: the frozen binary, or this Python with -m."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "desktop"]


class RunKey(Protocol):
    """The few registry operations the Windows login item needs."""

    def get(self, name: str) -> str | None: ...

    def set(self, name: str, command: str) -> None: ...

    def delete(self, name: str) -> None: ...


class WindowsRunKey:  # pragma: no cover - only on Windows
    """``HKCU\\...\\Run`` through winreg."""

    def __init__(self) -> None:
        self._winreg: Any = importlib.import_module("winreg")

    def _open(self, write: bool) -> Any:
        reg = self._winreg
        access = reg.KEY_SET_VALUE | reg.KEY_QUERY_VALUE if write else reg.KEY_READ
        return reg.CreateKeyEx(reg.HKEY_CURRENT_USER, RUN_KEY_PATH, 0, access)

    def get(self, name: str) -> str | None:
        with self._open(False) as key:
            try:
                value, _ = self._winreg.QueryValueEx(key, name)
            except FileNotFoundError:
                return None
            return str(value)

    def set(self, name: str, command: str) -> None:
        with self._open(True) as key:
            self._winreg.SetValueEx(key, name, 0, self._winreg.REG_SZ, command)

    def delete(self, name: str) -> None:
        with self._open(True) as key, contextlib.suppress(FileNotFoundError):
            self._winreg.DeleteValue(key, name)


class LoginItem:
    """Turns "start at login" on and off for the current user."""

    def __init__(
        self,
        command: Sequence[str] | None = None,
        *,
        platform: str | None = None,
        home: Path | None = None,
        env: Mapping[str, str] | None = None,
        run_key: RunKey | None = None,
    ) -> None:
        self.command = list(command or default_command())
        self.platform = sys.platform if platform is None else platform
        self._env = os.environ if env is None else env
        self._home = home or Path(self._env.get("HOME") or Path.home())
        self._run_key = run_key

    @property
    def path(self) -> Path | None:
        """The file that makes the app start at login (``None`` on Windows)."""
        if self.platform == "win32":
            return None
        if self.platform == "darwin":
            return self._home / "Library" / "LaunchAgents" / f"{LAUNCH_AGENT_LABEL}.plist"
        xdg = self._env.get("XDG_CONFIG_HOME")
        base = Path(xdg) if xdg else self._home / ".config"
        return base / "autostart" / DESKTOP_FILE

    def _registry(self) -> RunKey:
        if self._run_key is None:
            self._run_key = WindowsRunKey()
        return self._run_key

    def is_enabled(self) -> bool:
        if self.platform == "win32":
            return self._registry().get(RUN_VALUE_NAME) is not None
        path = self.path
        return path is not None and path.exists()

    def set_enabled(self, enabled: bool) -> None:
        if enabled:
            self.enable()
        else:
            self.disable()

    def enable(self) -> None:
        if self.platform == "win32":
            self._registry().set(RUN_VALUE_NAME, subprocess.list2cmdline(self.command))
            return
        path = self.path
        assert path is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.platform == "darwin":
            plist = {
                "Label": LAUNCH_AGENT_LABEL,
                "ProgramArguments": self.command,
                "RunAtLoad": True,
                "ProcessType": "Interactive",
            }
            import plistlib  # macOS only; it brings an XML parser

            path.write_bytes(plistlib.dumps(plist))
        else:
            path.write_text(self._desktop_entry(), encoding="utf-8")

    def disable(self) -> None:
        if self.platform == "win32":
            self._registry().delete(RUN_VALUE_NAME)
            return
        path = self.path
        if path is not None:
            path.unlink(missing_ok=True)

    def _desktop_entry(self) -> str:
        return (
            "[Desktop Entry]\n"
            "Type=Application\n"
            "Name=ProfitRinger\n"
            "Comment=Pauses your ringer while you are in a Zoom meeting\n"
            f"Exec={shlex.join(self.command)}\n"
            "Icon=profitringer\n"
            "Terminal=false\n"
            "X-GNOME-Autostart-enabled=true\n"
        )
