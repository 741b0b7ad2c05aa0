"""A compact status window, for desktops without a system tray.

It shows what the tray icon would — icon, state in words, detail — and offers
the same menu behind a button. Notifications appear in its message line.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from desktop.app.controller import TrayController
from desktop.app.icons import IconSet
from desktop.app.menu import Shell, TrayMenu
from desktop.client.presentation import TrayStatus


class WindowNotifier:
    """Shows notifications in the status window's message line.

    The window is attached after construction, because the controller (which
    needs a notifier) is built before the window (which needs the controller).
    """

    def __init__(self) -> None:
        self.window: StatusWindow | None = None
        self.last_kind: str | None = None
        self.shown: list[tuple[str, str, str]] = []

    def show(self, kind: str, title: str, body: str) -> None:
        self.last_kind = kind
        self.shown.append((kind, title, body))
        if self.window is not None:
            self.window.show_message(kind, title, body)


class StatusWindow(QWidget):
    """The tray's stand-in where ``QSystemTrayIcon.isSystemTrayAvailable()`` is False."""

    def __init__(
        self,
        controller: TrayController,
        shell: Shell,
        icons: IconSet,
        notifier: WindowNotifier,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._controller = controller
        self._shell = shell
        self._icons = icons
        self._notifier = notifier
        notifier.window = self
        self.setWindowTitle("ProfitRinger")
        self.icon_label = QLabel()
        self.icon_label.setFixedSize(40, 40)
        self.title = QLabel()
        self.title.setObjectName("title")
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.detail = QLabel()
        self.detail.setObjectName("detail")
        self.detail.setWordWrap(True)
        self.message = QPushButton()
        self.message.setObjectName("message")
        self.message.setFlat(True)
        self.message.setStyleSheet("text-align: left;")
        self.message.hide()
        self.message.clicked.connect(self._on_message_clicked)
        self.menu = TrayMenu(controller, shell, self)
        self.menu_button = QPushButton("Menu")
        self.menu_button.setObjectName("menu")
        self.menu_button.setMenu(self.menu.menu)

        top = QHBoxLayout()
        top.addWidget(self.icon_label, 0, Qt.AlignmentFlag.AlignTop)
        text = QVBoxLayout()
        text.addWidget(self.title)
        text.addWidget(self.detail)
        top.addLayout(text, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.message)
        layout.addWidget(self.menu_button)
        controller.status_changed.connect(self.show_status)
        self.show_status(controller.status())

    @Slot(object)
    def show_status(self, status: TrayStatus) -> None:
        self.status = status
        icon = self._icons.icon(status.icon)
        self.setWindowIcon(icon)
        self.icon_label.setPixmap(icon.pixmap(40, 40))
        self.title.setText(status.title)
        lines = status.tooltip.split("\n")[1:]
        if status.zoom_problem is not None:
            lines.insert(0, status.zoom_problem)
        self.detail.setText("\n".join(lines))
        self.detail.setVisible(bool(lines))
        self.setToolTip(status.tooltip)

    def show_message(self, kind: str, title: str, body: str) -> None:
        self.message.setText(f"{title}: {body}")
        self.message.setToolTip(body)
        self.message.show()

    @Slot()
    def _on_message_clicked(self) -> None:
        self._controller.notification_clicked(self._notifier.last_kind)
        self.message.hide()

    def closeEvent(self, event: QCloseEvent) -> None:
        # Without a tray this window is the app: closing it quits.
        self._shell.quit()
        event.accept()
