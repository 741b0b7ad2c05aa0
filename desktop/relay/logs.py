"""What the relay writes to its log: one line per record, control characters
escaped (a ``%0A`` in a URL must not forge a line), and exceptions by their
type and frames only (an exception's text may quote a token or a password)."""

from __future__ import annotations

import logging
import os
import re
import traceback
from typing import Final

_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
#: Frames of a traceback kept in a log line, innermost last.
MAX_FRAMES: Final = 12


def escape_control(text: str) -> str:
    """``text`` with every control character (newlines included) as a ``\\xNN`` escape."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def describe_exception(exc: BaseException) -> str:
    """``Type at file:line in function <- ...`` for ``exc`` and what caused it: the
    frames say where it failed, and the exception's message is left out."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = traceback.extract_tb(current.__traceback__)[-MAX_FRAMES:]
        where = " <- ".join(
            f"{_short(frame.filename)}:{frame.lineno} in {frame.name}" for frame in reversed(frames)
        )
        parts.append(f"{type(current).__qualname__} at {where or 'an unknown place'}")
        current = current.__cause__ or current.__context__
    return "; caused by ".join(parts)


def _short(filename: str) -> str:
    """The last two parts of a path: enough to find the file, without home directories."""
    head, name = os.path.split(filename)
    return os.path.join(os.path.basename(head), name)


class SafeFormatter(logging.Formatter):
    """Formats a record on one line: its message escaped, and an exception
    described by :func:`describe_exception` instead of a full traceback."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = escape_control(record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            record.message += " [" + describe_exception(record.exc_info[1]) + "]"
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        return self.formatMessage(record)


class TracebackWithoutMessages(logging.Filter):
    """On uvicorn's logger: its "Exception in ASGI application" carries the whole
    traceback with the exception's text; keep the frames, drop the text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            original = record.getMessage().strip()
            record.msg = "%s %s"
            record.args = (original, describe_exception(record.exc_info[1]))
            record.exc_info = None
            record.exc_text = None
        return True


def quiet_http_client_logs() -> None:
    """httpx logs every request's URL at INFO and httpcore every response's
    headers at DEBUG (a redirect from Zoom carries an OAuth code): WARNING and
    up only. Called when the relay's app is built, not at import."""
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


def install_uvicorn_filter() -> None:
    """Put :class:`TracebackWithoutMessages` on uvicorn's error logger, once."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, TracebackWithoutMessages) for f in logger.filters):
        logger.addFilter(TracebackWithoutMessages())
