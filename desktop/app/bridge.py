"""The one bridge between asyncio and Qt.

A dedicated thread runs an asyncio event loop for the client layer (REST calls
and the live socket). Work goes in through :meth:`AsyncBridge.call` and
:meth:`AsyncBridge.start_live`; results come back on the Qt thread, as
callbacks or Qt signals. Nothing else in the app knows about both worlds.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from datetime import datetime
from typing import TypeVar

from PySide6.QtCore import QObject, Qt, Signal, Slot

from desktop.client.live import Backoff, LiveConnection
from desktop.core.wire import MessageType, StateDocument

log = logging.getLogger(__name__)

T = TypeVar("T")


class _QtThreadGarbageCollection:
    """Keeps Python's cyclic garbage collector on the Qt thread.

    Automatic collection runs in whichever thread happens to allocate; when
    that is the asyncio thread it may free Qt objects (pixmaps, widgets held
    in reference cycles) off the GUI thread, which crashes. While a bridge
    runs, automatic collection is off and :meth:`collect` — called on the Qt
    thread after each delivery — does the same work at the same thresholds.
    """

    def __init__(self) -> None:
        self._users = 0
        self._was_enabled = False
        self._young_runs = 0
        self._middle_runs = 0

    def acquire(self) -> None:
        if self._users == 0:
            self._was_enabled = gc.isenabled()
            gc.disable()
        self._users += 1

    def release(self) -> None:
        self._users = max(0, self._users - 1)
        if self._users == 0 and self._was_enabled:
            gc.enable()

    def collect(self) -> None:
        threshold, _, _ = gc.get_threshold()
        if threshold == 0 or gc.get_count()[0] < threshold:
            return
        self._young_runs += 1
        generation = 0
        if self._young_runs >= 10:
            self._young_runs = 0
            self._middle_runs += 1
            generation = 1
            if self._middle_runs >= 10:
                self._middle_runs = 0
                generation = 2
        gc.collect(generation)


# One per process, like the collector it stands in for.
_garbage = _QtThreadGarbageCollection()


class _Listener:
    """Forwards the live socket's reports from the loop thread to Qt."""

    def __init__(self, bridge: AsyncBridge, generation: int) -> None:
        self._bridge = bridge
        self._generation = generation

    def _post(self, deliver: Callable[[], None]) -> None:
        self._bridge._post_live(self._generation, deliver)

    def on_message(self, kind: MessageType, document: StateDocument) -> None:
        self._post(lambda: self._bridge.live_message.emit(kind, document))

    def on_online(self) -> None:
        self._post(self._bridge.live_online.emit)

    def on_offline(self, since: datetime, reason: str) -> None:
        self._post(lambda: self._bridge.live_offline.emit(since, reason))

    def on_session_gone(self) -> None:
        self._post(self._bridge.session_gone.emit)


class AsyncBridge(QObject):
    """Runs coroutines on its own asyncio thread and reports back on the Qt thread.

    Signals:
        live_message(str, object): a snapshot or update: kind and StateDocument.
        live_online(): the live socket is connected and has a fresh snapshot.
        live_offline(object, str): the socket is down: since when (datetime), why.
        session_gone(): the relay ended the session (close 4401): sign in again.
    """

    live_message = Signal(str, object)
    live_online = Signal()
    live_offline = Signal(object, str)
    session_gone = Signal()

    _deliver = Signal(object)

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        ping_interval: float = 20.0,
        ping_timeout: float = 20.0,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(parent)
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._backoff = backoff or Backoff()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="asyncio-bridge", daemon=True)
        self._live: LiveConnection | None = None
        self._live_task: asyncio.Task[None] | None = None
        # Bumped on every start/stop of the live socket, so a report still in
        # the queue from an old socket is dropped instead of rendered.
        self._generation = 0
        self._closed = False
        self._deliver.connect(self._run_delivery, Qt.ConnectionType.QueuedConnection)
        _garbage.acquire()
        self._thread.start()

    def _run_loop(self) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        loop.run_forever()
        # Let cancelled tasks finish their cleanup (closing sockets) before the
        # loop closes, then run the callbacks those closes scheduled.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        for _ in range(3):
            loop.run_until_complete(asyncio.sleep(0))
        loop.close()

    @Slot(object)
    def _run_delivery(self, deliver: Callable[[], None]) -> None:
        if not self._closed:
            deliver()
        _garbage.collect()

    def _post_live(self, generation: int, deliver: Callable[[], None]) -> None:
        def guarded() -> None:
            if generation == self._generation:
                deliver()

        self._deliver.emit(guarded)

    def call(
        self,
        work: Callable[[], Awaitable[T]],
        on_success: Callable[[T], None],
        on_error: Callable[[Exception], None],
    ) -> None:
        """Run ``work()`` on the loop; then ``on_success`` or ``on_error`` on Qt."""
        if self._closed:
            return

        async def run() -> T:
            return await work()

        future: Future[T] = asyncio.run_coroutine_threadsafe(run(), self._loop)

        def done(finished: Future[T]) -> None:
            if finished.cancelled():
                return
            error = finished.exception()
            if error is None:
                result = finished.result()
                self._deliver.emit(lambda: on_success(result))
            elif isinstance(error, Exception):
                self._deliver.emit(lambda: on_error(error))

        future.add_done_callback(done)

    def start_live(self, url: str, token: str) -> None:
        """(Re)start the live socket for ``token``; any previous socket stops."""
        self._generation += 1
        generation = self._generation

        def start() -> None:
            self._cancel_live()
            live = LiveConnection(
                url,
                token,
                _Listener(self, generation),
                backoff=self._backoff,
                ping_interval=self._ping_interval,
                ping_timeout=self._ping_timeout,
            )
            self._live = live
            self._live_task = self._loop.create_task(live.run())

        self._loop.call_soon_threadsafe(start)

    def stop_live(self) -> None:
        self._generation += 1
        if not self._closed:
            self._loop.call_soon_threadsafe(self._cancel_live)

    def wake(self) -> None:
        """The machine woke or the network came back: retry the socket now."""
        if self._closed:
            return

        def wake() -> None:
            if self._live is not None:
                self._live.wake()

        self._loop.call_soon_threadsafe(wake)

    def _cancel_live(self) -> None:
        if self._live_task is not None:
            self._live_task.cancel()
        self._live_task = None
        self._live = None

    def close(self) -> None:
        """Close the socket cleanly, then stop the loop thread; safe to call twice.

        Blocks for at most a few seconds: the socket's close handshake is
        bounded by its close timeout.
        """
        if self._closed:
            return
        self._closed = True
        self._generation += 1

        async def shutdown() -> None:
            task = self._live_task
            self._live_task = None
            self._live = None
            if task is not None:
                task.cancel()
                await asyncio.wait({task}, timeout=5)

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(6)
        except (RuntimeError, TimeoutError):
            log.warning("the live socket did not close in time")
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if self._thread.is_alive():
            log.warning("the asyncio thread did not stop in time")
        _garbage.release()
