"""A relay wired to the local Zoom for reliability tests: in a thread or as a
real ``python -m desktop relay`` subprocess, plus the OAuth dance and waits.

The helpers mirror those of ``tests/relay/zoom/conftest.py`` (same secrets,
same flow) so the two suites read alike; this module adds what the
reliability tests need on top: many accounts at once, a relay process that can
be killed with SIGKILL and started again, and bounded waits.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection

from desktop.core.wire import now_utc
from desktop.relay.passwords import hash_password
from desktop.relay.storage import Store
from desktop.relay.zoom.start_page import continue_link
from desktop.serving import free_port
from desktop.zoomsim.server import RunningZoomSim
from desktop.zoomsim.sim import SimConfig
from tests.support.live import next_message
from tests.support.relay import RunningRelay

CLIENT_ID = "reliability-client-id"
CLIENT_SECRET = "reliability-client-secret-9q8w7e6r"
WEBHOOK_SECRET = "reliability-webhook-secret-5t4y3u2i"
PASSWORD = "correct horse battery staple"

RELAY_PATHS = ("/api/", "/oauth/zoom/", "/webhooks/", "/healthz", "/openapi.json")


def sim_config(**overrides: Any) -> SimConfig:
    """A local Zoom that approves consent at once and retries webhooks fast."""
    values: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "webhook_secret": WEBHOOK_SECRET,
        "auto_approve": True,
        "retry_time_scale": 0.0002,
        "webhook_timeout": 5.0,
        "fault_timeout": 3.0,
    }
    values.update(overrides)
    return SimConfig(**values)


def zoom_settings(sim: RunningZoomSim, **overrides: Any) -> dict[str, Any]:
    """RelaySettings overrides pointing a threaded relay at ``sim``."""
    settings: dict[str, Any] = {
        "zoom_client_id": CLIENT_ID,
        "zoom_client_secret": CLIENT_SECRET,
        "zoom_webhook_secret": WEBHOOK_SECRET,
        "zoom_oauth_url": sim.url,
        "zoom_api_url": sim.url,
        "zoom_revoke_timeout": 1.0,
        "zoom_http_timeout": 5.0,
    }
    settings.update(overrides)
    return settings


def zoom_env(sim: RunningZoomSim, **extra: str) -> dict[str, str]:
    """The environment of a relay subprocess pointed at ``sim``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROFITRINGER_")}
    env.update(
        {
            "PROFITRINGER_ZOOM_CLIENT_ID": CLIENT_ID,
            "PROFITRINGER_ZOOM_CLIENT_SECRET": CLIENT_SECRET,
            "PROFITRINGER_ZOOM_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "PROFITRINGER_ZOOM_OAUTH_URL": sim.url,
            "PROFITRINGER_ZOOM_API_URL": sim.url,
            "PROFITRINGER_ZOOM_HTTP_TIMEOUT": "5",
            "PROFITRINGER_SIGNIN_DELAY_STEP": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


class Wire:
    """Every HTTP answer the tests saw from the relay, and every socket message."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def record(self, response: httpx.Response) -> None:
        if response.request.url.path.startswith(RELAY_PATHS):
            response.read()
            self.seen.append(str(response.headers) + response.text)

    def client(self, base_url: str, token: str | None = None, timeout: float = 15) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(
            base_url=base_url,
            headers=headers,
            timeout=timeout,
            event_hooks={"response": [self.record]},
        )

    def async_client(self, base_url: str, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}

        async def record(response: httpx.Response) -> None:
            if response.request.url.path.startswith(RELAY_PATHS):
                await response.aread()
                self.seen.append(str(response.headers) + response.text)

        return httpx.AsyncClient(
            base_url=base_url, headers=headers, timeout=15, event_hooks={"response": [record]}
        )

    async def next(self, ws: ClientConnection, wait: float = 10.0) -> dict[str, Any]:
        message = await next_message(ws, wait)
        self.seen.append(json.dumps(message))
        return message


def add_accounts(
    data_dir: Path,
    emails: list[str],
    password: str = PASSWORD,
    database_url: str | None = None,
) -> list[str]:
    """Create accounts straight in the store (as ``relay user add`` does); their ids.

    Only while no relay holds ``data_dir`` (SQLite); any time on PostgreSQL.
    """
    store = Store.open_url(database_url, data_dir)
    try:
        hashed = hash_password(password)
        return [store.add_account(email, hashed, now_utc()).id for email in emails]
    finally:
        store.close()


def sign_in(base_url: str, email: str, wire: Wire | None = None, password: str = PASSWORD) -> str:
    with wire.client(base_url) if wire else httpx.Client(base_url=base_url, timeout=15) as api:
        response = api.post(
            "/api/v1/sessions", json={"email": email, "password": password, "device_name": "t"}
        )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def zoom_link(browser: httpx.Client, start_url: str, login_hint: str | None = None) -> str:
    """Open the relay's start page in ``browser`` (its cookie jar takes the
    binding) and return the Zoom authorize URL the page continues to."""
    page = browser.get(start_url)
    assert page.status_code == 200, page.text
    url = continue_link(page.text)
    assert url is not None, page.text
    return url + "&login_hint=" + login_hint if login_hint else url


def connect_zoom(
    base_url: str, wire: Wire, token: str, login_hint: str | None = None
) -> httpx.Response:
    """Ask the relay for the connect link and follow it, as one browser would:
    the relay's start page, the local Zoom, back to the relay's callback."""
    with wire.client(base_url, token) as api:
        response = api.post("/api/v1/integrations/zoom/connect")
    assert response.status_code == 200, response.text
    with wire.client(base_url) as browser:
        url = zoom_link(browser, response.json()["authorize_url"], login_hint)
        return browser.get(url, follow_redirects=True)


def state_of(base_url: str, token: str, wire: Wire | None = None) -> dict[str, Any]:
    with (
        wire.client(base_url, token)
        if wire
        else httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=15
        ) as api
    ):
        response = api.get("/api/v1/state")
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def issued_secrets(sim: RunningZoomSim) -> list[str]:
    issued = sim.sim.issued_tokens()
    return [*issued["access_tokens"], *issued["refresh_tokens"], *issued["codes"]]


@dataclass
class Person:
    """One relay account linked to one local-Zoom user."""

    email: str
    zoom_email: str
    account_id: str
    token: str


def people_with_zoom(
    base_url: str, sim: RunningZoomSim, wire: Wire, emails: list[str], ids: list[str]
) -> list[Person]:
    """Sign each account in and connect it to its own local-Zoom user (OAuth)."""
    people = []
    for email, account_id in zip(emails, ids, strict=True):
        zoom_email = "zoom-" + email
        sim.sim.add_user(zoom_email)
        token = sign_in(base_url, email, wire)
        answer = connect_zoom(base_url, wire, token, login_hint=zoom_email)
        assert answer.status_code == 200, answer.text
        people.append(Person(email, zoom_email, account_id, token))
    return people


class RelayProcess:
    """``python -m desktop relay`` as a child process on a fixed port and data dir.

    Its stderr (the relay's log) goes to a file that outlives restarts, so a
    test can scan everything it ever logged.
    """

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str],
        port: int | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.data_dir = data_dir
        self.env = env
        self.extra_args = extra_args
        self.port = port or free_port()
        self.log_path = data_dir.parent / f"relay-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        assert self.process is None
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "desktop",
                    "relay",
                    "--data-dir",
                    str(self.data_dir),
                    "--port",
                    str(self.port),
                    *self.extra_args,
                ],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the relay exited with {self.process.returncode}: {self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"the relay did not answer within {timeout} s")
            # Between health checks, wait on the process itself: a relay that
            # dies while starting is seen at once.
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=0.02)

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flush, exactly like a crash."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(15)
        self.process = None

    def stop(self) -> None:
        """SIGTERM and wait (graceful), falling back to SIGKILL."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextlib.contextmanager
def relay_process(data_dir: Path, env: dict[str, str]) -> Iterator[RelayProcess]:
    running = RelayProcess(data_dir, env)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def zoom_relay_url(relay: RunningRelay) -> str:
    return relay.url + "/webhooks/zoom"
