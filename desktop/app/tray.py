"""The tray icon: icon and tooltip follow the controller's status; its menu is
the shared :class:`desktop.app.menu.TrayMenu`."""

from __future__ import annotations

from PySide6.QtCore import QObject, Slot
from PySide6.QtGui import QCursor
from PySide6.QtWidgets import QSystemTrayIcon

from desktop.app.controller import TrayController
from desktop.app.icons import IconSet
from desktop.app.menu import Shell, TrayMenu
from desktop.app.notifier import Notifier
from desktop.client.presentation import TrayStatus


class TrayIcon(QObject):
    """Draws the status into a QSystemTrayIcon. No timers: it redraws only
    when the controller reports a new status."""

    def __init__(
        self,
        tray: QSystemTrayIcon,
        controller: TrayController,
        shell: Shell,
        icons: IconSet,
        notifier: Notifier,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.tray = tray
        self._controller = controller
        self._icons = icons
        self._notifier = notifier
        self.menu = TrayMenu(controller, shell)
        tray.setContextMenu(self.menu.menu)
        controller.status_changed.connect(self.render)
        tray.messageClicked.connect(self._on_message_clicked)
        tray.activated.connect(self._on_activated)
        self.render(controller.status())

    @Slot(object)
    def render(self, status: TrayStatus) -> None:
        self.status = status
        self.tray.setIcon(self._icons.icon(status.icon))
        self.tray.setToolTip(status.tooltip)

    def show(self) -> None:
        self.tray.show()

    def hide(self) -> None:
        self.tray.hide()

    @Slot()
    def _on_message_clicked(self) -> None:
        self._controller.notification_clicked(self._notifier.last_kind)

    @Slot(QSystemTrayIcon.ActivationReason)
    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.menu.menu.popup(QCursor.pos())
