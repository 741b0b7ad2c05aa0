"""Every kind of bad input gets a clear 4xx with the error body and changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.relay.conftest import EMAIL, PASSWORD
from tests.support.relay import RunningRelay

JSON = {"content-type": "application/json"}

CASES: list[tuple[str, str, Any, int, str]] = [
    # (method, path, body (bytes = raw), status, code)
    ("PUT", "/api/v1/ringer", b"{not json", 400, "malformed_json"),
    ("PUT", "/api/v1/ringer", b"", 400, "malformed_json"),
    ("PUT", "/api/v1/ringer", b"[true]", 400, "malformed_json"),
    ("PUT", "/api/v1/ringer", b'"on"', 400, "malformed_json"),
    ("PUT", "/api/v1/ringer", {}, 422, "missing_field"),
    ("PUT", "/api/v1/ringer", {"on": "yes"}, 422, "invalid_field"),
    ("PUT", "/api/v1/ringer", {"on": 1}, 422, "invalid_field"),
    ("PUT", "/api/v1/ringer", {"on": None}, 422, "invalid_field"),
    ("PUT", "/api/v1/ringer", {"on": False, "extra": 1}, 422, "unknown_field"),
    ("PUT", "/api/v1/auto-pause", {"on": "no"}, 422, "invalid_field"),
    ("PUT", "/api/v1/auto-pause", {}, 422, "missing_field"),
    ("PUT", "/api/v1/availability", {"preferred": "maybe"}, 422, "invalid_value"),
    ("PUT", "/api/v1/availability", {"preferred": 3}, 422, "invalid_value"),
    ("PUT", "/api/v1/override", {"value": "available"}, 422, "missing_field"),
    ("PUT", "/api/v1/override", {"value": "sideways", "until": "manual"}, 422, "invalid_value"),
    ("PUT", "/api/v1/override", {"value": "available", "until": "soon"}, 422, "invalid_value"),
    (
        "PUT",
        "/api/v1/override",
        {"value": "available", "until": "2026-01-01T10:00:00"},
        422,
        "invalid_value",
    ),
    (
        "PUT",
        "/api/v1/override",
        {"value": "available", "until": "2000-01-01T10:00:00Z"},
        422,
        "invalid_value",
    ),
    ("PUT", "/api/v1/ringer", b'{"on": true}' + b" " * 70_000, 413, "body_too_large"),
    ("GET", "/api/v1/nowhere", None, 404, "not_found"),
    ("POST", "/api/v1/state", None, 405, "method_not_allowed"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), CASES)
def test_bad_input_is_refused_and_changes_nothing(
    api: httpx.Client, method: str, path: str, body: Any, status: int, code: str
) -> None:
    before = api.get("/api/v1/state").json()
    if isinstance(body, bytes):
        response = api.request(method, path, content=body, headers=JSON)
    elif body is None:
        response = api.request(method, path)
    else:
        response = api.request(method, path, json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"].endswith(".")
    assert api.get("/api/v1/state").json() == before


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Basic abc", "Bearer not-a-real-token", "bearer x y"],
)
def test_bad_tokens_get_401(relay: RunningRelay, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = httpx.put(relay.url + "/api/v1/ringer", json={"on": False}, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] in ("unauthorized", "session_expired")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "body",
    [
        {"email": EMAIL},
        {"email": EMAIL, "password": 123},
        {"email": "", "password": "x"},
        {"email": EMAIL, "password": "x", "device_name": "d" * 500},
        {"email": EMAIL, "password": "x", "admin": True},
    ],
)
def test_bad_sign_in_bodies_get_422_and_do_not_count_as_failures(
    relay: RunningRelay, body: dict[str, Any]
) -> None:
    relay.add_user(EMAIL, PASSWORD)
    response = httpx.post(relay.url + "/api/v1/sessions", json=body)
    assert response.status_code == 422
    assert "error" in response.json()


def test_a_request_body_without_content_length_is_still_limited(api: httpx.Client) -> None:
    def chunks() -> Any:
        for _ in range(100):
            yield b" " * 1024

    response = api.put("/api/v1/ringer", content=chunks(), headers=JSON)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
