"""The demo's supervisor with real child processes (Python's own HTTP server)."""

from __future__ import annotations

import io
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from desktop.demo.supervisor import MAX_RESTARTS, ChildError, ChildSpec, Supervisor
from desktop.relay.server import free_port


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
