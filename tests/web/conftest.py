"""The web page in a real browser: one headless chromium for the whole session,
one relay wired to one local Zoom per module, a fresh account per test, and
the tray's own client library (``desktop/client``) signed in beside the page."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from desktop.client.api import RelayClient
from desktop.client.live import Backoff, LiveConnection
from desktop.core.wire import MessageType, StateDocument
from desktop.zoomsim.server import RunningZoomSim, run_in_thread
from tests.support import browser as chromium
from tests.support.relay import RunningRelay, start_relay
from tests.support.zoom import PASSWORD, sim_config, zoom_settings

ZOOM_USER = "demo@zoom.example"  # the local Zoom's default user

_missing = chromium.missing()
if _missing is not None:
    pytest.skip(_missing, allow_module_level=True)

_accounts = itertools.count()


@pytest.fixture(scope="session")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    browser = chromium.start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningZoomSim]:
    with run_in_thread(sim_config()) as running:
        yield running


@pytest.fixture(scope="module")
def web_relay(
    tmp_path_factory: pytest.TempPathFactory, sim: RunningZoomSim
) -> Iterator[RunningRelay]:
    with start_relay(
        tmp_path_factory.mktemp("web") / "relay", **zoom_settings(sim), signin_refuse_after=1000
    ) as running:
        sim.sim.set_webhook_url(running.url + "/webhooks/zoom")
        yield running


@pytest.fixture
def browser(driver: Any) -> Iterator[Any]:
    """The session's browser with no cookies and no console messages left over."""
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    driver.get("about:blank")
    driver.get_log("browser")
    yield driver
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    driver.get("about:blank")


class Person:
    """A fresh account. The page connects it to the local Zoom's default user
    (the page follows the relay's authorize URL as it is, with no login hint),
    so each test's account is deleted afterwards to unlink that user."""

    def __init__(self, relay: RunningRelay) -> None:
        self.email = f"person{next(_accounts)}@example.com"
        self.password = PASSWORD
        relay.add_user(self.email, PASSWORD)


@pytest.fixture
def person(web_relay: RunningRelay, sim: RunningZoomSim) -> Iterator[Person]:
    someone = Person(web_relay)
    yield someone
    token = web_relay.sign_in(someone.email, someone.password)
    deleted = httpx.request(
        "DELETE",
        web_relay.url + "/api/v1/account",
        json={"password": someone.password},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert deleted.status_code == 204
    sim.sim.set_presence(ZOOM_USER, "Available")


class TrayClient:
    """The tray's client library (REST + live socket), on its own asyncio thread,
    recording every state it receives and whether its session ended."""

    def __init__(self, base_url: str) -> None:
        self.api = RelayClient(base_url)
        self.documents: list[StateDocument] = []
        self.session_gone = False
        self._changed = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._task: concurrent.futures.Future[None] | None = None

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(30)

    def sign_in(self, email: str, password: str) -> None:
        self.run(self.api.sign_in(email, password, "ada-laptop (tray)"))
        assert self.api.token is not None
        live = LiveConnection(
            self.api.live_url,
            self.api.token,
            self,
            backoff=Backoff(base=0.1, cap=0.5),
            ping_interval=1.0,
            ping_timeout=2.0,
        )
        self._task = asyncio.run_coroutine_threadsafe(live.run(), self._loop)

    # LiveListener
    def on_message(self, kind: MessageType, document: StateDocument) -> None:
        with self._changed:
            self.documents.append(document)
            self._changed.notify_all()

    def on_online(self) -> None:
        pass

    def on_offline(self, since: datetime, reason: str) -> None:
        pass

    def on_session_gone(self) -> None:
        with self._changed:
            self.session_gone = True
            self._changed.notify_all()

    def wait_for(self, condition: Callable[[TrayClient], bool], timeout: float = 10.0) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: condition(self), timeout):
                last = self.documents[-1] if self.documents else None
                raise AssertionError(f"the tray's client never saw that; last state {last}")

    @property
    def latest(self) -> StateDocument:
        return self.documents[-1]

    def close(self) -> None:
        async def stop_live() -> None:
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(stop_live())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture
def tray(web_relay: RunningRelay) -> Iterator[TrayClient]:
    client = TrayClient(web_relay.url)
    try:
        yield client
    finally:
        client.close()


def output_dir() -> Path:
    return chromium.SCREENSHOTS
