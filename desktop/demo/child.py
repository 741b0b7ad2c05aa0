"""First thing in a child of the demo's supervisor: die with the demo.

The supervisor starts the relay and the local Zoom with ``process_group=0``
(Ctrl-C in the terminal reaches only the demo, which stops them in order) and
names itself in :data:`PARENT_ENV`. The child then asks Linux to send it
SIGTERM when the demo dies, even by SIGKILL. This used to be a ``preexec_fn``,
which is not safe in a process with threads (the supervisor restarts children
from its watcher threads).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from typing import Final

PARENT_ENV: Final = "PROFITRINGER_DEMO_PARENT"
_PR_SET_PDEATHSIG: Final = 1


def follow_parent() -> None:
    """If started by the demo's supervisor: end when it ends (Linux)."""
    expected = os.environ.pop(PARENT_ENV, "")
    if not expected or not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    # The demo may have died between starting us and the line above.
    if str(os.getppid()) != expected:
        os.kill(os.getpid(), signal.SIGTERM)
