"""``profitringer demo``: the whole loop on one machine, signed in, in a minute.

Starts the local Zoom and the relay as supervised child processes, signs the
demo account in, connects it to the local Zoom, and starts the tray already
signed in, with a small "Simulate Zoom" window to join and leave a meeting,
remove the app at Zoom, or kill its tokens. Every change of the tray's state is
narrated in the terminal, so the loop is visible even with no display (where
Qt runs offscreen and the simulation is driven with ``profitringer zoom-sim``).
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from desktop.client.api import RelayError
from desktop.client.web import open_web_page
from desktop.demo.world import DemoError, DemoSession, DemoWorld, SimControl

#: The tray's log in the demo's log folder, beside relay.log and zoom-sim.log.
TRAY_LOG = "tray.log"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="profitringer demo",
        description=(
            "Run the local Zoom, the relay and the tray together on loopback, signed in "
            "and connected. Quit from the tray menu or with Ctrl-C."
        ),
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--data-dir", type=Path, help="keep the demo's data here")
    where.add_argument("--fresh", action="store_true", help="use a throwaway data dir")
    parser.add_argument(
        "--relays",
        type=int,
        default=1,
        metavar="N",
        help=(
            "run N relays on one PostgreSQL and Redis behind haproxy, as an organisation "
            "would (Debian's postgresql, redis-server and haproxy; default: one relay on SQLite)"
        ),
    )
    parser.add_argument(
        "--quit-after",
        type=float,
        metavar="SECONDS",
        help="quit by itself after this long (for scripted runs)",
    )
    return parser.parse_args(list(argv))


def _stamp() -> str:
    return datetime.now().strftime("%H:%M:%S")


class Narrator:
    """Says in the terminal what the tray shows and what the demo does."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._last: str | None = None
        self._lock = threading.Lock()

    def say(self, who: str, text: str) -> None:
        # One write per line, under a lock: the supervisor's threads narrate too.
        with self._lock:
            self._out.write(f"[{_stamp()}] {who}: {text}\n")
            self._out.flush()

    def status(self, status: Any) -> None:
        line = f"{status.title} ({status.kind})"
        if line != self._last:
            self._last = line
            self.say("tray", line)


class NarratingNotifier:
    """Shows notifications as the tray would, and narrates them too."""

    def __init__(self, inner: Any, narrator: Narrator) -> None:
        self._inner = inner
        self._narrator = narrator

    @property
    def last_kind(self) -> str | None:
        kind: str | None = self._inner.last_kind
        return kind

    @last_kind.setter
    def last_kind(self, value: str | None) -> None:
        self._inner.last_kind = value

    def show(self, kind: str, title: str, body: str) -> None:
        self._narrator.say("notification", f"{title} — {body}")
        self._inner.show(kind, title, body)


class ChildEvents:
    """What the supervisor says about the relay and the local Zoom: narrated
    always, and shown as a notification once the tray is up when a child is
    given up on. The supervisor calls from its watcher threads, so the
    notification is handed to the Qt thread through a queued signal."""

    def __init__(self, narrator: Narrator) -> None:
        self._narrator = narrator
        self._emit: Callable[[str, str], None] | None = None

    def __call__(self, who: str, text: str) -> None:
        self._narrator.say(who, text)
        if self._emit is not None and "giving up" in text:
            self._emit(who, text)

    def show_in(self, notifier: Any) -> None:
        from PySide6.QtCore import QObject, Qt, Signal

        class Bridge(QObject):
            stopped = Signal(str, str)

        bridge = Bridge()
        bridge.stopped.connect(
            lambda who, text: notifier.show("warning", f"The demo's {who} stopped", text),
            Qt.ConnectionType.QueuedConnection,
        )
        self._bridge = bridge  # kept alive as long as this object
        self._emit = bridge.stopped.emit


