"""Noticing that the machine woke up or the network came back, without polling.

Two event sources, both optional: Qt's QNetworkInformation (reachability
changes, where the platform has a backend) and, on Linux, logind's
``PrepareForSleep(false)`` signal on the system bus. Either one makes the
live socket retry at once instead of waiting out its backoff.

A returning network only matters while the live socket is down, so the
reachability backend (a Qt plugin that talks to NetworkManager or GLib, a few
MiB) is loaded by :meth:`WakeWatcher.watch_network` the first time the socket
goes offline, not at start; the sleep watch starts at once, since a machine
goes to sleep while online.
"""

from __future__ import annotations

import logging
import sys

from PySide6.QtCore import SLOT, QObject, Signal, Slot
from PySide6.QtNetwork import QNetworkInformation

log = logging.getLogger(__name__)


class WakeWatcher(QObject):
    """Reports wake-ups and returning networks.

    Signals:
        woke(): retry connections now.
    """

    woke = Signal()

    def __init__(self, parent: QObject | None = None, *, use_system_bus: bool = True) -> None:
        super().__init__(parent)
        self._network: QNetworkInformation | None = None
        self._network_tried = False
        if use_system_bus and sys.platform.startswith("linux"):
            self._watch_logind()

    @property
    def network_watch_started(self) -> bool:
        """True once :meth:`watch_network` ran (whether or not the platform has
        a reachability backend)."""
        return self._network_tried

    def watch_network(self) -> None:
        """Start reporting a returning network (the live socket went down);
        once is enough, later calls do nothing."""
        if self._network_tried:
            return
        self._network_tried = True
        if QNetworkInformation.loadDefaultBackend():
            self._network = QNetworkInformation.instance()
            if self._network is not None:
                self._network.reachabilityChanged.connect(self._on_reachability)
                log.info("watching for the network to come back (%s)", self._network.backendName())

    @Slot(QNetworkInformation.Reachability)
    def _on_reachability(self, reachability: QNetworkInformation.Reachability) -> None:
        if reachability in (
            QNetworkInformation.Reachability.Online,
            QNetworkInformation.Reachability.Site,
            QNetworkInformation.Reachability.Local,
        ):
            log.info("network reachable again")
            self.woke.emit()

    def _watch_logind(self) -> None:
        try:
            from PySide6.QtDBus import QDBusConnection
        except ImportError:
            return
        bus = QDBusConnection.systemBus()
        if not bus.isConnected():
            return
        try:
            ok = bus.connect(
                "org.freedesktop.login1",
                "/org/freedesktop/login1",
                "org.freedesktop.login1.Manager",
                "PrepareForSleep",
                self,
                SLOT("_on_prepare_for_sleep(bool)").encode(),
            )
        except (TypeError, RuntimeError):
            ok = False
        if not ok:
            log.info("cannot watch for sleep and wake on the system bus")

    @Slot(bool)
    def _on_prepare_for_sleep(self, going_to_sleep: bool) -> None:
        if not going_to_sleep:
            log.info("the machine woke up")
            self.woke.emit()

    def simulate_wake(self) -> None:
        """For tests and the demo: behave as if the machine just woke."""
        self.woke.emit()
