"""Narrow cases with a fake Zoom behind ``httpx.MockTransport`` and a fake clock:
error mapping, link expiry, and a disconnect that lands during a refresh."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from desktop.relay.config import RelaySettings
from desktop.relay.relay import Relay
from desktop.relay.zoom.client import (
    ZoomApi,
    ZoomApiFailed,
    ZoomGrantDead,
    ZoomRateLimited,
    ZoomRefused,
    ZoomUnauthorized,
    ZoomUnavailable,
)
from desktop.relay.zoom.integration import ConnectFailed, ZoomIntegration, ZoomNotConnected
from desktop.relay.zoom.rows import ZoomRows
from desktop.relay.zoom.vault import TokenVault, generate_key

SECRET_TOKEN = "tok-very-secret-value"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class FakeZoom:
    """Just enough of Zoom for the relay: numbered tokens, a gate on refresh."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.revoked: list[str] = []
        self.issued = 0
        self.refresh_gate: asyncio.Event | None = None
        self.presence = "Available"
        self._changed = asyncio.Event()

    async def until(self, predicate: Callable[[], bool]) -> None:
        """Wait (on the fake's own requests, not on time) until ``predicate`` holds."""
        while not predicate():
            self._changed.clear()
            await self._changed.wait()

    def _pair(self) -> dict[str, Any]:
        self.issued += 1
        return {
            "access_token": f"access-{self.issued}",
            "refresh_token": f"refresh-{self.issued}",
            "expires_in": 3599,
            "token_type": "bearer",
            "scope": "meeting:write:meeting user:read:user user:read:email"
            " user:read:presence_status",
        }

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.calls.append(path)
        self._changed.set()
        if path == "/oauth/token":
            form = parse_qs(request.content.decode())
            if form["grant_type"] == ["refresh_token"] and self.refresh_gate is not None:
                await self.refresh_gate.wait()
            return httpx.Response(200, json=self._pair())
        if path == "/oauth/revoke":
            self.revoked.append(parse_qs(request.content.decode())["token"][0])
            self._changed.set()
            return httpx.Response(200, json={"status": "success"})
        if path == "/v2/users/me":
            return httpx.Response(200, json={"id": "zu1", "email": "z@example.com"})
        if path.endswith("/presence_status"):
            return httpx.Response(200, json={"status": self.presence})
        if path == "/v2/users/me/meetings":
            return httpx.Response(201, json={"id": 1, "join_url": "https://z/j/1", "topic": "t"})
        return httpx.Response(404, json={"code": 1001, "message": "nope"})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def relay(tmp_path: Path, clock: Clock) -> Iterator[Relay]:
    relay = Relay(RelaySettings(data_dir=tmp_path, port=9), clock=clock)
    try:
        yield relay
    finally:
        relay.close()


def integration(relay: Relay, zoom: FakeZoom) -> ZoomIntegration:
    http = httpx.AsyncClient(transport=httpx.MockTransport(zoom))
    api = ZoomApi(
        client_id="id",
        client_secret="client-secret",
        oauth_url="https://zoom.test",
        api_url="https://api.zoom.test",
        http=http,
    )
    return ZoomIntegration(relay, api=api, vault=TokenVault([generate_key()]), http=http)


def state_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["state"][0]


def test_a_connect_link_expires_after_ten_minutes(relay: Relay, clock: Clock) -> None:
    account = relay.add_user("a@example.com", "long password")
    zoom = FakeZoom()

    async def scenario() -> None:
        zi = integration(relay, zoom)
        state = state_of(zi.begin_connect(account.id))
        clock.now += timedelta(minutes=10, seconds=1)
        with pytest.raises(ConnectFailed) as failed:
            await zi.complete_connect(state, "code")
        assert failed.value.status == 400
        assert zoom.calls == []
        await zi.stop()

    asyncio.run(scenario())


def test_a_disconnect_during_a_refresh_wins(relay: Relay, clock: Clock) -> None:
    account = relay.add_user("a@example.com", "long password")
    zoom = FakeZoom()

    async def scenario() -> None:
        zi = integration(relay, zoom)
        await zi.complete_connect(state_of(zi.begin_connect(account.id)), "code")
        clock.now += timedelta(hours=2)  # the access token has run out
        zoom.refresh_gate = asyncio.Event()
        meeting = asyncio.create_task(zi.create_meeting(account.id, "t", None, None))
        await zoom.until(lambda: zoom.calls.count("/oauth/token") == 2)  # refresh in flight
        document = await zi.disconnect(account.id)
        assert document["zoom"]["state"] == "disconnected"
        assert zoom.revoked == ["access-1"]
        zoom.refresh_gate.set()
        with pytest.raises(ZoomNotConnected):
            await meeting
        await zoom.until(lambda: "access-2" in zoom.revoked)  # the orphaned pair is revoked
        connection = ZoomRows(relay.store).get(account.id)
        assert connection is not None
        assert connection.access_token is None
        assert connection.refresh_token is None
        await zi.stop()

    asyncio.run(scenario())


