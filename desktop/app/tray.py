"""The tray icon: icon and tooltip follow the controller's status; its menu is
the shared :class:`desktop.app.menu.TrayMenu`."""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Slot
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
        #: A messageClicked waiting to learn whether it was the icon's click.
        self.message_click_pending = False
        self._icon_clicked = False
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
        # Qt also reports messageClicked when the *icon* is clicked while a
        # message shows ("we follow Windows"), from the same mouse event as the
        # icon's activation. Decide once that event is handled: only a click
        # that was not on the icon acts on the message.
        if not self.message_click_pending:
            self.message_click_pending = True
            self._icon_clicked = False
            QTimer.singleShot(0, self._settle_message_click)

    def _settle_message_click(self) -> None:
        self.message_click_pending = False
        if not self._icon_clicked:
            self._controller.notification_clicked(self._notifier.last_kind)

    @Slot(QSystemTrayIcon.ActivationReason)
    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
            QSystemTrayIcon.ActivationReason.MiddleClick,
            QSystemTrayIcon.ActivationReason.Context,
        ):
            self._icon_clicked = True
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.menu.menu.popup(QCursor.pos())
