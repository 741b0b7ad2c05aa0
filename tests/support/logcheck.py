"""A test fails on a WARNING or ERROR log record it did not expect
(qutebrowser's habit): a line nobody looks at is how a bug hides.

A test that logs on purpose says so::

    @pytest.mark.expect_log(r"keyring write failed")
    def test_...

Each argument is a regular expression searched in ``"<logger>: <message>"``;
give several, or the marker several times. The check runs in the folders of
:data:`CHECKED`; the rest of the suite is to follow.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).resolve().parents[2]

#: Test folders (relative to the repository) whose tests are held to their logs.
CHECKED: Final = (
    "tests/core",
    "tests/client",
    "tests/app",
    "tests/demo",
)


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _line(record: logging.LogRecord) -> str:
    try:
        message = record.getMessage()
    except Exception:  # a bad format string is itself worth reporting
        message = str(record.msg)
    return f"{record.name}: {message}"


def checked(path: Path) -> bool:
    try:
        relative = path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return False
    return any(relative == folder or relative.startswith(folder + "/") for folder in CHECKED)


def expected_patterns(item: pytest.Item) -> list[re.Pattern[str]]:
    return [
        re.compile(pattern) for marker in item.iter_markers("expect_log") for pattern in marker.args
    ]


def unexpected(records: list[logging.LogRecord], patterns: list[re.Pattern[str]]) -> list[str]:
    lines = [f"{record.levelname} {_line(record)}" for record in records]
    return [
        line
        for line, record in zip(lines, records, strict=True)
        if not any(p.search(_line(record)) for p in patterns)
    ]


@pytest.fixture(autouse=True)
def _fail_on_unexpected_logs(request: pytest.FixtureRequest) -> Iterator[None]:
    if not checked(request.node.path):
        yield
        return
    collector = _Collector()
    root = logging.getLogger()
    root.addHandler(collector)
    try:
        yield
    finally:
        root.removeHandler(collector)
    lines = unexpected(collector.records, expected_patterns(request.node))
    if lines:
        pytest.fail(
            "unexpected log lines (fix them, or mark the test "
            '@pytest.mark.expect_log("pattern")):\n  ' + "\n  ".join(lines),
            pytrace=False,
        )
