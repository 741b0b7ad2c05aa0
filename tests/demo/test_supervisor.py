"""The demo's supervisor with real child processes (Python's own HTTP server)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from desktop.demo.supervisor import MAX_RESTARTS, ChildError, ChildSpec, Supervisor
from desktop.serving import free_port
from tests.support.waiting import wait_until


class Events:
    def __init__(self) -> None:
        self.seen: list[str] = []
        self.changed = threading.Condition()

    def __call__(self, name: str, text: str) -> None:
        with self.changed:
            self.seen.append(f"{name}: {text}")
            self.changed.notify_all()

    def wait_for(self, fragment: str, count: int = 1, timeout: float = 30) -> None:
        with self.changed:
            ok = self.changed.wait_for(
                lambda: sum(fragment in line for line in self.seen) >= count, timeout
            )
        assert ok, f"never saw {fragment!r} x{count}: {self.seen}"


def http_child(tmp_path: Path) -> ChildSpec:
    port = free_port()
    return ChildSpec(
        name="web",
        argv=[sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        health_url=f"http://127.0.0.1:{port}/",
        log_path=tmp_path / "web.log",
    )


def test_a_dead_child_is_restarted_a_bounded_number_of_times(tmp_path: Path) -> None:
    events = Events()
    supervisor = Supervisor(events)
    child = supervisor.start(http_child(tmp_path))
    try:
        first_pid = child.pid
        child.kill_for_test()
        events.wait_for("is back")
        assert child.pid != first_pid
        for n in range(2, MAX_RESTARTS + 1):
            child.kill_for_test()
            events.wait_for("is back", count=n)
        child.kill_for_test()
        events.wait_for("giving up")
        assert child.failed
        assert str(tmp_path / "web.log") in events.seen[-1]
    finally:
        supervisor.stop_all()


def test_stop_all_ends_every_child(tmp_path: Path) -> None:
    events = Events()
    supervisor = Supervisor(events)
    child = supervisor.start(http_child(tmp_path))
    process = child._process
    assert process is not None
    supervisor.stop_all()
    assert process.poll() is not None
    assert not any("restarting" in line for line in events.seen)


def test_a_child_that_cannot_start_is_a_clear_error(tmp_path: Path) -> None:
    spec = ChildSpec(
        name="broken",
        argv=[sys.executable, "-c", "raise SystemExit(3)"],
        health_url=f"http://127.0.0.1:{free_port()}/",
        log_path=tmp_path / "broken.log",
    )
    with pytest.raises(ChildError, match=r"broken exited with status 3.*broken\.log"):
        Supervisor(Events()).start(spec)


def test_giving_up_on_a_child_is_shown_as_a_notification(qtbot: Any) -> None:
    from desktop.app.notifier import RecordingNotifier
    from desktop.demo.main import ChildEvents, Narrator

    out = io.StringIO()
    events = ChildEvents(Narrator(out))
    notifier = RecordingNotifier()
    events.show_in(notifier)
    worker = threading.Thread(target=events, args=("relay", "is back (pid 1)"))
    worker.start()
    worker.join()
    worker = threading.Thread(target=events, args=("relay", "stopped; giving up. Its log: x"))
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: notifier.shown != [])
    assert notifier.shown == [
        ("warning", "The demo's relay stopped", "stopped; giving up. Its log: x")
    ]
    assert "relay: is back" in out.getvalue()


DEMO_SCRIPT = """
import sys, threading
from pathlib import Path
from desktop.demo.supervisor import ChildSpec, Supervisor
port, log = sys.argv[1], Path(sys.argv[2])
serve = (
    "from desktop.demo.child import follow_parent; follow_parent(); "
    "import runpy, sys; sys.argv = ['http.server', '%s', '--bind', '127.0.0.1']; "
    "runpy.run_module('http.server', run_name='__main__')" % port
)
child = Supervisor(lambda name, text: None).start(
    ChildSpec("web", [sys.executable, "-c", serve], f"http://127.0.0.1:{port}/", log)
)
print(child.pid, flush=True)
threading.Event().wait()
"""


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in "ZX"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_child_dies_with_a_killed_demo_and_has_its_own_process_group(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", DEMO_SCRIPT, str(free_port()), str(tmp_path / "web.log")],
        stdout=subprocess.PIPE,
        text=True,
    ) as demo:
        assert demo.stdout is not None
        child_pid = int(demo.stdout.readline())
        assert os.getpgid(child_pid) == child_pid  # Ctrl-C in a terminal reaches only the demo
        os.kill(demo.pid, signal.SIGKILL)
        demo.wait()
        try:
            wait_until(lambda: _gone(child_pid), timeout=30, what="the child ending with the demo")
        finally:
            if not _gone(child_pid):
                os.kill(child_pid, signal.SIGKILL)
