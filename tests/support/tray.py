"""The tray under test: an app built with recorders in place of the desktop
(notifier, browser, clipboard, confirmation, login item). The fixtures here are
imported by the conftest of each test folder that drives the tray."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from desktop.app.application import AppOptions, TrayApplication
from desktop.app.autostart import LoginItem
from desktop.app.notifier import RecordingNotifier
from desktop.client.credentials import TokenKeyring
from desktop.client.live import Backoff

FAST_BACKOFF = Backoff(base=0.05, factor=2.0, cap=0.5, jitter=0.1)


@dataclass
class Desktop:
    """What the app did to the desktop around it."""

    notifier: RecordingNotifier = field(default_factory=RecordingNotifier)
    opened: list[str] = field(default_factory=list)
    clipboard: list[str] = field(default_factory=list)
    confirmations: list[tuple[str, str]] = field(default_factory=list)
    confirm_answer: bool = True
    quits: int = 0

    def confirm(self, title: str, text: str) -> bool:
        self.confirmations.append((title, text))
        return self.confirm_answer

    def quit(self) -> None:
        self.quits += 1


AppFactory = Callable[..., TrayApplication]


@pytest.fixture
def desktop() -> Desktop:
    return Desktop()


@pytest.fixture
def make_app(
    qtbot: Any, tmp_path: Path, memory_keyring: Any, desktop: Desktop
) -> Iterator[AppFactory]:
    """Build (not start) a TrayApplication; every one built is closed after the test."""
    built: list[TrayApplication] = []

    def make(
        *,
        config_dir: Path | None = None,
        backend_url: str | None = None,
        tray_available: bool | None = True,
        keyring: TokenKeyring | None = None,
        backoff: Backoff = FAST_BACKOFF,
        ping_interval: float = 1.0,
        log_file: Path | None = None,
        **kwargs: Any,
    ) -> TrayApplication:
        app = TrayApplication(
            AppOptions(
                config_dir=config_dir or tmp_path / "config",
                backend_url=backend_url,
                log_file=log_file or tmp_path / "log" / "profitringer.log",
                tray_available=tray_available,
                ping_interval=ping_interval,
                ping_timeout=1.0,
                backoff=backoff,
                watch_system_bus=False,
            ),
            keyring=keyring or TokenKeyring(),
            notifier=kwargs.pop("notifier", desktop.notifier),
            browser=desktop.opened.append,
            clipboard=desktop.clipboard.append,
            confirm=desktop.confirm,
            login_item=LoginItem(
                ["profitringer"], platform="linux", home=tmp_path / "home", env={}
            ),
            quit_app=desktop.quit,
            **kwargs,
        )
        built.append(app)
        return app

    yield make
    for app in built:
        app.close()
        app.deleteLater()


def sign_in_through_dialog(qtbot: Any, app: TrayApplication, email: str, password: str) -> None:
    """Fill in and submit the sign-in dialog; wait until it succeeded."""
    dialog = app.shell.sign_in_dialog
    dialog.email.setText(email)
    dialog.password.setText(password)
    with qtbot.waitSignal(dialog.signed_in, timeout=10_000):
        dialog.sign_in_button.click()
