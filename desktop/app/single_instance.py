"""One tray per user: a local socket named after the user and config dir.

The first instance listens; a second one connects, asks the first to show
itself, and exits.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

ACTIVATE = b"activate\n"


def instance_key(config_dir: Path, user: str | None = None) -> str:
    """A socket name unique per user and config dir, safe on every platform."""
    who = user if user is not None else getpass.getuser()
    digest = hashlib.sha256(f"{who}\0{config_dir.resolve()}".encode()).hexdigest()[:16]
    return f"profitringer-{digest}"


class SingleInstance(QObject):
    """Claims the per-user instance slot.

    Signals:
        activation_requested(): another start of the app asked this one to show.
    """

    activation_requested = Signal()

    def __init__(self, key: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.key = key
        self._server: QLocalServer | None = None
        self._clients: list[QLocalSocket] = []

    def claim(self) -> bool:
        """True: this is the only instance. False: another one was asked to show."""
        probe = QLocalSocket()
        probe.connectToServer(self.key)
        if probe.waitForConnected(500):
            probe.write(ACTIVATE)
            probe.flush()
            probe.waitForBytesWritten(500)
            probe.disconnectFromServer()
            return False
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.key):
            # A socket file left behind by a crashed instance: nobody answered.
            QLocalServer.removeServer(self.key)
            if not server.listen(self.key):
                log.warning("cannot listen for other instances: %s", server.errorString())
                return True
        server.newConnection.connect(self._on_connection)
        self._server = server
        return True

    @Slot()
    def _on_connection(self) -> None:
        assert self._server is not None
        while (socket := self._server.nextPendingConnection()) is not None:
            self._clients.append(socket)
            socket.readyRead.connect(self._on_ready)
            socket.disconnected.connect(self._on_disconnected)
            if socket.bytesAvailable():
                self._read(socket)

    @Slot()
    def _on_ready(self) -> None:
        for socket in list(self._clients):
            if socket.bytesAvailable():
                self._read(socket)

    def _read(self, socket: QLocalSocket) -> None:
        if bytes(socket.readAll().data()).startswith(ACTIVATE.strip()):
            self.activation_requested.emit()

    @Slot()
    def _on_disconnected(self) -> None:
        for socket in [
            s for s in self._clients if s.state() == QLocalSocket.LocalSocketState.UnconnectedState
        ]:
            self._clients.remove(socket)
            socket.deleteLater()

    def release(self) -> None:
        """Stop answering other instances (at quit)."""
        for socket in self._clients:
            socket.abort()
        self._clients.clear()
        if self._server is not None:
            self._server.close()
            self._server = None
