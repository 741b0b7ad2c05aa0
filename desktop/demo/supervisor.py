"""Child-process supervision for the demo: start, wait until healthy, restart a
child that dies (a bounded number of times), and stop them all, leaving no
orphan process and no bound port behind. Qt-free; events go to a callback."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final

import httpx

from desktop.demo.child import PARENT_ENV

#: Restarts allowed per child before the demo gives up on it.
MAX_RESTARTS: Final = 3

EventSink = Callable[[str, str], None]  # (child name, sentence)


@dataclass
class ChildSpec:
    """What to run. The child is healthy once ``health_url`` answers 2xx, or, for
    a server that speaks no HTTP (PostgreSQL, Redis), once ``health()`` is true."""

    name: str
    argv: Sequence[str]
    health_url: str | None
    log_path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    health: Callable[[], bool] | None = None
    #: Run as this user (the demo as root starts PostgreSQL as ``nobody``).
    user: str | None = None
    #: How the child is asked to stop (PostgreSQL: SIGINT is its "fast" shutdown).
    stop_signal: int = signal.SIGTERM


class ChildError(RuntimeError):
    """A child did not start or kept dying; the message names its log."""


class Child:
    def __init__(self, spec: ChildSpec, on_event: EventSink) -> None:
        self.spec = spec
        self._on_event = on_event
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.restarts = 0
        self.failed = False
        self._watcher: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self, timeout: float = 30.0) -> None:
        self._spawn()
        self.wait_healthy(timeout)
        self._watcher = threading.Thread(
            target=self._watch, name=f"watch-{self.spec.name}", daemon=True
        )
        self._watcher.start()

    def _spawn(self) -> None:
        self.spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self._log is None:
            self._log = open(self.spec.log_path, "ab")  # noqa: SIM115 - kept for the child's life
        # The child follows us out (desktop/demo/child.py); its own process
        # group keeps Ctrl-C in the terminal for the demo, which stops it.
        env = {**os.environ, **self.spec.env, PARENT_ENV: str(os.getpid())}
        self._process = subprocess.Popen(
            list(self.spec.argv),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            process_group=0,
            user=self.spec.user,
        )

    def wait_healthy(self, timeout: float) -> None:
        process = self._process
        assert process is not None
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self._healthy(client):
                    return
                try:
                    code = process.wait(timeout=0.1)
                except subprocess.TimeoutExpired:
                    continue
                raise ChildError(
                    f"{self.spec.name} exited with status {code} while starting; "
                    f"see its log: {self.spec.log_path}"
                )
        what = self.spec.health_url or "its health check"
        raise ChildError(
            f"{self.spec.name} did not answer {what} within {timeout:.0f} s; "
            f"see its log: {self.spec.log_path}"
        )

    def _healthy(self, client: httpx.Client) -> bool:
        if self.spec.health is not None:
            return self.spec.health()
        if self.spec.health_url is None:
            return True
        try:
            return client.get(self.spec.health_url).is_success
        except httpx.TransportError:
            return False

    def _watch(self) -> None:
        while not self._stopping.is_set():
            process = self._process
            assert process is not None
            code = process.wait()
            if self._stopping.is_set():
                return
            with self._lock:
                if self.restarts >= MAX_RESTARTS:
                    self.failed = True
                    self._on_event(
                        self.spec.name,
                        f"stopped with status {code} and was restarted {MAX_RESTARTS} times "
                        f"already; giving up. Its log: {self.spec.log_path}",
                    )
                    return
                self.restarts += 1
                self._on_event(
                    self.spec.name,
                    f"stopped unexpectedly (status {code}); restarting "
                    f"({self.restarts} of {MAX_RESTARTS})",
                )
                self._spawn()
            try:
                self.wait_healthy(30.0)
            except ChildError as problem:
                self._on_event(self.spec.name, str(problem))
                continue
            self._on_event(self.spec.name, f"is back (pid {self.pid})")

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        with self._lock:
            process = self._process
            if process is not None and process.poll() is None:
                process.send_signal(self.spec.stop_signal)
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout)
        if self._watcher is not None:
            self._watcher.join(timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill_for_test(self) -> None:
        """Kill the child as a crash would (the supervisor then restarts it)."""
        if self._process is not None:
            self._process.kill()


class Supervisor:
    """Starts children in order and stops them in reverse order."""

    def __init__(self, on_event: EventSink) -> None:
        self._on_event = on_event
        self.children: dict[str, Child] = {}

    def start(self, spec: ChildSpec) -> Child:
        child = Child(spec, self._on_event)
        self.children[spec.name] = child
        try:
            child.start()
        except BaseException:
            child.stop()
            raise
        self._on_event(spec.name, f"running (pid {child.pid}, log {spec.log_path})")
        return child

    def stop_all(self) -> None:
        for child in reversed(list(self.children.values())):
            child.stop()
        self.children.clear()
