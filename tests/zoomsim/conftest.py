"""Fixtures for the local Zoom: a real sim on 127.0.0.1, a real webhook receiver."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from desktop.serving import ThreadedServer
from desktop.zoomsim.server import RunningZoomSim, run_in_thread
from desktop.zoomsim.sim import SimConfig
from desktop.zoomsim.webhook_signing import encrypted_token

CLIENT_ID = "sim-client-id"
CLIENT_SECRET = "sim-client-secret-0123456789"
WEBHOOK_SECRET = "sim-webhook-secret-token"
REDIRECT_URI = "http://127.0.0.1:9/oauth/zoom/callback"


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def verify_zoom_signature(
    secret: str, headers: httpx.Headers | dict[str, str], body: bytes
) -> bool:
    """ZOOM.md's scheme, written independently of the sim's signing module."""
    timestamp = headers["x-zm-request-timestamp"]
    if abs(time.time() - int(timestamp)) > 300:
        return False
    message = f"v0:{timestamp}:".encode() + body
    expected = "v0=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["x-zm-signature"])


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """A real HTTP endpoint that records deliveries and answers from a script."""

    server: ThreadedServer
    statuses: list[int] = field(default_factory=list)  # answers to use first, in order
    received: list[Received] = field(default_factory=list)
    answer_validation: bool = True
    #: Guards ``received`` and is notified on every delivery.
    lock: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return self.server.url + "/webhooks/zoom"

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def wait_for_count(self, count: int, timeout: float = 10.0) -> None:
        """Return once ``count`` deliveries have arrived; fail the test after ``timeout``."""
        with self.lock:
            arrived = self.lock.wait_for(lambda: len(self.received) >= count, timeout)
        assert arrived, f"{count} deliveries did not arrive within {timeout} s"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    holder: list[WebhookReceiver] = []

    async def hook(request: Request) -> Response:
        me = holder[0]
        body = await request.body()
        with me.lock:
            me.received.append(Received(dict(request.headers), body))
            me.lock.notify_all()
            status = me.statuses.pop(0) if me.statuses else 200
        if status != 200:
            return Response(status_code=status)
        import json

        doc = json.loads(body)
        if doc.get("event") == "endpoint.url_validation" and me.answer_validation:
            plain = doc["payload"]["plainToken"]
            return JSONResponse(
                {"plainToken": plain, "encryptedToken": encrypted_token(WEBHOOK_SECRET, plain)}
            )
        return Response(status_code=200)

    app = Starlette(routes=[Route("/webhooks/zoom", hook, methods=["POST"])])
    with ThreadedServer(app) as server:
        holder.append(WebhookReceiver(server))
        yield holder[0]


def make_config(**overrides: Any) -> SimConfig:
    values: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "webhook_secret": WEBHOOK_SECRET,
        "retry_time_scale": 0.0002,  # retries after 0.06, 0.24, 0.72 s
        "webhook_timeout": 1.0,
        "fault_timeout": 5.0,
    }
    values.update(overrides)
    return SimConfig(**values)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def zoom(clock: FakeClock) -> Iterator[RunningZoomSim]:
    with run_in_thread(make_config(clock=clock, auto_approve=True)) as running:
        yield running


@pytest.fixture
def http(zoom: RunningZoomSim) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=zoom.url, timeout=10.0) as client:
        yield client


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_code(
    http: httpx.Client, challenge: str, *, state: str = "state-1", **extra: str
) -> str:
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    response = http.get("/oauth/authorize", params=params)
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["state"] == [state]
    return query["code"][0]


def connect(http: httpx.Client, **extra: str) -> dict[str, Any]:
    """The whole authorize + code exchange; returns the token response."""
    verifier, challenge = pkce_pair()
    code = authorize_code(http, challenge, **extra)
    response = http.post(
        "/oauth/token",
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
