"""``profitringer demo --relays 3``: three relays on one PostgreSQL and Redis
behind haproxy, and a live socket through the balancer that keeps working
while the relays are killed one after another (issue 13)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from desktop.client.live import Backoff, LiveConnection
from desktop.core.wire import MessageType, StateDocument
from desktop.demo.world import DemoSession, DemoWorld, SimControl
from tests.support.waiting import wait_until


class Recorder:
    """A LiveListener that keeps what the socket said, for the test's thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.documents: list[StateDocument] = []
        self.online = 0
        self.offline = 0

    def on_message(self, kind: MessageType, document: StateDocument) -> None:
        with self.lock:
            self.documents.append(document)

    def on_online(self) -> None:
        with self.lock:
            self.online += 1

    def on_offline(self, since: datetime, reason: str) -> None:
        with self.lock:
            self.offline += 1

    def on_session_gone(self) -> None:  # pragma: no cover - fails the test below
        raise AssertionError("the session was lost")

    def in_meeting(self) -> bool | None:
        with self.lock:
            if not self.documents:
                return None
            return self.documents[-1].in_meeting


class SocketThread:
    """The tray's own live connection, run on a loop of its own."""

    def __init__(self, session: DemoSession, recorder: Recorder) -> None:
        url = session.relay_url.replace("http://", "ws://") + "/api/v1/live"
        self.connection = LiveConnection(
            url,
            session.token,
            recorder,
            # reconnect at once after a loss, as a woken machine would
            backoff=Backoff(base=0.05, cap=0.2),
        )
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.task: asyncio.Task[None] | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.task = self.loop.create_task(self.connection.run())
        with contextlib.suppress(asyncio.CancelledError):
            self.loop.run_until_complete(self.task)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        def cancel() -> None:
            if self.task is not None:
                self.task.cancel()

        self.loop.call_soon_threadsafe(cancel)
        self.thread.join(10)
        if not self.thread.is_alive():
            self.loop.close()  # its self-pipe sockets with it


def _is(read: Callable[[], object], want: object) -> bool:
    return read() is want


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[DemoWorld, DemoSession]]:
    events: list[tuple[str, str]] = []
    demo = DemoWorld(tmp_path / "demo", fresh=False, on_event=lambda *e: events.append(e), relays=3)
    try:
        yield demo, demo.start()
    finally:
        demo.stop()


def test_three_relays_behind_the_balancer_survive_each_one_killed(
    cluster: tuple[DemoWorld, DemoSession],
) -> None:
    world, session = cluster
    assert set(world.supervisor.children) >= {
        "PostgreSQL",
        "Redis",
        "relay 1",
        "relay 2",
        "relay 3",
        "balancer",
    }
    control = SimControl(session.sim_url, session.zoom_email, session.relay_url, session.token)
    recorder = Recorder()
    socket = SocketThread(session, recorder)
    socket.start()
    try:
        wait_until(lambda: recorder.in_meeting() is False, timeout=20, what="the first snapshot")
        joined = True
        for number in (1, 2, 3):
            world.supervisor.children[f"relay {number}"].kill_for_test()
            # Whichever relay the socket was on, the meeting change reaches it:
            # the webhook lands on a living relay, and the socket either stayed
            # on one or reconnected through the balancer to one.
            assert (control.join_meeting() if joined else control.leave_meeting()) == "sent"
            wait_until(
                functools.partial(_is, recorder.in_meeting, joined),
                timeout=30,
                what=f"the socket to follow the meeting after relay {number} was killed",
            )
            joined = not joined
        wait_until(
            lambda: all(
                not child.failed and child.restarts == 1
                for name, child in world.supervisor.children.items()
                if name.startswith("relay ")
            ),
            timeout=30,
            what="every killed relay restarted",
        )
    finally:
        socket.stop()
