"""A real relay wired to a real local Zoom, both on 127.0.0.1, plus helpers."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from desktop.zoomsim.server import RunningZoomSim, run_in_thread
from desktop.zoomsim.webhook_signing import sign
from tests.support.relay import RunningRelay, start_relay, with_sibling
from tests.support.zoom import (
    CLIENT_ID,
    CLIENT_SECRET,
    WEBHOOK_SECRET,
    Wire,
    sim_config,
    zoom_link,
    zoom_settings,
)
from tests.support.zoom import (
    connect_zoom as connect_zoom_at,
)

__all__ = ["CLIENT_ID", "CLIENT_SECRET", "WEBHOOK_SECRET", "Wire", "sim_config", "zoom_link"]

PASSWORD = "correct horse battery"
ZOOM_USER = "demo@zoom.example"  # the local Zoom's default user


@pytest.fixture
def sim() -> Iterator[RunningZoomSim]:
    with run_in_thread(sim_config()) as running:
        yield running


@pytest.fixture
def zrelay(
    tmp_path: Path, sim: RunningZoomSim, relay_overrides: dict[str, Any]
) -> Iterator[RunningRelay]:
    settings = zoom_settings(sim, **relay_overrides)
    data_dir = tmp_path / "relay"
    with start_relay(data_dir, **settings) as running, with_sibling(data_dir, **settings):
        sim.sim.set_webhook_url(running.url + "/webhooks/zoom")
        yield running


@pytest.fixture
def wire() -> Wire:
    return Wire()


def account(relay: RunningRelay, email: str = "ada@example.com") -> str:
    relay.add_user(email, PASSWORD)
    return relay.sign_in(email, PASSWORD)


def connect_zoom(
    relay: RunningRelay, wire: Wire, token: str, login_hint: str | None = None
) -> httpx.Response:
    """Connect the token's account to the local Zoom, as a browser would."""
    return connect_zoom_at(relay.url, wire, token, login_hint)


def state(relay: RunningRelay, token: str) -> dict[str, Any]:
    """The account's state document, over HTTP."""
    response = httpx.get(relay.url + "/api/v1/state", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


@pytest.fixture
def browser() -> Iterator[httpx.Client]:
    """One person's browser: its cookie jar holds the start page's binding."""
    with httpx.Client(timeout=15) as client:
        yield client


def callback_url(relay: RunningRelay, wire: Wire, token: str, browser: httpx.Client) -> str:
    """The redirect the local Zoom sends ``browser`` to, not yet followed."""
    with wire.client(relay.url, token) as api:
        url = api.post("/api/v1/integrations/zoom/connect").json()["authorize_url"]
    response = browser.get(zoom_link(browser, url))
    assert response.status_code == 302
    location: str = response.headers["location"]
    return location


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def signed_post(
    relay: RunningRelay,
    body: bytes,
    *,
    secret: str = WEBHOOK_SECRET,
    timestamp: int | None = None,
    signature: str | None = None,
) -> httpx.Response:
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {
        "content-type": "application/json; charset=utf-8",
        "x-zm-request-timestamp": str(ts),
        "x-zm-signature": signature if signature is not None else sign(secret, ts, body),
    }
    return httpx.post(relay.url + "/webhooks/zoom", content=body, headers=headers)


def presence_body(user_id: str, status: str, event_ts: int | None = None) -> bytes:
    ts = int(time.time() * 1000) if event_ts is None else event_ts
    event = {
        "event": "user.presence_status_updated",
        "event_ts": ts,
        "payload": {
            "account_id": "acct",
            "object": {
                "date_time": "2026-01-01T00:00:00Z",
                "email": ZOOM_USER,
                "id": user_id,
                "presence_status": status,
            },
        },
    }
    return json.dumps(event, separators=(",", ":")).encode()


def zoom_row(relay: RunningRelay) -> dict[str, Any] | None:
    """The account's zoom_connections row, read straight from the database
    (the SQLite file, or PostgreSQL in cluster mode; secrets as bytes on both)."""
    import sqlite3

    url = relay.settings.database_url
    if url and url.startswith("postgresql"):
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(url, row_factory=dict_row) as pg:
            found = pg.execute("SELECT * FROM zoom_connections").fetchone()
        if found is None:
            return None
        return {k: bytes(v) if isinstance(v, memoryview) else v for k, v in found.items()}
    db = sqlite3.connect(relay.settings.data_dir / "relay.sqlite3")
    db.row_factory = sqlite3.Row
    try:
        row = db.execute("SELECT * FROM zoom_connections").fetchone()
        return None if row is None else dict(row)
    finally:
        db.close()


def html_title(response: httpx.Response) -> str:
    match = re.search(r"<h1>(.*?)</h1>", response.text)
    return match.group(1) if match else ""


def assert_no_zoom_secrets(
    relay: RunningRelay, sim: RunningZoomSim, wire: Wire, caplog: pytest.LogCaptureFixture
) -> None:
    """No token or code the local Zoom issued, and no app secret, in the database
    files, any HTTP or socket answer the tests saw, or any log record."""
    issued = httpx.get(sim.url + "/_sim/issued_tokens").json()
    secrets = [*issued["access_tokens"], *issued["refresh_tokens"], *issued["codes"]]
    assert len(secrets) >= 3
    secrets += [CLIENT_SECRET, WEBHOOK_SECRET]
    database = b"".join(p.read_bytes() for p in relay.settings.data_dir.glob("relay.sqlite3*"))
    logs = caplog.text + "\n".join(f"{r.args!r} {r.exc_text}" for r in caplog.records)
    for secret in secrets:
        assert secret.encode() not in database
        assert secret not in logs
        for seen in wire.seen:
            assert secret not in seen
