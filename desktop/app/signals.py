"""Ctrl-C (SIGINT) and SIGTERM quit the Qt app cleanly, with a log line.

Python only runs a signal handler when the interpreter gets control, and Qt's
event loop may sleep in C for hours. ``signal.set_wakeup_fd`` writes a byte to
a socket pair on every signal, and a QSocketNotifier on the other end wakes the
loop, so the handler runs at once with no polling timer.
"""

from __future__ import annotations

import logging
import signal
import socket
from collections.abc import Callable
from types import FrameType

from PySide6.QtCore import QSocketNotifier

log = logging.getLogger(__name__)

QUIT_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class QuitOnSignals:
    """While installed, SIGINT and SIGTERM call ``quit_app`` on the Qt thread."""

    def __init__(self, quit_app: Callable[[], None]) -> None:
        self._quit_app = quit_app
        self.received: list[str] = []
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._previous_fd = signal.set_wakeup_fd(self._writer.fileno())
        self._notifier: QSocketNotifier | None = QSocketNotifier(
            self._reader.fileno(), QSocketNotifier.Type.Read
        )
        self._notifier.activated.connect(self._drain)
        self._previous = {signum: signal.signal(signum, self._handle) for signum in QUIT_SIGNALS}

    def _drain(self) -> None:
        try:
            self._reader.recv(64)
        except OSError:
            return

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        self.received.append(name)
        log.info("received %s; quitting", name)
        self._quit_app()

    def remove(self) -> None:
        """Put back the previous handlers (at quit). Safe to call twice."""
        if self._notifier is None:
            return
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        signal.set_wakeup_fd(self._previous_fd)
        self._notifier.setEnabled(False)
        self._notifier.deleteLater()
        self._notifier = None
        self._reader.close()
        self._writer.close()
