"""Bad input gets a 4xx, and what the relay logs and serves is safe (issue 12,
"Input and output").

- Dates past the range of UTC (year 9999 at -23:59, year 1 at +23:59) get 422
  on PUT /api/v1/override and POST /api/v1/meetings, where they gave a 500.
- JSON nested deeper than 32 levels gets 400 on every path, signed webhooks
  included, before anything parses it (Python's parser fails with a 500).
- A 500 is logged with its exception's type and frames, never its message or
  the request's token, code or body.
- Control characters in a URL are escaped in the log: a ``%0A`` cannot write
  a forged line.
- HTML pages carry a Content-Security-Policy with ``frame-ancestors 'none'``,
  ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer``;
  /docs and /redoc (which load a CDN's scripts) are off unless asked for.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from desktop.relay.relay import Relay
from desktop.relay.server import ThreadedRelay
from desktop.relay.zoom.integration import CALLBACK_PATH
from desktop.zoomsim.webhook_signing import sign
from tests.support.relay import RunningRelay, relay_settings, start_relay
from tests.support.zoom import RelayProcess

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery"
WEBHOOK_SECRET = "io-webhook-secret"
SECRET = "s3cr3t-that-must-not-be-logged"


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRelay]:
    with start_relay(
        tmp_path_factory.mktemp("io") / "relay", zoom_webhook_secret=WEBHOOK_SECRET
    ) as running:
        running.add_user(EMAIL, PASSWORD)
        yield running


@pytest.fixture(scope="module")
def api(relay: RunningRelay) -> Iterator[httpx.Client]:
    token = relay.sign_in(EMAIL, PASSWORD)
    with httpx.Client(base_url=relay.url, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


OUT_OF_RANGE = ["9999-12-31T23:59:00-23:59", "0001-01-01T00:00:00+23:59"]


@pytest.mark.parametrize("moment", OUT_OF_RANGE)
def test_out_of_range_dates_get_422(api: httpx.Client, moment: str) -> None:
    before = api.get("/api/v1/state").json()
    override = api.put("/api/v1/override", json={"value": "available", "until": moment})
    assert override.status_code == 422, override.text
    assert override.json()["error"]["code"] == "invalid_value"
    meeting = api.post("/api/v1/meetings", json={"topic": "Standup", "start_time": moment})
    assert meeting.status_code == 422, meeting.text
    assert api.get("/api/v1/state").json()["seq"] == before["seq"]


def test_the_last_representable_date_is_still_accepted(api: httpx.Client) -> None:
    response = api.put(
        "/api/v1/override", json={"value": "unavailable", "until": "9999-12-31T00:00:00Z"}
    )
    assert response.status_code == 200, response.text
    assert api.delete("/api/v1/override").status_code == 200


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def test_deeply_nested_json_gets_400_and_a_signed_webhook_is_acknowledged(
    relay: RunningRelay, api: httpx.Client
) -> None:
    before_seq = api.get("/api/v1/state").json()["seq"]
    body = b"[" * 20_000 + b"]" * 20_000
    for path, method in (("/api/v1/sessions", "POST"), ("/api/v1/override", "PUT")):
        response = api.request(
            method, path, content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, (path, response.text)
        assert response.json()["error"]["code"] == "json_too_deep"
    timestamp = int(time.time())
    for depth in (33, 5_000):
        webhook = nested(depth)
        response = httpx.post(
            relay.url + "/webhooks/zoom",
            content=webhook,
            headers={
                "Content-Type": "application/json",
                "x-zm-request-timestamp": str(timestamp),
                "x-zm-signature": sign(WEBHOOK_SECRET, timestamp, webhook),
            },
        )
        # Signed, so acknowledged as unusable rather than refused: Zoom never
        # retries a 4xx (ZOOM.md), and nothing is applied either way.
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "ignored"
    assert api.get("/api/v1/state").json()["seq"] == before_seq


def test_nesting_inside_strings_does_not_count(api: httpx.Client) -> None:
    response = api.put("/api/v1/override", json={"value": "available", "until": "[" * 60})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_value"


def boom_installer(app: FastAPI, relay: Relay) -> None:
    @app.post("/api/v1/boom")
    async def boom() -> None:
        raise_with_secret()


def raise_with_secret() -> None:
    nothing: dict[str, str] = {}
    try:
        nothing[SECRET]
    except KeyError as exc:
        raise RuntimeError(f"failed for {SECRET}") from exc


def test_a_500_is_logged_with_frames_and_without_secrets(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    threaded = ThreadedRelay(relay_settings(tmp_path / "relay"), extra=[boom_installer])
    with threaded:
        response = httpx.post(
            threaded.url + f"/api/v1/boom?code={SECRET}",
            headers={"Authorization": f"Bearer {SECRET}"},
            json={"password": SECRET},
        )
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    formatter = logging.Formatter("%(message)s")
    logged = "\n".join(formatter.format(record) for record in caplog.records)
    assert SECRET not in logged
    errors = [r.getMessage() for r in caplog.records if "internal error" in r.getMessage()]
    assert len(errors) == 1
    assert "RuntimeError at" in errors[0]
    assert "test_input_output.py" in errors[0]
    assert "in raise_with_secret" in errors[0]
    assert "caused by KeyError" in errors[0]


def test_control_characters_in_urls_cannot_forge_log_lines(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROFITRINGER_")}
    process = RelayProcess(tmp_path / "relay", env)
    process.start()
    try:
        forged = "2026-01-01 00:00:00,000 WARNING desktop.relay: FORGED"
        response = httpx.get(process.url + "/nothing%0A" + forged.replace(" ", "%20") + "%0D")
        assert response.status_code == 404
        # Requests are logged once answered; this one is answered, so it is there.
        httpx.get(process.url + "/healthz")
    finally:
        process.stop()
    lines = process.log().splitlines()
    assert not any(line.startswith("2026-01-01") for line in lines), lines
    assert any("/nothing\\x0a2026-01-01" in line for line in lines), lines


def test_html_pages_carry_security_headers(relay: RunningRelay) -> None:
    # The Zoom callback page, refused here for want of a state: still HTML.
    response = httpx.get(relay.url + CALLBACK_PATH)
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "default-src 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    api_answer = httpx.get(relay.url + "/healthz")
    assert "content-security-policy" not in api_answer.headers
    assert json.loads(api_answer.text)["status"] == "ok"


def test_docs_are_off_unless_asked_for(relay: RunningRelay, tmp_path: Path) -> None:
    for path in ("/docs", "/redoc"):
        assert httpx.get(relay.url + path).status_code == 404
    assert httpx.get(relay.url + "/openapi.json").status_code == 200
    with start_relay(tmp_path / "docs", api_docs=True) as with_docs:
        docs = httpx.get(with_docs.url + "/docs")
        assert docs.status_code == 200
        assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]
