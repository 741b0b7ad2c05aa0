"""The tray against a relay that goes away, or freezes, as a child process.

What this proves (issue 8, the tray half):

- Relay stopped (SIGTERM): the tray says "Offline since HH:MM" and never shows
  a stale availability; while the relay is away the client retries with
  growing, jittered delays (recorded at the backoff and counted as real TCP
  connects on the relay's port) and uses almost no CPU; when the relay comes
  back on the same port the tray is live again within seconds, shows a change
  made elsewhere while it was away, and notifies nothing for the reconnect.
- Relay frozen (SIGSTOP, as after a laptop sleep): heartbeats notice the silent
  socket and the tray goes offline; after SIGCONT it is live again with the
  right state.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from desktop.app.application import TrayApplication
from desktop.app.notifier import RecordingNotifier
from desktop.client.live import Backoff
from desktop.client.presentation import TrayStatus, format_time
from tests.support.tray import AppFactory, Desktop
from tests.support.zoom import RelayProcess, add_accounts

EMAIL = "faults@example.com"
PASSWORD = "tray faults password"


@dataclass(frozen=True)
class RecordingBackoff(Backoff):
    """The app's backoff, noting each delay it hands out and when."""

    calls: list[tuple[float, int, float]] = field(default_factory=list, compare=False)

    def delay(self, attempt: int, draw: float) -> float:
        value = super().delay(attempt, draw)
        self.calls.append((time.monotonic(), attempt, value))
        return value

    def nominal(self, attempt: int) -> float:
        return min(self.cap, self.base * self.factor**attempt)


class ConnectCounter:
    """A listener on the relay's port that accepts and at once closes every
    connection, noting when each one came (a bounded accept loop in a thread)."""

    def __init__(self, port: int) -> None:
        self.times: list[float] = []
        self._stop = threading.Event()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", port))
        self._socket.listen(16)
        self._socket.settimeout(0.2)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        deadline = time.monotonic() + 60
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.times.append(time.monotonic())
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._socket.close()


def thread_cpu_seconds(native_id: int | None) -> float:
    """User+system CPU of one thread of this process, from /proc."""
    if native_id is None:
        return 0.0
    fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def relay_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PROFITRINGER_SIGNIN_DELAY_STEP="0",
        PROFITRINGER_WS_PING_INTERVAL="1",
        PROFITRINGER_WS_PING_TIMEOUT="2",
    )
    return env


@pytest.fixture
def relay_process(tmp_path: Path) -> Iterator[RelayProcess]:
    data_dir = tmp_path / "relay"
    data_dir.mkdir()
    add_accounts(data_dir, [EMAIL], PASSWORD)
    relay = RelayProcess(data_dir, relay_env())
    relay.start()
    try:
        yield relay
    finally:
        if relay.process is not None:
            # Never leave a stopped process behind.
            with contextlib.suppress(ProcessLookupError):
                os.kill(relay.process.pid, signal.SIGCONT)
        relay.stop()


@pytest.fixture
def notifier(desktop: Desktop) -> RecordingNotifier:
    return desktop.notifier


@pytest.fixture
def make_tray(make_app: AppFactory) -> Callable[[str, Backoff], TrayApplication]:
    """A tray on ``backend_url`` with fast heartbeats (0.5 s) and ``backoff``."""

    def make(backend_url: str, backoff: Backoff) -> TrayApplication:
        return make_app(backend_url=backend_url, backoff=backoff, ping_interval=0.5)

    return make


def signed_in_tray(qtbot: Any, make_tray: Any, relay: RelayProcess, backoff: Backoff) -> Any:
    app = make_tray(relay.url, backoff)
    app.start()
    results: list[str | None] = []
    app.controller.sign_in(relay.url, EMAIL, PASSWORD, results.append)
    qtbot.waitUntil(lambda: results == [None], timeout=10_000)
    qtbot.waitUntil(lambda: app.controller.model.online, timeout=10_000)
    return app