class MemoryTokenBackend:
    """The demo's keyring: the session token lives in memory for this run, so
    the demo neither needs nor touches the person's real keyring."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self._entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self._entries.pop((service, username), None)


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def profitringer_command() -> str:
    """How to run ``profitringer`` from any terminal, as a shell would take it.

    After the quick start the command is not on PATH (it is in the project's
    ``.venv``), so the demo names it by its full path: the frozen executable,
    the ``profitringer`` script beside this Python, or this Python with ``-m``.
    """
    if getattr(sys, "frozen", False):
        return shlex.quote(sys.executable)
    script = Path(sys.executable).parent / "profitringer"
    if script.is_file() and os.access(script, os.X_OK):
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m desktop"


def _print_drive_help(narrator: Narrator, session: DemoSession) -> None:
    sim = f"{profitringer_command()} zoom-sim"
    at, user = f"--sim {shlex.quote(session.sim_url)}", shlex.quote(session.zoom_email)
    narrator.say(
        "demo",
        "drive the simulation from another terminal:\n"
        f"    {sim} presence {at} {user} In_Meeting     # join a meeting\n"
        f"    {sim} presence {at} {user} Available      # leave it\n"
        f"    {sim} deauthorize {at} {user}             # remove the app at Zoom\n"
        f"    {sim} invalidate-tokens {at} {user}       # kill the Zoom tokens",
    )


def _quiet_offscreen_warnings() -> None:
    """The offscreen platform warns that it cannot resize or raise windows,
    which is true and beside the point here; everything else still shows."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    def handler(kind: QtMsgType, context: object, message: str) -> None:
        if "This plugin does not support" not in message:
            print(message, file=sys.stderr)

    qInstallMessageHandler(handler)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    narrator = Narrator(sys.stdout)
    offscreen = not _has_display() and "QT_QPA_PLATFORM" not in os.environ
    if offscreen:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    child_events = ChildEvents(narrator)
    if args.relays < 1:
        narrator.say("demo", "--relays must be at least 1")
        return 2
    world = DemoWorld(args.data_dir, args.fresh, child_events, relays=args.relays)
    relays = "the relay" if args.relays == 1 else f"{args.relays} relays behind haproxy"
    narrator.say("demo", f"starting the local Zoom and {relays} (data in {world.data_dir})")
    try:
        session = world.start()
    except (DemoError, RuntimeError, OSError) as problem:
        narrator.say("demo", f"could not start: {problem}")
        world.stop()
        return 1
    except KeyboardInterrupt:
        world.stop()
        return 130
    where = "relay" if args.relays == 1 else "balancer"
    narrator.say("demo", f"{where} {session.relay_url}, local Zoom {session.sim_url}")
    narrator.say("demo", f"logs in {session.log_dir}")
    narrator.say("demo", f"signed in as {session.email}; Zoom connected as {session.zoom_email}")
    try:
        narrator.say("demo", open_web_page(session.relay_url, session.token, not offscreen))
    except RelayError as problem:  # the page is a bonus; the tray is the demo
        narrator.say("demo", f"could not open the web page: {problem.message}")
    try:
        return _run_tray(args, session, narrator, child_events, offscreen)
    finally:
        world.stop()
        narrator.say("demo", f"stopped {relays} and the local Zoom")


def _run_tray(
    args: argparse.Namespace,
    session: DemoSession,
    narrator: Narrator,
    child_events: ChildEvents,
    offscreen: bool,
) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from desktop.app.application import AppOptions, TrayApplication
    from desktop.app.main import setup_logging
    from desktop.app.signals import QuitOnSignals
    from desktop.client.credentials import TokenKeyring
    from desktop.client.settings import AppSettings, SettingsStore
    from desktop.demo.sim_window import SimulateZoomWindow

    if offscreen:
        _quiet_offscreen_warnings()
    app = QApplication.instance() or QApplication(["profitringer demo"])
    assert isinstance(app, QApplication)
    app.setApplicationName("ProfitRinger demo")
    app.setQuitOnLastWindowClosed(False)

    # The tray's log goes beside the relay's and the local Zoom's.
    log_file, log_handler = setup_logging(session.log_dir, TRAY_LOG)
    logging.getLogger("desktop").info(
        "demo tray starting (config in %s)", session.data_dir / "tray"
    )
    config_dir = session.data_dir / "tray"
    SettingsStore(config_dir).save(AppSettings(backend_url=session.relay_url, email=session.email))
    keyring = TokenKeyring(backend=MemoryTokenBackend())
    keyring.save(session.relay_url, session.email, session.token)
    tray_app = TrayApplication(
        AppOptions(config_dir=config_dir, backend_url=session.relay_url, log_file=log_file),
        keyring=keyring,
        wrap_notifier=lambda inner: NarratingNotifier(inner, narrator),
    )
    tray_app.controller.status_changed.connect(narrator.status)
    child_events.show_in(tray_app.notifier)
    where = "tray icon" if tray_app.tray is not None else "status window (no system tray here)"
    narrator.say("demo", f"the tray app shows its {where}")
    if offscreen:
        narrator.say("demo", "no display here: Qt runs offscreen, and this terminal narrates it")

    control = SimControl(session.sim_url, session.zoom_email, session.relay_url, session.token)
    window = SimulateZoomWindow(control, narrator.say)
    if not offscreen:
        window.show()
    _print_drive_help(narrator, session)

    signals = QuitOnSignals(app.quit)
    if args.quit_after is not None:
        QTimer.singleShot(int(args.quit_after * 1000), app.quit)
    tray_app.start()
    narrator.status(tray_app.controller.status())
    try:
        status = app.exec()
    finally:
        signals.remove()
        window.close()
        tray_app.close()
        logging.getLogger("desktop").info("demo tray stopped")
        if log_handler is not None:
            logging.getLogger().removeHandler(log_handler)
            log_handler.close()
    narrator.say("demo", "quitting")
    return status
