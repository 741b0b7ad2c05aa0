"""The tray fixtures (tests/support/tray.py) for this folder's tests, and a
signed-in app whose relay is faked at the HTTP layer (httpx.MockTransport) and
whose live messages are fed through the bridge."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from desktop.app.application import TrayApplication
from desktop.client.api import RelayClient
from desktop.client.credentials import TokenKeyring
from desktop.client.settings import AppSettings, SettingsStore
from desktop.core.wire import StateDocument
from tests.client.documents import document, raw_document
from tests.support.tray import AppFactory, desktop, make_app

__all__ = ["desktop", "fake_relay", "make_app", "online_app"]

BACKEND = "http://127.0.0.1:9"
EMAIL = "ada@example.com"


class FakeRelay:
    """A tiny relay for MockTransport: answers with the next state document."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.seq = 100
        self.zoom_state = "connected"

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, request.url.path, body))
        path = request.url.path
        if path == "/api/v1/integrations/zoom/connect":
            return httpx.Response(
                200, json={"authorize_url": "http://127.0.0.1:9/authorize?state=s"}
            )
        if path == "/api/v1/meetings":
            assert body is not None, "a meeting is created with a JSON body"
            return httpx.Response(
                201,
                json={"join_url": "https://zoom.example/j/123", "id": 123, "topic": body["topic"]},
            )
        if path == "/api/v1/integrations/zoom":
            self.zoom_state = "disconnected"
        if path == "/api/v1/sessions/current":
            return httpx.Response(204)
        self.seq += 1
        return httpx.Response(
            200, json=raw_document(seq=self.seq, zoom_state=self.zoom_state, cause="ringer_changed")
        )


@pytest.fixture
def fake_relay() -> FakeRelay:
    return FakeRelay()


@pytest.fixture
def online_app(
    qtbot: Any, make_app: AppFactory, tmp_path: Path, memory_keyring: Any, fake_relay: FakeRelay
) -> Callable[..., TrayApplication]:
    """A signed-in app whose live socket is replaced by messages the test sends."""

    def build(first: StateDocument | None = None, **kwargs: Any) -> TrayApplication:
        config = tmp_path / "config"
        SettingsStore(config).save(AppSettings(backend_url=BACKEND, email=EMAIL))
        TokenKeyring().save(BACKEND, EMAIL, "tok")

        def client(url: str, token: str | None) -> RelayClient:
            return RelayClient(url, token, transport=httpx.MockTransport(fake_relay))

        app = make_app(config_dir=config, client_factory=client, **kwargs)
        app.bridge.start_live = lambda url, token: None  # type: ignore[method-assign]
        app.start()
        assert app.controller.signed_in
        assert not app.shell.sign_in_dialog.isVisible()
        assert app.controller.status().title == "Connecting…"
        app.bridge.live_online.emit()
        app.bridge.live_message.emit("snapshot", first or document(seq=1))
        return app

    return build
