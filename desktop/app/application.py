"""The composition root: builds the tray app from its parts.

Everything a test wants to replace — keyring, notifier, browser, clipboard,
confirmation, login item, clock, timings, whether a tray exists — comes in
through :class:`TrayApplication`'s constructor.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QObject, QUrl, Slot
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from desktop.app.autostart import LoginItem
from desktop.app.bridge import AsyncBridge
from desktop.app.controller import ClientFactory, TrayController
from desktop.app.icons import IconSet
from desktop.app.menu import TrayMenu
from desktop.app.notifier import Notifier, TrayNotifier
from desktop.app.shell import AppShell, ask_yes_no
from desktop.app.status_window import StatusWindow, WindowNotifier
from desktop.app.tray import TrayIcon
from desktop.app.wake import WakeWatcher
from desktop.client.api import RelayClient, normalize_backend_url
from desktop.client.credentials import TokenKeyring
from desktop.client.live import Backoff
from desktop.client.settings import SettingsStore
from desktop.core.wire import now_utc

log = logging.getLogger(__name__)

#: The icon of the app's own windows: the ringer when all is well.
APP_ICON = "available"


def open_in_browser(url: str) -> bool:
    return QDesktopServices.openUrl(QUrl(url))


def copy_to_clipboard(text: str) -> None:
    clipboard = QGuiApplication.clipboard()
    clipboard.setText(text)


@dataclass
class AppOptions:
    config_dir: Path
    backend_url: str | None = None
    log_file: Path | None = None
    #: ``None``: use the system tray if the desktop has one.
    tray_available: bool | None = None
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    backoff: Backoff | None = None
    watch_system_bus: bool = True


class TrayApplication(QObject):
    """The whole tray app, built and wired, not yet started."""

    def __init__(
        self,
        options: AppOptions,
        *,
        keyring: TokenKeyring | None = None,
        notifier: Notifier | None = None,
        wrap_notifier: Callable[[Notifier], Notifier] | None = None,
        browser: Callable[[str], object] = open_in_browser,
        clipboard: Callable[[str], None] = copy_to_clipboard,
        confirm: Callable[[str, str], bool] = ask_yes_no,
        login_item: LoginItem | None = None,
        quit_app: Callable[[], None] | None = None,
        clock: Callable[[], datetime] = now_utc,
        client_factory: ClientFactory = RelayClient,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.options = options
        self._closed = False
        store = SettingsStore(options.config_dir)
        settings = store.load()
        if options.backend_url:
            settings.backend_url = normalize_backend_url(options.backend_url)
        self.bridge = AsyncBridge(
            self,
            ping_interval=options.ping_interval,
            ping_timeout=options.ping_timeout,
            backoff=options.backoff,
        )
        use_tray = (
            QSystemTrayIcon.isSystemTrayAvailable()
            if options.tray_available is None
            else options.tray_available
        )
        self.icons = IconSet()
        self.tray: TrayIcon | None = None
        self.window: StatusWindow | None = None
        qt_tray = QSystemTrayIcon(self) if use_tray else None
        window_notifier = WindowNotifier()
        default_notifier: Notifier = (
            TrayNotifier(qt_tray) if qt_tray is not None else window_notifier
        )
        # ``wrap_notifier`` decorates whichever notifier is chosen (the demo
        # narrates every notification in the terminal as well).
        chosen = notifier or default_notifier
        self.notifier: Notifier = wrap_notifier(chosen) if wrap_notifier else chosen
        self.controller = TrayController(
            self.bridge,
            store,
            keyring or TokenKeyring(),
            self.notifier,
            browser=browser,
            clipboard=clipboard,
            clock=clock,
            client_factory=client_factory,
            settings=settings,
            parent=self,
        )
        self.shell = AppShell(
            self.controller,
            login_item or LoginItem(),
            quit_app=quit_app or QApplication.quit,
            clipboard=clipboard,
            confirm=confirm,
            log_file=options.log_file,
            icon=self.icons.icon(APP_ICON),
            parent=self,
        )
        if qt_tray is not None:
            self.tray = TrayIcon(qt_tray, self.controller, self.shell, self.icons, self.notifier)
        else:
            self.window = StatusWindow(self.controller, self.shell, self.icons, window_notifier)
        self.wake = WakeWatcher(self, use_system_bus=options.watch_system_bus)
        self.wake.woke.connect(self.controller.wake)
        self.bridge.live_offline.connect(self._watch_network)

    @property
    def menu(self) -> TrayMenu:
        """The menu the person sees, in the tray or in the status window."""
        if self.tray is not None:
            return self.tray.menu
        assert self.window is not None
        return self.window.menu

    def start(self) -> None:
        if self.tray is not None:
            self.tray.show()
        if self.window is not None:
            self.window.show()
        self.controller.start()

    @Slot(object, str)
    def _watch_network(self, since: datetime, reason: str) -> None:
        """Offline: from now on a returning network retries the socket at once."""
        self.wake.watch_network()

    @Slot()
    def activate(self) -> None:
        """Another start of the app asked this one to come forward."""
        if not self.controller.signed_in:
            self.shell.show_sign_in("")
        elif self.window is not None:
            self.window.showNormal()
            self.window.raise_()
            self.window.activateWindow()
        else:
            status = self.controller.status()
            self.notifier.show("info", "ProfitRinger is already running", status.title)

    def close(self) -> None:
        """Stop the client thread and take everything off the screen.

        Top-level widgets have no Qt parent, so they are deleted here, on the
        Qt thread, rather than whenever Python's collector gets to them.
        Safe to call twice.
        """
        if self._closed:
            return
        self._closed = True
        self.bridge.close()
        if self.tray is not None:
            self.tray.hide()
        if self.window is not None:
            self.window.hide()
            self.window.deleteLater()
        self.shell.close()
