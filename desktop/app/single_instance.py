"""One tray per user: a local socket named after the user and config dir.

The first instance listens; a second one connects, asks the first to show
itself, and exits. On Unix the socket lives in a directory only this user can
enter (``$XDG_RUNTIME_DIR``, or a 0700 folder of our own in the temp dir), so
another local user can neither squat the name nor talk to it.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import os
import stat
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

ACTIVATE = b"activate\n"


def _private(directory: Path) -> bool:
    """True if ``directory`` is a real directory of this user that nobody else can enter."""
    try:
        info = directory.lstat()
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.getuid()
        and stat.S_IMODE(info.st_mode) & 0o077 == 0
    )


def _make_private(directory: Path) -> bool:
    """Create ``directory`` as 0700, or accept it if it already is ours and private."""
    try:
        directory.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError:
        return False
    return _private(directory)


#: A Unix socket's path must fit in sockaddr_un (108 bytes on Linux, 104 on macOS).
MAX_SOCKET_PATH: Final = 100


def runtime_dir(
    env: Mapping[str, str] | None = None, fallback: Path | None = None, name: str = ""
) -> Path:
    """A directory for the instance socket ``name`` that only this user can enter.

    ``$XDG_RUNTIME_DIR/profitringer`` if the runtime dir is private, else
    ``<tmp>/profitringer-<uid>`` made 0700 (a folder there that is not ours, or
    not private, is refused: someone may be squatting it), else ``fallback``
    (the config dir's ``run`` folder). A folder whose socket path would be too
    long for the system is skipped.
    """
    env = os.environ if env is None else env
    candidates: list[Path] = []
    if (xdg := env.get("XDG_RUNTIME_DIR")) and _private(Path(xdg)):
        candidates.append(Path(xdg) / "profitringer")
    candidates.append(Path(tempfile.gettempdir()) / f"profitringer-{os.getuid()}")
    if fallback is not None:
        candidates.append(fallback)
    for candidate in candidates:
        if len(os.fsencode(candidate / name)) > MAX_SOCKET_PATH:
            continue
        if _make_private(candidate):
            return candidate
        log.warning("not using %s for the instance socket: not a private folder", candidate)
    raise OSError("no private folder for the single-instance socket")


def instance_key(config_dir: Path, user: str | None = None) -> str:
    """The socket unique per user and config dir: on Unix a path in a private
    directory, on Windows a pipe name (which Qt restricts to this user)."""
    who = user if user is not None else getpass.getuser()
    digest = hashlib.sha256(f"{who}\0{config_dir.resolve()}".encode()).hexdigest()[:16]
    name = f"profitringer-{digest}"
    if sys.platform == "win32":
        return name
    return str(runtime_dir(fallback=config_dir / "run", name=name) / name)


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
        """Stop answering other instances (at quit); on Unix this removes the socket file."""
        for socket in self._clients:
            socket.abort()
        self._clients.clear()
        if self._server is not None:
            self._server.close()
            self._server = None