def respond(status: int, body: object, headers: dict[str, str] | None = None) -> ZoomApi:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    return ZoomApi(
        client_id="id",
        client_secret="client-secret",
        oauth_url="https://zoom.test",
        api_url="https://api.zoom.test",
        http=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, {"reason": "Invalid Token!", "error": "invalid_grant"}, ZoomGrantDead),
        (400, {"reason": "Invalid refresh token", "error": "invalid_request"}, ZoomGrantDead),
        (401, {"reason": "Invalid client", "error": "invalid_client"}, ZoomRefused),
        (400, {"reason": "Missing grant", "error": "invalid_request"}, ZoomRefused),
        (503, {}, ZoomUnavailable),
        (429, {}, ZoomRateLimited),
        (200, {"no": "tokens"}, ZoomUnavailable),
    ],
)
def test_token_errors(status: int, body: object, kind: type[Exception]) -> None:
    async def scenario() -> None:
        with pytest.raises(kind) as raised:
            await respond(status, body).refresh(SECRET_TOKEN)
        assert SECRET_TOKEN not in str(raised.value)
        assert "client-secret" not in str(raised.value)

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (401, {"code": 124, "message": "Invalid access token."}, ZoomUnauthorized),
        (429, {"code": 429, "message": "slow down"}, ZoomRateLimited),
        (404, {"code": 1001, "message": "User does not exist"}, ZoomApiFailed),
        (500, {"code": 500, "message": "boom"}, ZoomUnavailable),
    ],
)
def test_rest_errors(status: int, body: object, kind: type[Exception]) -> None:
    async def scenario() -> None:
        with pytest.raises(kind) as raised:
            await respond(status, body, {"Retry-After": "30"}).create_meeting(
                SECRET_TOKEN, None, {"topic": "x"}
            )
        assert SECRET_TOKEN not in str(raised.value)
        if isinstance(raised.value, ZoomRateLimited):
            assert raised.value.retry_after == 30

    asyncio.run(scenario())


def test_unreachable_zoom_and_a_failed_revoke() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    api = ZoomApi(
        client_id="id",
        client_secret="client-secret",
        oauth_url="https://zoom.test",
        api_url="https://api.zoom.test",
        http=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )

    async def scenario() -> None:
        with pytest.raises(ZoomUnavailable):
            await api.presence(SECRET_TOKEN, None)
        assert await api.revoke(SECRET_TOKEN) is False

    asyncio.run(scenario())


def test_the_authorize_url_sends_no_scope() -> None:
    """ZOOM.md "Scopes": configured on the Marketplace app; Zoom's samples send
    none and field reports show "Invalid scope" errors that vanish without it."""
    api = respond(200, {})
    url = api.authorize_url(redirect_uri="http://r/cb", state="s", code_challenge="c")
    query = parse_qs(urlsplit(url).query)
    assert "scope" not in query
    assert sorted(query) == [
        "client_id",
        "code_challenge",
        "code_challenge_method",
        "redirect_uri",
        "response_type",
        "state",
    ]
    assert "client-secret" not in url
    assert json.dumps(query)  # plain strings only


def test_reconcile_now_applies_what_zoom_says(relay: Relay, clock: Clock) -> None:
    account = relay.add_user("a@example.com", "long password")
    zoom = FakeZoom()

    async def scenario() -> None:
        zi = integration(relay, zoom)
        await zi.complete_connect(state_of(zi.begin_connect(account.id)), "code")
        assert await zi.reconcile_now() == 0  # still Available: no change, no push
        before = relay.service.document(account.id)["seq"]
        zoom.presence = "In_A_Zoom_Meeting"  # REST spelling
        clock.now += timedelta(seconds=1)
        assert await zi.reconcile_now() == 1
        document = relay.service.document(account.id)
        assert document["seq"] == before + 1
        assert document["zoom"]["in_meeting"] is True
        assert document["effective"]["reason"] == "in_meeting"
        await zi.stop()

    asyncio.run(scenario())


def test_zoom_settings_from_the_environment(tmp_path: Path) -> None:
    settings = RelaySettings.from_env(
        {
            "PROFITRINGER_ZOOM_CLIENT_ID": "id",
            "PROFITRINGER_ZOOM_CLIENT_SECRET": "secret",
            "PROFITRINGER_ZOOM_OAUTH_URL": "https://zoom.example/",
            "PROFITRINGER_ZOOM_REFRESH_TOKEN_LIFETIME": "600",
            "PROFITRINGER_RECONCILE_AFTER": "60",
            "PROFITRINGER_ZOOM_RETRY_DELAY": "5",
            "PROFITRINGER_ZOOM_HTTP_TIMEOUT": "3",
        }
    )
    assert settings.zoom_configured
    assert settings.zoom_oauth_url == "https://zoom.example"
    assert settings.zoom_refresh_token_lifetime == 600
    assert settings.zoom_reconcile_after == 60
    assert settings.zoom_retry_delay == 5
    assert settings.zoom_http_timeout == 3
    defaults = RelaySettings.from_env({})
    assert defaults.zoom_refresh_token_lifetime == 90 * 24 * 3600
    assert defaults.zoom_reconcile_after == 2 * 3600
    with pytest.raises(ValueError, match="PROFITRINGER_RECONCILE_AFTER"):
        RelaySettings.from_env({"PROFITRINGER_RECONCILE_AFTER": "2h"})
