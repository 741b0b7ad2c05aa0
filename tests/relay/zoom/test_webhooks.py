"""``POST /webhooks/zoom`` against a real relay: refusals change nothing,
duplicates and reordered events are no-ops, validation answers correctly."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from desktop.zoomsim.server import RunningZoomSim
from tests.relay.zoom.conftest import (
    WEBHOOK_SECRET,
    ZOOM_USER,
    Wire,
    account,
    connect_zoom,
    presence_body,
    signed_post,
    state,
)
from tests.support.relay import RunningRelay, start_relay
from tests.support.zoom import zoom_settings


@pytest.fixture
def connected(zrelay: RunningRelay, sim: RunningZoomSim, wire: Wire) -> tuple[str, str]:
    """(session token, Zoom user id) of an account connected to Zoom."""
    token = account(zrelay)
    assert connect_zoom(zrelay, wire, token).status_code == 200
    users = httpx.get(sim.url + "/_sim/users").json()["users"]
    user_id = next(u["id"] for u in users if u["email"] == ZOOM_USER)
    return token, user_id


def test_refused_deliveries_change_nothing(
    zrelay: RunningRelay, connected: tuple[str, str]
) -> None:
    token, user_id = connected
    before = state(zrelay, token)
    body = presence_body(user_id, "In_Meeting")
    now = int(time.time())
    refusals = {
        "unsigned": httpx.post(zrelay.url + "/webhooks/zoom", content=body),
        "wrong secret": signed_post(zrelay, body, secret="not-the-secret"),
        "tampered": signed_post(zrelay, body, signature=signed_post_signature(body, now, b"x")),
        "over 2 hours old": signed_post(zrelay, body, timestamp=now - 7300),
        "over 5 minutes ahead": signed_post(zrelay, body, timestamp=now + 400),
        "short signature": signed_post(zrelay, body, signature="v0=00"),
        "not a timestamp": httpx.post(
            zrelay.url + "/webhooks/zoom",
            content=body,
            headers={"x-zm-request-timestamp": "soon", "x-zm-signature": "v0=00"},
        ),
    }
    for name, response in refusals.items():
        assert response.status_code == 401, name
        assert response.json()["error"]["code"] == "invalid_signature", name
    huge = presence_body(user_id, "In_Meeting").replace(b'"acct"', b'"' + b"a" * 70_000 + b'"')
    assert signed_post(zrelay, huge).status_code == 413
    assert state(zrelay, token) == before


def signed_post_signature(body: bytes, timestamp: int, tamper: bytes) -> str:
    from desktop.zoomsim.webhook_signing import sign

    return sign(WEBHOOK_SECRET, timestamp, body + tamper)


def test_signed_but_unusable_deliveries_are_acknowledged_and_change_nothing(
    zrelay: RunningRelay, connected: tuple[str, str]
) -> None:
    """ZOOM.md: 2xx to every correctly signed delivery (Zoom never retries a 4xx
    and may switch deliveries off after failures); the body says it was ignored."""
    token, user_id = connected
    before = state(zrelay, token)
    event = json.loads(presence_body(user_id, "In_Meeting"))
    no_id = json.loads(json.dumps(event))
    del no_id["payload"]["object"]["id"]
    wrong_ts = json.loads(json.dumps(event))
    wrong_ts["event_ts"] = "yesterday"
    missing = "the field '{}' is missing or has the wrong type"
    cases = {
        b"{not json": "the body is not a JSON object",
        b"[1, 2]": "the body is not a JSON object",
        b"[" * 60_000: "the body is not a JSON object",
        b"{}": missing.format("event"),
        json.dumps(no_id).encode(): missing.format("payload.object.id"),
        json.dumps(wrong_ts).encode(): missing.format("event_ts"),
        json.dumps({"event": "meeting.started", "payload": {}}).encode(): (
            "this relay does not handle that event"
        ),
    }
    for body, detail in cases.items():
        response = signed_post(zrelay, body)
        assert response.status_code == 200, body[:40]
        assert response.json() == {"status": "ignored", "detail": detail}, body[:40]
    assert state(zrelay, token) == before


def test_unknown_user_is_acknowledged_and_nothing_kept(
    zrelay: RunningRelay, connected: tuple[str, str]
) -> None:
    token, _ = connected
    before = state(zrelay, token)
    response = signed_post(zrelay, presence_body("someone-else", "In_Meeting"))
    assert response.status_code == 200
    assert response.json() == {"status": "unknown"}
    assert state(zrelay, token) == before
    data = b"".join(p.read_bytes() for p in zrelay.settings.data_dir.glob("relay.sqlite3*"))
    assert b"someone-else" not in data


def test_duplicates_and_reordered_events_are_no_ops(
    zrelay: RunningRelay, connected: tuple[str, str]
) -> None:
    token, user_id = connected
    started_at = int(time.time() * 1000)
    meeting = presence_body(user_id, "In_Meeting", started_at)
    first = signed_post(zrelay, meeting)
    assert first.json() == {"status": "applied"}
    in_meeting = state(zrelay, token)
    assert in_meeting["zoom"]["in_meeting"] is True
    duplicate = signed_post(zrelay, meeting)
    assert duplicate.status_code == 200
    assert duplicate.json() == {"status": "ignored"}
    late = signed_post(zrelay, presence_body(user_id, "Available", started_at - 1000))
    assert late.status_code == 200
    assert late.json() == {"status": "ignored"}
    assert state(zrelay, token) == in_meeting
    ended = signed_post(zrelay, presence_body(user_id, "Available", started_at + 1))
    assert ended.json() == {"status": "applied"}
    assert state(zrelay, token)["zoom"]["in_meeting"] is False


def test_endpoint_validation_through_the_local_zoom(
    zrelay: RunningRelay, sim: RunningZoomSim
) -> None:
    result = httpx.post(sim.url + "/_sim/validate_endpoint").json()
    assert result["ok"] is True, result


def test_url_validation_vector_over_http(tmp_path: Path, sim: RunningZoomSim) -> None:
    secret = "zoom-secret-token-for-tests"  # ZOOM.md's vector
    body = json.dumps(
        {
            "payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"},
            "event_ts": 1,
            "event": "endpoint.url_validation",
        }
    ).encode()
    with start_relay(tmp_path / "r", **zoom_settings(sim, zoom_webhook_secret=secret)) as relay:
        answer = signed_post(relay, body, secret=secret)
    assert answer.status_code == 200
    assert answer.json() == {
        "plainToken": "qgg8vlvZRS6UYooatFL8Aw",
        "encryptedToken": "9d644a9fdedca2004fd16a8fa586497eb15eb3fc2fedf6dd3b0c4748fb78d655",
    }


def test_a_deauthorization_that_fails_verification_is_logged(
    zrelay: RunningRelay, caplog: pytest.LogCaptureFixture
) -> None:
    body = b'{"event":"app_deauthorized","payload":{"user_id":"u"}}'
    assert signed_post(zrelay, body, secret="wrong").status_code == 401
    assert any("refused an app_deauthorized" in r.getMessage() for r in caplog.records)
    assert WEBHOOK_SECRET not in caplog.text


def test_webhooks_are_refused_without_a_secret(tmp_path: Path, sim: RunningZoomSim) -> None:
    with start_relay(tmp_path / "r", **zoom_settings(sim, zoom_webhook_secret=None)) as relay:
        response = signed_post(relay, presence_body("u", "In_Meeting"))
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "zoom_webhooks_not_configured"


def test_without_event_ts_date_time_orders_events(
    zrelay: RunningRelay, connected: tuple[str, str]
) -> None:
    token, user_id = connected
    event = json.loads(presence_body(user_id, "In_Meeting"))
    del event["event_ts"]
    event["payload"]["object"]["date_time"] = time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 5)
    )
    assert signed_post(zrelay, json.dumps(event).encode()).json() == {"status": "applied"}
    assert state(zrelay, token)["zoom"]["in_meeting"] is True
