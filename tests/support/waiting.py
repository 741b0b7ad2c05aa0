"""Waiting for state another thread or process owns.

Prefer a signal: ``qtbot.waitSignal``, a ``threading.Condition``, a socket
message, ``Popen.wait``. :func:`wait_until` is for state that can only be seen
by asking — another process's HTTP API, a database file, a server thread's
counters — where there is nothing to wait on. It asks again every
``interval`` seconds and fails the test at ``timeout``; it never waits a fixed
time for something to have happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest


def wait_until(
    predicate: Callable[[], object],
    timeout: float = 10.0,
    what: str = "condition",
    interval: float = 0.02,
) -> None:
    """Return as soon as ``predicate()`` is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not met within {timeout} s")
        time.sleep(interval)  # the asking interval, not a wait for the event
