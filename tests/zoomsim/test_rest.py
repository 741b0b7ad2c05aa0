from __future__ import annotations

import httpx
import pytest

from desktop.zoomsim.server import RunningZoomSim, run_in_thread
from desktop.zoomsim.sim import PRESENCE_STATUSES, rest_presence
from tests.zoomsim.conftest import bearer, connect, make_config


def test_users_me(http: httpx.Client) -> None:
    token = connect(http)["access_token"]
    me = http.get("/v2/users/me", headers=bearer(token)).json()
    assert me["email"] == "demo@zoom.example"
    assert len(me["id"]) == 22
    for key in ("account_id", "first_name", "last_name", "display_name", "type", "timezone"):
        assert key in me


@pytest.mark.parametrize("header", [None, "Bearer not-a-token", "Basic abc", "Bearer"], ids=str)
def test_bad_bearer_is_401_code_124(http: httpx.Client, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = http.get("/v2/users/me", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"code": 124, "message": "Invalid access token."}


@pytest.mark.parametrize(
    ("webhook", "rest"),
    [
        ("In_Meeting", "In_A_Zoom_Meeting"),
        ("On_Phone_Call", "On_A_Call"),
        ("Presenting", "Presenting"),
        ("Available", "Available"),
        ("Do_Not_Disturb", "Do_Not_Disturb"),
        ("Offline", "Offline"),
    ],
)
def test_presence_uses_rest_spelling(http: httpx.Client, webhook: str, rest: str) -> None:
    token = connect(http)["access_token"]
    answer = http.post("/_sim/users/demo@zoom.example/presence", json={"status": webhook})
    assert answer.status_code == 200
    for ref in ("me", answer.json()["user"]["id"]):
        response = http.get(f"/v2/users/{ref}/presence_status", headers=bearer(token))
        assert response.json() == {"status": rest}


def test_every_webhook_status_has_a_rest_spelling() -> None:
    assert {rest_presence(s) for s in PRESENCE_STATUSES} >= {"In_A_Zoom_Meeting", "On_A_Call"}
    assert "In_Meeting" not in {rest_presence(s) for s in PRESENCE_STATUSES}


def test_presence_of_another_user_is_404(http: httpx.Client) -> None:
    token = connect(http)["access_token"]
    other = http.post("/_sim/users", json={"email": "other@zoom.example"}).json()
    response = http.get(f"/v2/users/{other['id']}/presence_status", headers=bearer(token))
    assert response.status_code == 404
    assert response.json()["code"] == 1001


def test_unknown_presence_is_refused(http: httpx.Client) -> None:
    http.get("/_sim/users")
    response = http.post("/_sim/users/demo@zoom.example/presence", json={"status": "Sleeping"})
    assert response.status_code == 400
    assert "In_Meeting" in response.json()["error"]


def test_presence_needs_its_scope(http: httpx.Client) -> None:
    token = connect(http, scope="user:read:user")["access_token"]
    response = http.get("/v2/users/me/presence_status", headers=bearer(token))
    assert response.status_code == 400
    assert response.json()["code"] == 4711


def test_create_meeting(zoom: RunningZoomSim, http: httpx.Client) -> None:
    token = connect(http)["access_token"]
    response = http.post(
        "/v2/users/me/meetings",
        headers=bearer(token),
        json={"topic": "Call with ACME", "type": 2, "duration": 30},
    )
    assert response.status_code == 201
    meeting = response.json()
    assert isinstance(meeting["id"], int)
    assert meeting["topic"] == "Call with ACME"
    assert meeting["duration"] == 30
    assert meeting["host_email"] == "demo@zoom.example"
    assert meeting["join_url"].startswith(f"{zoom.url}/j/{meeting['id']}")
    for key in ("uuid", "host_id", "start_url", "password", "start_time", "timezone", "created_at"):
        assert meeting[key]
    page = http.get(f"/j/{meeting['id']}")
    assert page.status_code == 200
    assert "Call with ACME" in page.text


def test_create_meeting_with_empty_body(http: httpx.Client) -> None:
    token = connect(http)["access_token"]
    response = http.post("/v2/users/me/meetings", headers=bearer(token))
    assert response.status_code == 201


def test_create_meeting_bad_json(http: httpx.Client) -> None:
    token = connect(http)["access_token"]
    response = http.post("/v2/users/me/meetings", headers=bearer(token), content=b"[1")
    assert response.status_code == 400
    assert response.json()["code"] == 300


def test_create_meeting_needs_its_scope(http: httpx.Client) -> None:
    token = connect(http, scope="user:read:user user:read:email")["access_token"]
    response = http.post("/v2/users/me/meetings", headers=bearer(token), json={})
    assert response.status_code == 400
    assert response.json()["code"] == 4711
    assert "meeting:write:meeting" in response.json()["message"]


def test_daily_meeting_limit_is_429() -> None:
    with (
        run_in_thread(make_config(auto_approve=True, daily_meeting_limit=2)) as zoom,
        httpx.Client(base_url=zoom.url) as http,
    ):
        token = connect(http)["access_token"]
        for _ in range(2):
            assert http.post("/v2/users/me/meetings", headers=bearer(token)).status_code == 201
        response = http.post("/v2/users/me/meetings", headers=bearer(token))
        assert response.status_code == 429
        assert response.json()["code"] == 429
        assert "daily rate limit" in response.json()["message"]


@pytest.mark.parametrize(("mode", "status"), [("429", 429), ("500", 500)])
def test_meeting_fault_injection(http: httpx.Client, mode: str, status: int) -> None:
    token = connect(http)["access_token"]
    answer = http.post("/_sim/fail", json={"endpoint": "meetings", "mode": mode, "count": 2})
    assert answer.json()["faults"] == {"meetings": {"mode": mode, "remaining": 2}}
    for _ in range(2):
        response = http.post("/v2/users/me/meetings", headers=bearer(token))
        assert response.status_code == status
        assert set(response.json()) == {"code", "message"}
    assert http.post("/v2/users/me/meetings", headers=bearer(token)).status_code == 201


def test_presence_fault_injection(http: httpx.Client) -> None:
    token = connect(http)["access_token"]
    http.post("/_sim/fail", json={"endpoint": "presence", "mode": "500", "count": 1})
    assert http.get("/v2/users/me/presence_status", headers=bearer(token)).status_code == 500
    assert http.get("/v2/users/me/presence_status", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"endpoint": "nowhere", "mode": "500"},
        {"endpoint": "token", "mode": "418"},
        {"endpoint": "token", "mode": "500", "count": "x"},
    ],
)
def test_bad_fault_request(http: httpx.Client, body: dict[str, object]) -> None:
    response = http.post("/_sim/fail", json=body)
    assert response.status_code == 400
    assert response.json()["error"]


def test_expire_access_tokens_control(http: httpx.Client) -> None:
    tokens = connect(http)
    assert http.post("/_sim/users/demo@zoom.example/expire_access_tokens").json() == {"expired": 1}
    response = http.get("/v2/users/me", headers=bearer(tokens["access_token"]))
    assert response.json() == {"code": 124, "message": "Access token is expired."}


def test_control_user_management(http: httpx.Client) -> None:
    created = http.post("/_sim/users", json={"email": "a@zoom.example", "first_name": "Ann"})
    assert created.status_code == 201
    assert created.json()["first_name"] == "Ann"
    assert http.post("/_sim/users", json={"email": "A@zoom.example"}).status_code == 409
    assert http.post("/_sim/users", json={"email": "nope"}).status_code == 400
    assert http.post("/_sim/users", content=b"{").status_code == 400
    emails = [u["email"] for u in http.get("/_sim/users").json()["users"]]
    assert emails == ["demo@zoom.example", "a@zoom.example"]
    assert http.post("/_sim/users/ghost/presence", json={"status": "Away"}).status_code == 404
