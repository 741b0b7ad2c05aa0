"""``profitringer`` with no subcommand: the tray app.

    profitringer [--backend URL] [--config-dir DIR] [--log-dir DIR] [--quit-after-start]

``--quit-after-start`` starts the app, shows its icon (or status window),
and exits 0 once the event loop has run: the smoke test of a frozen build.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import sys
from collections.abc import Sequence
from pathlib import Path

# httpx imports its command-line tool (click, rich, pygments) whenever they are
# installed; a tray never runs it, and it costs ~6 MiB of resident memory.
# httpx treats the tool as optional, so marking it absent is safe.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

from PySide6.QtCore import QTimer  # noqa: E402

from desktop.app.pyside_startup import read_sources_lightly  # noqa: E402

# Before any other import: see desktop/app/pyside_startup.py.
read_sources_lightly()

from PySide6.QtWidgets import QApplication  # noqa: E402

from desktop import __version__  # noqa: E402
from desktop.app.application import AppOptions, TrayApplication  # noqa: E402
from desktop.app.options import add_tray_options  # noqa: E402
from desktop.app.signals import QuitOnSignals  # noqa: E402
from desktop.app.single_instance import SingleInstance, instance_key  # noqa: E402
from desktop.client import paths  # noqa: E402
from desktop.client.api import normalize_backend_url, redact_url  # noqa: E402

log = logging.getLogger("desktop.app")

LOG_FILE = "profitringer.log"
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="profitringer",
        description="The ProfitRinger tray app: your ringer's state at a glance.",
    )
    add_tray_options(parser)
    parser.add_argument("--version", action="version", version=f"profitringer {__version__}")
    return parser.parse_args(list(argv))


class RedactingFilter(logging.Filter):
    """Takes the ``user:password@`` out of any URL in a log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_url(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def setup_logging(
    directory: Path, file_name: str = LOG_FILE
) -> tuple[Path | None, logging.Handler | None]:
    """Log to a rotating file in ``directory``; returns the file and handler.

    websockets and httpx are kept at WARNING: their debug output would carry
    request headers, and with them the session token. A URL's
    ``user:password@`` never reaches the file.
    """
    logging.getLogger("websockets").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / file_name
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=1_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError as problem:
        print(f"profitringer: cannot write a log in {directory}: {problem}", file=sys.stderr)
        return None, None
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    return path, handler


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.backend:
        try:
            normalize_backend_url(args.backend)
        except ValueError as problem:
            print(f"profitringer: {problem}", file=sys.stderr)
            return 2
    config_dir: Path = args.config_dir or paths.config_dir()
    log_file, handler = setup_logging(args.log_dir or paths.log_dir())
    log.info("ProfitRinger %s starting (config in %s)", __version__, config_dir)
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "profitringer"])
    assert isinstance(app, QApplication)
    app.setApplicationName("ProfitRinger")
    app.setApplicationVersion(__version__)
    app.setQuitOnLastWindowClosed(False)

    instance = SingleInstance(instance_key(config_dir))
    signals = QuitOnSignals(app.quit)
    try:
        if not instance.claim():
            print("ProfitRinger is already running; it has been asked to show itself.")
            return 0
        tray_app = TrayApplication(
            AppOptions(config_dir=config_dir, backend_url=args.backend, log_file=log_file)
        )
        instance.activation_requested.connect(tray_app.activate)
        tray_app.start()
        where = "tray" if tray_app.tray is not None else "status window (no system tray)"
        log.info("showing the %s: %s", where, tray_app.controller.status().title)
        if args.quit_after_start:
            print(f"ProfitRinger started in the {where}: {tray_app.controller.status().title}")
            QTimer.singleShot(0, app.quit)
        status = app.exec()
        tray_app.close()
        tray_app.deleteLater()
        log.info("ProfitRinger stopped")
        return status
    finally:
        signals.remove()
        instance.release()
        if handler is not None:
            logging.getLogger().removeHandler(handler)
            handler.close()
