"""``profitringer demo`` end to end, as a newcomer runs it: a real process tree,
narrated in the terminal, driven through the local Zoom's CLI, stopped by Ctrl-C."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CMD = [sys.executable, "-m", "desktop"]


class DemoProcess:
    def __init__(self, tmp_path: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
        env.pop("QT_QPA_PLATFORM", None)  # the demo must choose offscreen by itself
        self.data_dir = tmp_path / "demo"
        self.process = subprocess.Popen(
            [*CMD, "demo", "--data-dir", str(self.data_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.transcript: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def expect(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"no line matching {pattern!r}:\n" + "\n".join(self.transcript)
                )
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            self.transcript.append(line)
            found = re.search(pattern, line)
            if found:
                return found

    def seen_or_expect(self, pattern: str, start: int = 0) -> re.Match[str]:
        """A line from ``start`` on that may already have gone by (lines from
        two threads of the demo interleave), or else the next one that matches."""
        for line in self.transcript[start:]:
            if found := re.search(pattern, line):
                return found
        return self.expect(pattern)

    def zoom_sim(self, sim_url: str, command: str, *args: str) -> None:
        result = subprocess.run(
            [*CMD, "zoom-sim", command, "--sim", sim_url, *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DemoProcess]:
    running = DemoProcess(tmp_path)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait(30)
        assert running.process.stdout is not None
        running.process.stdout.close()


def nothing_listens_on(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            return True
    return False


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_the_demo_runs_the_whole_loop_and_stops_cleanly(demo: DemoProcess) -> None:
    sim_pid = int(demo.expect(r"local Zoom: running \(pid (\d+)").group(1))
    relay_pid = int(demo.expect(r"relay: running \(pid (\d+)").group(1))
    urls = demo.expect(r"relay (http://127\.0\.0\.1:(\d+)), local Zoom (http://127\.0\.0\.1:(\d+))")
    sim_url = urls.group(3)
    relay_port, sim_port = int(urls.group(2)), int(urls.group(4))
    demo.expect(r"Zoom connected as demo@zoom\.example")
    # no display: the web page's one-time sign-in link is printed, not opened
    demo.expect(r"your web page: open http://127\.0\.0\.1:\d+/web/sign-in\?code=\S+ within")
    demo.expect(r"Qt runs offscreen")
    demo.expect(r"tray: Available")

    demo.zoom_sim(sim_url, "presence", "demo@zoom.example", "In_Meeting")
    demo.expect(r"tray: .*\(paused\)")
    demo.expect(r"notification: .*")

    demo.zoom_sim(sim_url, "presence", "demo@zoom.example", "Available")
    demo.expect(r"tray: Available")

    # The relay crashes: the demo restarts it and the tray comes back by itself.
    os.kill(relay_pid, signal.SIGKILL)
    # The relay's and the tray's lines come from different threads: any order.
    offline_at = len(demo.transcript)
    demo.seen_or_expect(r"relay: stopped unexpectedly .*restarting \(1 of 3\)", offline_at)
    demo.seen_or_expect(r"tray: Offline since", offline_at)
    relay_pid = int(demo.seen_or_expect(r"relay: is back \(pid (\d+)\)", offline_at).group(1))
    offline_line = next(
        i for i, line in enumerate(demo.transcript) if "tray: Offline since" in line
    )
    demo.seen_or_expect(r"tray: Available", offline_line + 1)

    assert alive(sim_pid)
    assert alive(relay_pid)
    demo.process.send_signal(signal.SIGINT)
    assert demo.process.wait(60) == 0
    demo.expect(r"stopped the relay and the local Zoom")
    assert not alive(sim_pid)
    assert not alive(relay_pid)
    assert nothing_listens_on(relay_port)
    assert nothing_listens_on(sim_port)