def rest_sign_in(base_url: str) -> str:
    answer = httpx.post(
        base_url + "/api/v1/sessions",
        json={"email": EMAIL, "password": PASSWORD, "device_name": "web"},
        timeout=10,
    )
    answer.raise_for_status()
    token: str = answer.json()["token"]
    return token


def assert_offline_since(status: TrayStatus, now: Any) -> None:
    assert status.kind == "offline"
    assert status.since is not None
    hhmm = format_time(status.since, now)
    assert status.title == f"Offline since {hhmm} — reconnecting"
    assert f"since {hhmm}" in status.tooltip
    assert "vailable" not in status.title
    assert "vailable since" not in status.tooltip


def test_relay_away_backoff_idle_cpu_and_return(
    qtbot: Any, make_tray: Any, relay_process: RelayProcess, notifier: RecordingNotifier
) -> None:
    relay = relay_process
    backoff = RecordingBackoff(base=0.1, factor=2.0, cap=1.0, jitter=0.3)
    app = signed_in_tray(qtbot, make_tray, relay, backoff)
    controller = app.controller
    assert controller.model.document is not None
    assert controller.model.document.preferred == "available"
    shown_before = list(notifier.shown)
    statuses: list[TrayStatus] = []
    controller.status_changed.connect(statuses.append)

    relay.stop()  # SIGTERM: a graceful shutdown, the socket closes
    qtbot.waitUntil(lambda: controller.status().kind == "offline", timeout=10_000)
    qtbot.waitUntil(lambda: controller.status().since is not None, timeout=10_000)
    assert_offline_since(controller.status(), controller.now())
    assert app.tray is not None
    assert app.tray.tray.toolTip() == controller.status().tooltip

    counter = ConnectCounter(relay.port)
    try:
        # Meanwhile, another client changes the state through the same data on
        # another port, so the tray cannot see it happen.
        elsewhere = RelayProcess(relay.data_dir, relay_env())
        elsewhere.start()
        try:
            token = rest_sign_in(elsewhere.url)
            httpx.put(
                elsewhere.url + "/api/v1/availability",
                json={"preferred": "unavailable"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            ).raise_for_status()
        finally:
            elsewhere.stop()

        # The idle window: nothing but the client's own retries.
        bridge_thread = app.bridge._thread.native_id
        seen = len(counter.times)
        wall0, cpu0 = time.monotonic(), time.process_time()
        thread0 = thread_cpu_seconds(bridge_thread)
        qtbot.waitUntil(lambda: len(counter.times) >= seen + 4, timeout=15_000)
        wall = time.monotonic() - wall0
        cpu = time.process_time() - cpu0
        thread_cpu = thread_cpu_seconds(bridge_thread) - thread0
    finally:
        counter.close()

    print(
        f"\naway window {wall:.2f} s: process CPU {cpu:.3f} s "
        f"({100 * cpu / wall:.1f} % of a core), "
        f"client thread {thread_cpu:.3f} s ({100 * thread_cpu / wall:.1f} %)"
    )
    assert cpu / wall < 0.20
    assert thread_cpu / wall < 0.05

    delays = [value for _, _, value in backoff.calls]
    attempts = [attempt for _, attempt, _ in backoff.calls]
    print("backoff delays:", ", ".join(f"{d:.3f}" for d in delays))
    intervals = [b - a for a, b in zip(counter.times, counter.times[1:], strict=False)]
    print("intervals between TCP connects:", ", ".join(f"{d:.3f}" for d in intervals))
    assert attempts == list(range(len(attempts)))
    assert len(delays) >= 6
    # Growing: every step before the cap is longer than the one before it.
    below_cap = [d for a, d in zip(attempts, delays, strict=True) if backoff.nominal(a) < 1.0]
    assert below_cap == sorted(below_cap)
    assert max(delays) >= 4 * delays[0]
    # Jittered: the delays are not the nominal ones scaled alike.
    ratios = {round(d / backoff.nominal(a), 6) for a, d in zip(attempts, delays, strict=True)}
    assert len(ratios) > 1
    # The real connects are spaced by the backoff: no hot loop, not lock-step.
    assert len(intervals) >= 3
    assert min(intervals) >= 0.9 * 0.7 * 0.1
    assert statistics.median(intervals[-3:]) >= 0.6
    assert max(intervals) - min(intervals) > 0.01

    # Never a stale availability while away.
    away = [s for s in statuses if s.kind == "offline"]
    assert away
    assert all(s.kind == "offline" for s in statuses), [s.title for s in statuses]
    assert all("vailable" not in s.title + s.tooltip.split("\n")[0] for s in statuses)

    relay.start()  # same port, same data; returns once /healthz answers
    back = time.monotonic()
    qtbot.waitUntil(lambda: controller.model.online, timeout=10_000)
    reconnect = time.monotonic() - back
    print(f"live again {reconnect:.2f} s after the relay answered")
    assert reconnect < 5.0
    document = controller.model.document
    assert document is not None
    assert document.preferred == "unavailable"
    status = controller.status()
    assert "Unavailable since" in status.tooltip
    # From going away to being back: every status shown was "offline" or the
    # fresh state, never the one from before the relay went away.
    after = statuses[len(away) :]
    assert all("Available since" not in s.tooltip for s in after), [s.tooltip for s in after]
    # No notification for going offline, the reconnect snapshot, or a change
    # the person made in another client.
    assert notifier.shown == shown_before


def test_frozen_relay_is_noticed_by_heartbeats_and_recovered(
    qtbot: Any, make_tray: Any, relay_process: RelayProcess, notifier: RecordingNotifier
) -> None:
    relay = relay_process
    backoff = Backoff(base=0.1, factor=2.0, cap=1.0, jitter=0.3)
    app = signed_in_tray(qtbot, make_tray, relay, backoff)
    controller = app.controller
    token = rest_sign_in(relay.url)
    shown_before = list(notifier.shown)
    assert relay.process is not None
    pid = relay.process.pid

    os.kill(pid, signal.SIGSTOP)
    try:
        frozen = time.monotonic()
        qtbot.waitUntil(lambda: controller.status().kind == "offline", timeout=10_000)
        qtbot.waitUntil(lambda: controller.status().since is not None, timeout=10_000)
        noticed = time.monotonic() - frozen
        print(f"\nfrozen relay noticed after {noticed:.2f} s (ping 0.5 s, timeout 1.0 s)")
        assert noticed < 6.0
        assert_offline_since(controller.status(), controller.now())
    finally:
        os.kill(pid, signal.SIGCONT)
    thawed = time.monotonic()
    qtbot.waitUntil(lambda: controller.model.online, timeout=15_000)
    recovered = time.monotonic() - thawed
    print(f"live again {recovered:.2f} s after SIGCONT")
    # A change made right after the thaw reaches the tray over the new socket.
    httpx.put(
        relay.url + "/api/v1/ringer",
        json={"on": False},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).raise_for_status()
    qtbot.waitUntil(lambda: controller.status().kind == "ringer_off", timeout=10_000)
    assert notifier.shown == shown_before


def test_the_state_from_before_a_loss_is_not_shown_until_a_fresh_snapshot() -> None:
    from datetime import UTC, datetime

    from desktop.client.presentation import TrayModel
    from tests.client.documents import document

    now = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    model = TrayModel(clock=lambda: now)
    model.signed_in()
    model.apply_live("snapshot", document(seq=3))
    model.went_online()
    assert model.status().kind == "available"
    model.went_offline(now)
    # The socket says "online" a moment before it hands over the new snapshot.
    model.went_online()
    assert model.status().kind == "offline"
    # (Read into a name, so that mypy does not take it for False for good.)
    online_before_the_snapshot = model.online
    assert not online_before_the_snapshot
    model.apply_live("snapshot", document(seq=4, ringer_on=False))
    assert model.online
    assert model.status().kind == "ringer_off"
