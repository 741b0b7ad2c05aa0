"""A small window with a link to open by hand, for when no browser can be started."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


class LinkWindow(QDialog):
    """Shows ``url`` with a Copy button and what to do with it."""

    def __init__(
        self,
        clipboard: Callable[[str], None],
        icon: QIcon | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._clipboard = clipboard
        if icon is not None:
            self.setWindowIcon(icon)
        self.setMinimumWidth(520)
        self.explanation = QLabel()
        self.explanation.setObjectName("explanation")
        self.explanation.setWordWrap(True)
        self.link = QLineEdit()
        self.link.setObjectName("link")
        self.link.setReadOnly(True)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setObjectName("copy")
        self.copy_button.clicked.connect(self.copy)
        self.copied = QLabel("Copied to the clipboard.")
        self.copied.setObjectName("copied")
        self.copied.hide()
        row = QHBoxLayout()
        row.addWidget(self.link, 1)
        row.addWidget(self.copy_button)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.explanation)
        layout.addLayout(row)
        layout.addWidget(self.copied)
        layout.addWidget(buttons)

    def show_link(self, purpose: str, url: str) -> None:
        self.setWindowTitle(f"{purpose} — open this link")
        self.explanation.setText(
            f"No web browser could be opened here. To {purpose[0].lower()}{purpose[1:]}, "
            "copy this link and open it in a browser on this computer, then sign in to "
            "Zoom and approve ProfitRinger. The tray updates by itself once Zoom is "
            "connected. The link works once and only for a few minutes."
        )
        self.link.setText(url)
        self.link.setCursorPosition(0)
        self.copied.hide()
        self.show()
        self.raise_()
        self.activateWindow()

    def copy(self) -> None:
        self._clipboard(self.link.text())
        self.copied.show()
