"""uvicorn serving an ASGI app from a background thread: the one helper the
relay (``ThreadedRelay``), the local Zoom (``RunningZoomSim``), the tests and
the benchmarks share.

The listening socket is bound before the thread starts, so ``port`` and
``url`` are known at once and nothing can take the port between a probe and
uvicorn's bind (``server.serve(sockets=[sock])``). Stopping takes
milliseconds: :class:`PromptServer` notices the request to exit at once and
drains connections without uvicorn's fixed 0.1 s sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable

import uvicorn
from starlette.types import ASGIApp

__all__ = ["PromptServer", "ThreadedServer", "bind_socket", "free_port"]

#: How often a stopping server looks whether its connections have closed.
_DRAIN_INTERVAL = 0.005


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: a free port), not yet listening."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, or asyncio leaves Nagle on and every response waits ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        # SO_REUSEADDR: a restart binds the same port again while the last
        # run's connections sit in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago, for a server in another process
    (which binds it itself). In this process, bind with :class:`ThreadedServer`
    instead: it keeps the port from the start."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class PromptServer(uvicorn.Server):
    """A ``uvicorn.Server`` that notices an exit request at once and shuts down
    without fixed sleeps; ``started_event`` is set once it serves (or failed).

    ``request_exit()`` may be called from any thread.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.started_event = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._exit_requested: asyncio.Event | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            self.started_event.set()

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._exit_requested = asyncio.Event()
        while not await self.on_tick(0):  # tick 0 also refreshes the Date header
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit_requested.wait(), 1.0)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn 0.54's Server.shutdown, with its fixed 0.1 s sleeps replaced
        # by a short poll: stop accepting, ask each connection to finish,
        # wait for them and for the app's tasks, then the lifespan's shutdown.
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        try:
            await asyncio.wait_for(self._drain(), timeout=self.config.timeout_graceful_shutdown)
        except TimeoutError:
            for task in self.server_state.tasks:
                task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
        if not self.force_exit:
            await self.lifespan.shutdown()

    async def _drain(self) -> None:
        state = self.server_state
        # uvicorn signals no event when its last connection closes: poll briefly.
        while (state.connections or state.tasks) and not self.force_exit:  # noqa: ASYNC110
            await asyncio.sleep(_DRAIN_INTERVAL)
        for server in self.servers:
            await server.wait_closed()

    def request_exit(self) -> None:
        self.should_exit = True
        loop, event = self._loop, self._exit_requested
        if loop is not None and event is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(event.set)


class ThreadedServer:
    """An ASGI app served by uvicorn from a background thread.

    The port is bound when the object is made (``port=0`` picks a free one),
    so ``port`` and ``url`` are known at once. ``start()`` returns once uvicorn
    serves; ``stop()`` once it has shut down. Start again to serve on the same
    port. Subclasses override :meth:`config` to build a fresh app per start.
    """

    def __init__(
        self, app: ASGIApp | None = None, host: str = "127.0.0.1", port: int = 0, name: str = ""
    ) -> None:
        self.app = app
        self.host = host
        self._socket: socket.socket | None = bind_socket(host, port)
        self.port: int = self._socket.getsockname()[1]
        self._name = name or f"uvicorn:{self.port}"
        self._server: PromptServer | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        #: The event loop serving, while it does (tests look into it).
        self.loop: asyncio.AbstractEventLoop | None = None
        #: Called first thing in ``stop()`` (to wake requests that would hold it up).
        self.before_stop: Callable[[], None] | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def config(self) -> uvicorn.Config:
        """uvicorn's configuration for the next start (its host and port are
        not used: uvicorn serves the socket bound here)."""
        assert self.app is not None, "give an app, or override config()"
        return uvicorn.Config(
            self.app,
            log_level="warning",
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=2,
            server_header=False,
        )

    def start(self, timeout: float = 20.0) -> None:
        if self._thread is not None:
            raise RuntimeError(f"the server on {self.url} is already running")
        sock = self._socket if self._socket is not None else bind_socket(self.host, self.port)
        self._socket = sock
        self._error = None
        server = PromptServer(self.config())
        self._server = server

        async def serve() -> None:
            self.loop = asyncio.get_running_loop()
            await server.serve(sockets=[sock])

        def run() -> None:
            try:
                asyncio.run(serve())
            except BaseException as exc:  # reported by start()
                self._error = exc
            finally:
                self.loop = None
                server.started_event.set()

        self._thread = threading.Thread(target=run, name=self._name, daemon=True)
        self._thread.start()
        if not server.started_event.wait(timeout) or not server.started:
            self.stop()
            raise RuntimeError(f"the server on {self.url} did not start: {self._error!r}")

    def stop(self) -> None:
        """Shut down and wait for the thread; safe to call twice."""
        if self.before_stop is not None:
            self.before_stop()
        if self._server is not None:
            self._server.request_exit()
        if self._thread is not None:
            self._thread.join(20)
            self._thread = None
        self._server = None
        if self._socket is not None:
            self._socket.close()  # uvicorn closes it too; a restart binds again
            self._socket = None

    def __enter__(self) -> ThreadedServer:
        if self._thread is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
