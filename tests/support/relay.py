"""A real relay on 127.0.0.1 for tests: uvicorn in a thread, a temporary data dir."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

from desktop.core.wire import now_utc
from desktop.relay.config import RelaySettings
from desktop.relay.passwords import hash_password
from desktop.relay.server import ThreadedRelay
from desktop.relay.storage import Store

#: ``PROFITRINGER_TEST_CLUSTER=1``: the relay fixtures run on a fresh PostgreSQL
#: database and the Redis broker, each beside a second relay on the same two
#: (which plans the same jobs, hears every change and holds its own sockets);
#: tests marked ``sqlite_only`` are skipped.
CLUSTER_MODE = os.environ.get("PROFITRINGER_TEST_CLUSTER") == "1"


class RunningRelay:
    """A relay serving on a free port; restartable on the same port and data dir."""

    def __init__(self, settings: RelaySettings) -> None:
        self._threaded = ThreadedRelay(settings)
        self.settings = settings

    @property
    def url(self) -> str:
        return self._threaded.url

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/api/v1/live"

    @property
    def relay(self) -> Any:
        return self._threaded.relay

    def open_http_connections(self) -> int:
        return self._threaded.open_http_connections()

    def task_count(self) -> int:
        """How many asyncio tasks the relay's event loop holds now."""
        loop = self._threaded.loop
        assert loop is not None, "the relay is not serving"

        async def count() -> int:
            return len(asyncio.all_tasks())

        return asyncio.run_coroutine_threadsafe(count(), loop).result(10)

    def start(self) -> None:
        self._threaded.start()

    def stop(self) -> None:
        self._threaded.stop()

    def add_user(self, email: str, password: str) -> str:
        """Create an account as ``profitringer relay user add`` does; returns its id."""
        store = Store.open_url(self.settings.database_url, self.settings.data_dir)
        try:
            return store.add_account(email, hash_password(password), now_utc()).id
        finally:
            store.close()

    def set_password(self, email: str, password: str) -> str:
        """``profitringer relay user passwd`` against this relay's store (an operator
        at the relay's machine); what it printed."""
        env = dict(os.environ)
        if self.settings.database_url:
            env["PROFITRINGER_DATABASE_URL"] = self.settings.database_url
        relay_cli = [sys.executable, "-m", "desktop", "relay", "--data-dir"]
        done = subprocess.run(
            [*relay_cli, str(self.settings.data_dir), "user", "passwd", email, "--password-stdin"],
            input=password + "\n",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=env,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def sign_in(self, email: str, password: str, device: str = "test") -> str:
        response = httpx.post(
            self.url + "/api/v1/sessions",
            json={"email": email, "password": password, "device_name": device},
        )
        response.raise_for_status()
        token: str = response.json()["token"]
        return token


#: The Zoom token key of test relays on PostgreSQL: the same for all of them.
TEST_TOKEN_KEY = Fernet.generate_key().decode("ascii")


def relay_settings(data_dir: Path, **overrides: Any) -> RelaySettings:
    """Settings for a test relay: free port, fast heartbeats, no sign-in delays."""
    settings = RelaySettings(data_dir=data_dir, port=0)
    settings.ws_ping_interval = 1.0
    settings.ws_ping_timeout = 2.0
    settings.ws_auth_timeout = 1.0
    settings.signin_delay_step = 0.0
    settings.signin_max_delay = 0.0
    for name, value in overrides.items():
        if not hasattr(settings, name):
            raise AttributeError(f"RelaySettings has no {name}")
        setattr(settings, name, value)
    if settings.shared_database and "token_keys" not in overrides:
        # Relays on one PostgreSQL database share their token keys (no key file).
        settings.token_keys = [TEST_TOKEN_KEY]
    return settings


@contextlib.contextmanager
def start_relay(data_dir: Path, **overrides: Any) -> Iterator[RunningRelay]:
    running = RunningRelay(relay_settings(data_dir, **overrides))
    running.start()
    try:
        yield running
    finally:
        running.stop()


@contextlib.contextmanager
def with_sibling(data_dir: Path, **settings: Any) -> Iterator[None]:
    """In cluster mode, a second relay on the same database and broker."""
    if not CLUSTER_MODE:
        yield
        return
    with start_relay(data_dir.with_name(data_dir.name + "-sibling"), **settings):
        yield
