"""The webhook's plain-ASGI route (webhooks.WebhookRoute): it answers a POST to
/webhooks/zoom itself, byte for byte as the FastAPI route would, and hands
every other request on to the app."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from desktop.relay.app import AccessLog, BodyLimit
from desktop.relay.relay import Relay
from desktop.relay.server import build_app
from desktop.relay.zoom.integration import ZoomIntegration
from desktop.relay.zoom.webhooks import WebhookRoute, ZoomWebhooks
from desktop.zoomsim.webhook_signing import sign
from tests.relay.zoom.conftest import WEBHOOK_SECRET, signed_post
from tests.support.relay import RunningRelay, relay_settings

NOW = 1_780_000_000.0
LIMIT = 4096


class Inner:
    """The app behind the route: records what reaches it."""

    def __init__(self) -> None:
        self.paths: list[tuple[str, str]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.paths.append((scope["method"], scope["path"]))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def route(secret: str | None = WEBHOOK_SECRET) -> tuple[WebhookRoute, Inner]:
    inner = Inner()
    # A URL validation touches no account, so no integration is needed behind it.
    receiver = ZoomWebhooks(cast(ZoomIntegration, None), secret)
    return WebhookRoute(inner, receiver, now=lambda: NOW, limit=LIMIT, read_timeout=5.0), inner


def call(
    app: WebhookRoute, method: str, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    scope: dict[str, Any] = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }
    parts = [body[:5], body[5:]]  # the body in two messages, as a server may send it
    sent: list[Message] = []

    async def receive() -> Message:
        chunk = parts.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(parts)}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start, end = sent
    response_headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], response_headers, end["body"]


def validation(plain: str = "qgg8vlvZRS6UYooatFL8Aw") -> bytes:
    event = {"event": "endpoint.url_validation", "payload": {"plainToken": plain}}
    return json.dumps(event).encode()


def signed(body: bytes, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    return {
        "x-zm-request-timestamp": str(int(NOW)),
        "x-zm-signature": sign(secret, int(NOW), body),
        "content-type": "application/json",
    }


def test_a_signed_post_is_answered_without_reaching_the_app() -> None:
    app, inner = route()
    status, headers, body = call(app, "POST", "/webhooks/zoom", validation(), signed(validation()))
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)
    answer = json.loads(body)
    assert answer["plainToken"] == "qgg8vlvZRS6UYooatFL8Aw"
    assert len(answer["encryptedToken"]) == 64
    assert inner.paths == []


def test_refusals_carry_the_relays_error_body() -> None:
    app, inner = route()
    status, _, body = call(
        app, "POST", "/webhooks/zoom", validation(), signed(validation(), "not-the-secret")
    )
    assert status == 401
    assert json.loads(body)["error"]["code"] == "invalid_signature"
    assert inner.paths == []
    unconfigured, inner = route(secret=None)
    status, _, body = call(
        unconfigured, "POST", "/webhooks/zoom", validation(), signed(validation())
    )
    assert status == 503
    assert json.loads(body)["error"]["code"] == "zoom_webhooks_not_configured"
    assert inner.paths == []


def test_every_other_request_goes_on_to_the_app() -> None:
    app, inner = route()
    for method, path in (("GET", "/webhooks/zoom"), ("POST", "/webhooks/zoom/x"), ("POST", "/")):
        status, _, _ = call(app, method, path, b"{}", {})
        assert status == 204
    assert inner.paths == [("GET", "/webhooks/zoom"), ("POST", "/webhooks/zoom/x"), ("POST", "/")]


def test_the_relay_puts_it_ahead_of_every_middleware(tmp_path: Path) -> None:
    relay = Relay(relay_settings(tmp_path / "relay", zoom_webhook_secret=WEBHOOK_SECRET))
    try:
        app = build_app(relay)
        layers: list[object] = [m.cls for m in app.user_middleware]
        outermost = app.build_middleware_stack()
    finally:
        relay.close()
    # Not one of the app's middlewares (FastAPI's error, telemetry and body-limit
    # layers wrap those): the whole stack sits behind it.
    assert WebhookRoute not in layers
    assert isinstance(outermost, WebhookRoute)
    assert BodyLimit in layers
    assert AccessLog in layers


def test_it_keeps_the_body_limit_itself() -> None:
    app, inner = route()
    big = b'{"event":"x","pad":"' + b"a" * LIMIT + b'"}'
    status, _, body = call(app, "POST", "/webhooks/zoom", big, signed(big))
    assert status == 413
    assert json.loads(body)["error"]["code"] == "body_too_large"
    declared = {**signed(validation()), "content-length": str(LIMIT + 1)}
    status, _, _ = call(app, "POST", "/webhooks/zoom", validation(), declared)
    assert status == 413
    assert inner.paths == []


def test_a_body_that_trickles_in_is_refused_with_408() -> None:
    inner = Inner()
    receiver = ZoomWebhooks(cast(ZoomIntegration, None), WEBHOOK_SECRET)
    app = WebhookRoute(inner, receiver, now=lambda: NOW, limit=LIMIT, read_timeout=0.05)
    sent: list[Message] = []
    scope = {"type": "http", "method": "POST", "path": "/webhooks/zoom", "headers": []}

    async def receive() -> Message:
        if not sent:  # the first part, then nothing until the timeout
            sent.append({"type": "marker"})
            return {"type": "http.request", "body": b"{", "more_body": True}
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    assert sent[1]["status"] == 408


def test_each_delivery_gets_an_access_log_line(caplog: pytest.LogCaptureFixture) -> None:
    app, _ = route()
    with caplog.at_level(logging.INFO, logger="desktop.relay.access"):
        call(app, "POST", "/webhooks/zoom", validation(), signed(validation()))
        call(app, "POST", "/webhooks/zoom", validation(), signed(validation(), "wrong"))
    lines = [r.getMessage() for r in caplog.records if r.name == "desktop.relay.access"]
    assert len(lines) == 2
    assert lines[0].startswith("POST /webhooks/zoom 200 ")
    assert lines[1].startswith("POST /webhooks/zoom 401 ")


def test_an_unexpected_failure_is_a_500_with_the_error_body_and_zoom_retries(
    zrelay: RunningRelay, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(self: ZoomWebhooks, headers: Any, body: bytes, now: float) -> dict[str, Any]:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(ZoomWebhooks, "handle", broken)
    response = signed_post(zrelay, validation())
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "database" not in response.text
    # The relay keeps serving, webhooks included.
    monkeypatch.undo()
    assert signed_post(zrelay, validation(), timestamp=int(time.time())).status_code == 200


def test_a_real_relay_answers_a_url_validation_through_it(zrelay: RunningRelay) -> None:
    response = signed_post(zrelay, validation("abc"), timestamp=int(time.time()))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["plainToken"] == "abc"
    assert httpx.get(zrelay.url + "/webhooks/zoom").status_code == 405
