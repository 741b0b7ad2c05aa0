"""The sign-in dialog: backend URL, email, password, and errors in plain words."""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.app.controller import TrayController


class SignInDialog(QDialog):
    """Asks for the backend, email and password and signs in through the controller.

    The password is only held by the field until the attempt ends; it is
    never stored. Failures stay in the dialog, in the error line.

    Signals:
        signed_in(): the sign-in succeeded; the dialog has closed.
    """

    signed_in = Signal()

    def __init__(self, controller: TrayController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._controller = controller
        self.setWindowTitle("Sign in to ProfitRinger")
        self.reason = QLabel()
        self.reason.setWordWrap(True)
        self.reason.setObjectName("reason")
        self.backend = QLineEdit()
        self.backend.setObjectName("backend")
        self.backend.setPlaceholderText("http://127.0.0.1:8765")
        self.email = QLineEdit()
        self.email.setObjectName("email")
        self.email.setPlaceholderText("you@example.com")
        self.password = QLineEdit()
        self.password.setObjectName("password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.error_label = QLabel()
        self.error_label.setObjectName("error")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b3261e;")
        self.error_label.hide()

        form = QFormLayout()
        form.addRow("Backend", self.backend)
        form.addRow("Email", self.email)
        form.addRow("Password", self.password)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.sign_in_button = QPushButton("Sign in")
        self.sign_in_button.setObjectName("sign_in")
        self.sign_in_button.setDefault(True)
        self.buttons.addButton(self.sign_in_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.reason)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)

    def prepare(self, reason: str = "") -> None:
        """Fill in the remembered backend and email and say why we ask."""
        settings = self._controller.settings
        self.backend.setText(settings.backend_url)
        self.email.setText(settings.email)
        self.password.clear()
        self.reason.setText(reason)
        self.reason.setVisible(bool(reason))
        self.error_label.hide()
        self.sign_in_button.setEnabled(True)
        (self.password if settings.email else self.email).setFocus()

    @Slot()
    def submit(self) -> None:
        self.error_label.hide()
        self.sign_in_button.setEnabled(False)
        self.sign_in_button.setText("Signing in…")
        self._controller.sign_in(
            self.backend.text(), self.email.text(), self.password.text(), self._finished
        )

    def _finished(self, error: str | None) -> None:
        self.sign_in_button.setEnabled(True)
        self.sign_in_button.setText("Sign in")
        if error is not None:
            self.error_label.setText(error)
            self.error_label.show()
            self.password.selectAll()
            return
        self.password.clear()
        self.accept()
        self.signed_in.emit()

    def reject(self) -> None:
        self.password.clear()
        super().reject()
