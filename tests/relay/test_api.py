"""The relay's REST surface against a real server on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.relay.conftest import EMAIL, PASSWORD
from tests.support.relay import RunningRelay


def test_health_and_openapi(relay: RunningRelay) -> None:
    assert httpx.get(relay.url + "/healthz").json()["status"] == "ok"
    spec = httpx.get(relay.url + "/openapi.json").json()
    assert "/api/v1/state" in spec["paths"]
    assert "/api/v1/sessions" in spec["paths"]


def test_sign_in_returns_a_long_token_and_the_account(relay: RunningRelay) -> None:
    relay.add_user(EMAIL, PASSWORD)
    response = httpx.post(
        relay.url + "/api/v1/sessions",
        json={"email": EMAIL, "password": PASSWORD, "device_name": "laptop"},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["account"]["email"] == EMAIL
    assert len(body["token"]) >= 32  # 256 random bits, url-safe


@pytest.mark.sqlite_only
def test_the_database_keeps_only_a_hash_of_session_tokens(relay: RunningRelay) -> None:
    relay.add_user(EMAIL, PASSWORD)
    token = relay.sign_in(EMAIL, PASSWORD)
    relay.stop()
    data = b"".join(p.read_bytes() for p in relay.settings.data_dir.glob("relay.sqlite3*"))
    assert token.encode() not in data
    assert PASSWORD.encode() not in data
    assert b"$argon2id$" in data


def test_wrong_password_and_unknown_email_look_the_same(relay: RunningRelay) -> None:
    relay.add_user(EMAIL, PASSWORD)
    for email, password in [(EMAIL, "wrong password"), ("nobody@example.com", PASSWORD)]:
        response = httpx.post(
            relay.url + "/api/v1/sessions", json={"email": email, "password": password}
        )
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_credentials"


def test_state_document_shape(api: httpx.Client) -> None:
    state = api.get("/api/v1/state").json()
    assert state["account"]["email"] == EMAIL
    assert state["ringer_on"] is True
    assert state["effective"]["availability"] == "available"
    assert state["effective"]["reason"] == "preferred"
    assert state["zoom"]["state"] == "disconnected"


def put(api: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = api.put(path, json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_each_change_returns_the_new_state_with_a_growing_seq(api: httpx.Client) -> None:
    start = api.get("/api/v1/state").json()["seq"]
    off = put(api, "/api/v1/ringer", {"on": False})
    assert off["effective"] == {**off["effective"], "availability": "unavailable"}
    assert off["effective"]["reason"] == "ringer_off"
    assert off["cause"] == "ringer_changed"
    on = put(api, "/api/v1/ringer", {"on": True})
    pref = put(api, "/api/v1/availability", {"preferred": "unavailable"})
    assert pref["effective"]["reason"] == "preferred"
    assert pref["effective"]["availability"] == "unavailable"
    assert [off["seq"], on["seq"], pref["seq"]] == [start + 1, start + 2, start + 3]


def test_override_set_and_cleared(api: httpx.Client) -> None:
    ends = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    state = put(api, "/api/v1/override", {"value": "unavailable", "until": ends})
    assert state["override"]["value"] == "unavailable"
    assert state["effective"]["reason"] == "override"
    state = put(api, "/api/v1/override", {"value": "available", "until": "manual"})
    assert state["override"] == {"value": "available", "until": "manual"}
    cleared = api.delete("/api/v1/override").json()
    assert cleared["override"] is None
    assert cleared["effective"]["reason"] == "preferred"


def test_override_until_meeting_end_needs_a_meeting(api: httpx.Client) -> None:
    before = api.get("/api/v1/state").json()
    response = api.put("/api/v1/override", json={"value": "available", "until": "meeting_end"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_in_meeting"
    assert api.get("/api/v1/state").json() == before | {"cause": before["cause"]}


def test_a_repeated_change_does_not_bump_seq(api: httpx.Client) -> None:
    first = put(api, "/api/v1/ringer", {"on": False})
    second = put(api, "/api/v1/ringer", {"on": False})
    assert second["seq"] == first["seq"]


def test_sign_out_stops_the_token_at_once(relay: RunningRelay) -> None:
    relay.add_user(EMAIL, PASSWORD)
    token = relay.sign_in(EMAIL, PASSWORD)
    other = relay.sign_in(EMAIL, PASSWORD, device="phone")
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.delete(relay.url + "/api/v1/sessions/current", headers=headers).status_code == 204
    refused = httpx.get(relay.url + "/api/v1/state", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "session_expired"
    # the account's other session is untouched
    other_headers = {"Authorization": f"Bearer {other}"}
    assert httpx.get(relay.url + "/api/v1/state", headers=other_headers).status_code == 200


def test_delete_account_removes_everything(relay: RunningRelay) -> None:
    relay.add_user(EMAIL, PASSWORD)
    token = relay.sign_in(EMAIL, PASSWORD)
    headers = {"Authorization": f"Bearer {token}"}
    deleted = httpx.request(
        "DELETE", relay.url + "/api/v1/account", headers=headers, json={"password": PASSWORD}
    )
    assert deleted.status_code == 204
    assert httpx.get(relay.url + "/api/v1/state", headers=headers).status_code == 401
    response = httpx.post(
        relay.url + "/api/v1/sessions", json={"email": EMAIL, "password": PASSWORD}
    )
    assert response.status_code == 401


def test_sessions_expire(tmp_path: Any) -> None:
    from tests.support.relay import start_relay

    with start_relay(tmp_path / "r", session_lifetime=-1.0) as short:
        short.add_user(EMAIL, PASSWORD)
        token = short.sign_in(EMAIL, PASSWORD)
        response = httpx.get(
            short.url + "/api/v1/state", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "session_expired"


def test_repeated_failed_sign_ins_are_refused_with_429(relay: RunningRelay) -> None:
    relay.add_user(EMAIL, PASSWORD)
    limit = relay.settings.signin_refuse_after
    codes = [
        httpx.post(
            relay.url + "/api/v1/sessions", json={"email": EMAIL, "password": f"wrong {i}"}
        ).status_code
        for i in range(limit + 1)
    ]
    assert codes[:limit] == [401] * limit
    assert codes[limit] == 429
    # even the right password is refused while throttled: no oracle for guessing
    response = httpx.post(
        relay.url + "/api/v1/sessions", json={"email": EMAIL, "password": PASSWORD}
    )
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "too_many_attempts"
    assert int(response.headers["retry-after"]) > 0
