"""The tray's settings dialog; the settings themselves and their file are
``desktop/client/settings.py``."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from desktop.client.api import redact_url
from desktop.client.settings import AppSettings


class SettingsDialog(QDialog):
    """Notifications on/off per kind and "start at login".

    The caller reads :meth:`apply_to` after the dialog is accepted.
    """

    def __init__(
        self,
        settings: AppSettings,
        parent: QWidget | None = None,
        *,
        signed_in_as: str | None = None,
        device_name: str = "",
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("ProfitRinger settings")
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Backend: {redact_url(settings.backend_url)}"))
        who = f"Signed in as {signed_in_as}" if signed_in_as else "Not signed in"
        self.account = QLabel(
            f"{who}. This computer appears in your account's sign-ins as “{device_name}”."
            if device_name
            else f"{who}."
        )
        self.account.setObjectName("account")
        self.account.setWordWrap(True)
        layout.addWidget(self.account)
        layout.addWidget(QLabel("Notify me when:"))
        self.paused = QCheckBox("a Zoom meeting pauses my ringer")
        self.paused.setChecked(settings.notify_paused)
        self.resumed = QCheckBox("my ringer resumes after a meeting")
        self.resumed.setChecked(settings.notify_resumed)
        self.zoom = QCheckBox("Zoom needs reconnecting")
        self.zoom.setChecked(settings.notify_zoom_reconnect)
        self.start_at_login = QCheckBox("Start ProfitRinger when I log in")
        self.start_at_login.setChecked(settings.start_at_login)
        for box in (self.paused, self.resumed, self.zoom, self.start_at_login):
            layout.addWidget(box)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def apply_to(self, settings: AppSettings) -> None:
        settings.notify_paused = self.paused.isChecked()
        settings.notify_resumed = self.resumed.isChecked()
        settings.notify_zoom_reconnect = self.zoom.isChecked()
        settings.start_at_login = self.start_at_login.isChecked()
