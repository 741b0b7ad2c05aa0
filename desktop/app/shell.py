"""The dialogs and desktop services the menu opens: sign-in, settings,
confirmation, clipboard, diagnostics and quitting.

Each dialog is built (and its module imported) when it is first shown, not at
start: a resumed session never needs the sign-in dialog, and the first paint
is only the icon.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QObject, Slot, qVersion
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QDialog

from desktop.app.autostart import LoginItem
from desktop.app.controller import TrayController
from desktop.app.menu import disconnect_text

if TYPE_CHECKING:
    from desktop.app.link_window import LinkWindow
    from desktop.app.settings import SettingsDialog
    from desktop.app.signin import SignInDialog

log = logging.getLogger(__name__)


def ask_yes_no(title: str, text: str) -> bool:
    # Imported here: QMessageBox and its many enums cost most of a MiB.
    from PySide6.QtWidgets import QMessageBox

    answer = QMessageBox.question(
        None,
        title,
        text,
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel,
    )
    return answer == QMessageBox.StandardButton.Yes


class AppShell(QObject):
    """Opens the app's dialogs; collaborators are injected so tests can drive it."""

    def __init__(
        self,
        controller: TrayController,
        login_item: LoginItem,
        *,
        quit_app: Callable[[], None],
        clipboard: Callable[[str], None],
        confirm: Callable[[str, str], bool] = ask_yes_no,
        log_file: Path | None = None,
        icon: QIcon | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._controller = controller
        self._login_item = login_item
        self._quit_app = quit_app
        self._clipboard = clipboard
        self._confirm = confirm
        self._log_file = log_file
        self._icon = icon
        self._sign_in_dialog: SignInDialog | None = None
        self.settings_dialog: SettingsDialog | None = None
        self.link_window: LinkWindow | None = None
        controller.sign_in_required.connect(self.show_sign_in)
        controller.link_not_opened.connect(self.show_link)
        controller.error.connect(self._on_error)
        controller.notice.connect(self._on_notice)

    @property
    def sign_in_dialog(self) -> SignInDialog:
        """The sign-in dialog, built the first time it is wanted."""
        if self._sign_in_dialog is None:
            from desktop.app.signin import SignInDialog

            self._sign_in_dialog = SignInDialog(self._controller, self._confirm, self._icon)
        return self._sign_in_dialog

    @Slot(str)
    def show_sign_in(self, reason: str = "") -> None:
        dialog = self.sign_in_dialog
        if not dialog.isVisible():
            dialog.prepare(reason)
        elif reason:
            dialog.reason.setText(reason)
            dialog.reason.show()
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()

    @Slot(str, str)
    def show_link(self, purpose: str, url: str) -> None:
        """No browser opened ``url``: show it, with a Copy button and what to do."""
        if self.link_window is None:
            from desktop.app.link_window import LinkWindow

            self.link_window = LinkWindow(self._clipboard, self._icon)
        self.link_window.show_link(purpose, url)

    def show_settings(self) -> None:
        from desktop.app.settings import SettingsDialog

        settings = self._controller.settings
        settings.start_at_login = self._login_item.is_enabled()
        dialog = SettingsDialog(
            settings,
            signed_in_as=settings.email if self._controller.signed_in else None,
            device_name=self._controller.device_name,
        )
        self.settings_dialog = dialog

        def finished(result: int) -> None:
            if result == QDialog.DialogCode.Accepted:
                dialog.apply_to(settings)
                try:
                    self._login_item.set_enabled(settings.start_at_login)
                except OSError as problem:
                    self._on_error("Cannot change start at login", str(problem))
                self._controller.apply_settings(settings)
            dialog.deleteLater()
            self.settings_dialog = None

        dialog.finished.connect(finished)
        dialog.open()

    def confirm_disconnect_zoom(self, zoom_email: str | None) -> bool:
        return self._confirm("Disconnect Zoom", disconnect_text(zoom_email))

    def diagnostics(self) -> str:
        from desktop.client.diagnostics import diagnostics_text

        controller = self._controller
        return diagnostics_text(
            backend_url=controller.settings.backend_url,
            email=controller.settings.email if controller.signed_in else None,
            device_name=controller.device_name,
            model=controller.model,
            now=controller.now(),
            log_file=self._log_file,
            keyring_note=controller.keyring_note,
            extra_versions={"qt": qVersion(), "pyside6": pyside_version},
        )

    def copy_diagnostics(self) -> None:
        self._clipboard(self.diagnostics())
        self._controller.notifier.show(
            "info", "Diagnostics copied", "Paste them into your support request."
        )

    def quit(self) -> None:
        self._quit_app()

    def close(self) -> None:
        """Close and delete the dialogs (at quit)."""
        for dialog in (self._sign_in_dialog, self.settings_dialog, self.link_window):
            if dialog is not None:
                dialog.close()
                dialog.deleteLater()
        self.settings_dialog = None
        self.link_window = None

    @Slot(str, str)
    def _on_error(self, title: str, message: str) -> None:
        self._controller.notifier.show("warning", title, message)

    @Slot(str, str)
    def _on_notice(self, title: str, message: str) -> None:
        self._controller.notifier.show("warning", title, message)
