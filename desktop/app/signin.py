"""The sign-in dialog: backend URL, email, password, and errors in plain words."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QIcon
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
from desktop.client.api import normalize_backend_url, plain_http_risk

#: Wide enough for a backend address and a long email without cutting them off.
MIN_WIDTH = 460


class SignInDialog(QDialog):
    """Asks for the backend, email and password and signs in through the controller.

    The password is only held by the field until the attempt ends; it is
    never stored. Failures stay in the dialog, in the error line. Enter signs
    in: Sign in is the only default button, and Cancel never becomes one.

    A backend reached over plain http from another machine is only used after
    the person confirms the warning that says what is at risk (``confirm``).

    Signals:
        signed_in(): the sign-in succeeded; the dialog has closed.
    """

    signed_in = Signal()

    def __init__(
        self,
        controller: TrayController,
        confirm: Callable[[str, str], bool],
        icon: QIcon | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._controller = controller
        self._confirm = confirm
        self.setWindowTitle("Sign in to ProfitRinger")
        if icon is not None:
            self.setWindowIcon(icon)
        self.setMinimumWidth(MIN_WIDTH)
        self.reason = QLabel()
        self.reason.setWordWrap(True)
        self.reason.setObjectName("reason")
        self.backend = QLineEdit()
        self.backend.setObjectName("backend")
        self.backend.setPlaceholderText("https://relay.example.com")
        self.backend_help = QLabel(
            "The backend is the ProfitRinger relay your team uses: the server that "
            "keeps your availability and follows your Zoom meetings. Your administrator "
            "gives you its address."
        )
        self.backend_help.setObjectName("backend_help")
        self.backend_help.setWordWrap(True)
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
        form.addRow("", self.backend_help)
        form.addRow("Email", self.email)
        form.addRow("Password", self.password)
        self.buttons = QDialogButtonBox()
        self.sign_in_button = self.buttons.addButton(
            "Sign in", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.sign_in_button.setObjectName("sign_in")
        cancel = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        assert isinstance(cancel, QPushButton)
        # A focused push button in a dialog becomes the default (autoDefault),
        # so Enter after tabbing past Cancel would cancel: Cancel never takes it.
        cancel.setAutoDefault(False)
        self.cancel_button = cancel
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.reason)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        # Set after the button is in the dialog: before that, setDefault has no
        # dialog to tell, and Qt picks another default.
        self.sign_in_button.setDefault(True)

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

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.show()

    @Slot()
    def submit(self) -> None:
        if not self.sign_in_button.isEnabled():
            return  # an attempt is already under way
        self.error_label.hide()
        try:
            url = normalize_backend_url(self.backend.text())
        except ValueError as problem:
            self.show_error(str(problem))
            return
        allow_plain_http = False
        risk = plain_http_risk(url)
        if risk is not None and not self._controller.plain_http_confirmed(url):
            if not self._confirm(
                "Unencrypted connection", f"{risk}\n\nSign in over plain http anyway?"
            ):
                self.show_error(
                    "Not signed in: that address is not encrypted. Use an https:// "
                    "address, or confirm the warning to use it anyway."
                )
                return
            allow_plain_http = True
        self.sign_in_button.setEnabled(False)
        self.sign_in_button.setText("Signing in…")
        self._controller.sign_in(
            url,
            self.email.text(),
            self.password.text(),
            self._finished,
            allow_plain_http=allow_plain_http,
        )

    def _finished(self, error: str | None) -> None:
        self.sign_in_button.setEnabled(True)
        self.sign_in_button.setText("Sign in")
        if error is not None:
            self.show_error(error)
            self.password.selectAll()
            return
        self.password.clear()
        super().accept()
        self.signed_in.emit()

    def reject(self) -> None:
        self.password.clear()
        super().reject()
