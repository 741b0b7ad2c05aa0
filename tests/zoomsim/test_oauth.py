from __future__ import annotations

import base64
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from desktop.zoomsim.server import RunningZoomSim, run_in_thread
from desktop.zoomsim.sim import DEFAULT_SCOPES
from tests.zoomsim.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    REDIRECT_URI,
    FakeClock,
    authorize_code,
    bearer,
    connect,
    make_config,
    pkce_pair,
)


def basic_auth(client_id: str, client_secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()


def exchange(http: httpx.Client, code: str, verifier: str, **extra: str) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
        **extra,
    }
    return http.post("/oauth/token", auth=(CLIENT_ID, CLIENT_SECRET), data=data)


def refresh(http: httpx.Client, refresh_token: str) -> httpx.Response:
    return http.post(
        "/oauth/token",
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
    )


def test_full_flow_authorize_token_refresh_rotation_revoke(
    zoom: RunningZoomSim, http: httpx.Client
) -> None:
    tokens = connect(http)
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 3599
    assert tokens["scope"].split() == list(DEFAULT_SCOPES)
    assert tokens["api_url"] == zoom.url
    assert len(tokens["access_token"]) >= 43
    assert len(tokens["refresh_token"]) >= 43
    assert http.get("/v2/users/me", headers=bearer(tokens["access_token"])).status_code == 200

    rotated = refresh(http, tokens["refresh_token"])
    assert rotated.status_code == 200
    new = rotated.json()
    assert new["refresh_token"] != tokens["refresh_token"]
    assert new["access_token"] != tokens["access_token"]

    again = refresh(http, tokens["refresh_token"])
    assert again.status_code == 400
    assert again.json() == {"reason": "Invalid Token!", "error": "invalid_grant"}
    # Zoom keeps the previous access token valid until it expires.
    assert http.get("/v2/users/me", headers=bearer(tokens["access_token"])).status_code == 200

    revoked = http.post(
        "/oauth/revoke", auth=(CLIENT_ID, CLIENT_SECRET), data={"token": new["access_token"]}
    )
    assert revoked.json() == {"status": "success"}
    gone = http.get("/v2/users/me", headers=bearer(new["access_token"]))
    assert gone.status_code == 401
    assert gone.json() == {"code": 124, "message": "Invalid access token."}
    assert refresh(http, new["refresh_token"]).json()["error"] == "invalid_grant"

    issued = http.get("/_sim/issued_tokens").json()
    assert {tokens["access_token"], new["access_token"]} <= set(issued["access_tokens"])
    assert {tokens["refresh_token"], new["refresh_token"]} <= set(issued["refresh_tokens"])


def test_pkce_failure_is_invalid_grant(http: httpx.Client) -> None:
    _, challenge = pkce_pair()
    other_verifier, _ = pkce_pair()
    response = exchange(http, authorize_code(http, challenge), other_verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_missing_verifier_is_invalid_grant(http: httpx.Client) -> None:
    _, challenge = pkce_pair()
    code = authorize_code(http, challenge)
    response = http.post(
        "/oauth/token",
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
    )
    assert response.json()["error"] == "invalid_grant"


def test_code_is_single_use(http: httpx.Client) -> None:
    verifier, challenge = pkce_pair()
    code = authorize_code(http, challenge)
    assert exchange(http, code, verifier).status_code == 200
    reused = exchange(http, code, verifier)
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"


def test_expired_code(http: httpx.Client, clock: FakeClock) -> None:
    verifier, challenge = pkce_pair()
    code = authorize_code(http, challenge)
    clock.advance(301)
    response = exchange(http, code, verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_redirect_uri_mismatch(http: httpx.Client) -> None:
    verifier, challenge = pkce_pair()
    code = authorize_code(http, challenge)
    response = exchange(http, code, verifier, redirect_uri="http://127.0.0.1:9/elsewhere")
    assert response.status_code == 400
    assert response.json() == {"reason": "Redirect URI mismatch.", "error": "invalid_request"}


@pytest.mark.parametrize(
    "auth",
    [(CLIENT_ID, "wrong-secret"), ("wrong-id", CLIENT_SECRET), None],
    ids=["wrong-secret", "wrong-id", "none"],
)
def test_bad_client_credentials(http: httpx.Client, auth: tuple[str, str] | None) -> None:
    verifier, challenge = pkce_pair()
    code = authorize_code(http, challenge)
    response = http.post(
        "/oauth/token",
        headers={} if auth is None else {"Authorization": basic_auth(*auth)},
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
    )
    assert response.status_code == 401
    assert response.json() == {
        "reason": "Invalid client_id or client_secret",
        "error": "invalid_client",
    }


def test_unsupported_grant_type(http: httpx.Client) -> None:
    response = http.post(
        "/oauth/token", auth=(CLIENT_ID, CLIENT_SECRET), data={"grant_type": "password"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_expired_refresh_token(http: httpx.Client, clock: FakeClock) -> None:
    tokens = connect(http)
    clock.advance(90 * 24 * 3600 + 1)
    assert refresh(http, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_expired_access_token_is_401_124(http: httpx.Client, clock: FakeClock) -> None:
    tokens = connect(http)
    clock.advance(3600)
    response = http.get("/v2/users/me", headers=bearer(tokens["access_token"]))
    assert response.status_code == 401
    assert response.json()["code"] == 124
    assert refresh(http, tokens["refresh_token"]).status_code == 200


def test_invalidate_tokens_kills_the_grant(http: httpx.Client) -> None:
    tokens = connect(http)
    answer = http.post("/_sim/users/demo@zoom.example/invalidate_tokens")
    assert answer.json() == {"invalidated": 2}
    assert http.get("/v2/users/me", headers=bearer(tokens["access_token"])).status_code == 401
    assert refresh(http, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_requested_scopes_are_granted(http: httpx.Client) -> None:
    tokens = connect(http, scope="user:read:user user:read:email")
    assert tokens["scope"] == "user:read:user user:read:email"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"client_id": "nope"}, "Invalid client_id"),
        ({"response_type": "token"}, "response_type"),
        ({"redirect_uri": "not a url"}, "redirect_uri"),
        ({"scope": "admin:everything"}, "Invalid scope"),
        ({"code_challenge_method": "S512"}, "code_challenge_method"),
        ({"login_hint": "nobody@zoom.example"}, "There is no Zoom user"),
    ],
)
def test_bad_authorize_request_is_a_400_page(
    http: httpx.Client, change: dict[str, str], message: str
) -> None:
    _, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **change,
    }
    response = http.get("/oauth/authorize", params=params)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert message in response.text


def test_login_hint_picks_the_consenting_user(zoom: RunningZoomSim, http: httpx.Client) -> None:
    http.post("/_sim/users", json={"email": "second@zoom.example"}).raise_for_status()
    tokens = connect(http, login_hint="second@zoom.example")
    me = http.get("/v2/users/me", headers=bearer(tokens["access_token"])).json()
    assert me["email"] == "second@zoom.example"


@pytest.fixture
def consent_zoom() -> Iterator[RunningZoomSim]:
    with run_in_thread(make_config(auto_approve=False)) as running:
        yield running


@pytest.mark.parametrize("decision", ["allow", "deny"])
def test_consent_page_allow_and_deny(consent_zoom: RunningZoomSim, decision: str) -> None:
    _, challenge = pkce_pair()
    with httpx.Client(base_url=consent_zoom.url) as http:
        page = http.get(
            "/oauth/authorize",
            params={
                "response_type": "code",
                "client_id": CLIENT_ID,
                "redirect_uri": REDIRECT_URI + "?keep=1",
                "state": "xyz",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
        )
        assert page.status_code == 200
        assert "Allow" in page.text
        assert "demo@zoom.example" in page.text
        request_id = page.text.split('name="request_id" value="')[1].split('"')[0]
        answer = http.post(
            "/oauth/authorize/decision", data={"request_id": request_id, "decision": decision}
        )
        assert answer.status_code == 302
        query = parse_qs(urlsplit(answer.headers["location"]).query)
        assert query["state"] == ["xyz"]
        assert query["keep"] == ["1"]
        if decision == "allow":
            assert "code" in query
        else:
            assert query["error"] == ["access_denied"]
        # A decision is taken once.
        replay = http.post(
            "/oauth/authorize/decision", data={"request_id": request_id, "decision": "allow"}
        )
        assert replay.status_code == 400


def test_revoke_needs_client_auth(http: httpx.Client) -> None:
    tokens = connect(http)
    response = http.post("/oauth/revoke", data={"token": tokens["access_token"]})
    assert response.status_code == 401
    assert http.get("/v2/users/me", headers=bearer(tokens["access_token"])).status_code == 200


@pytest.mark.parametrize(("mode", "status"), [("500", 500), ("429", 429)])
def test_token_fault_injection(http: httpx.Client, mode: str, status: int) -> None:
    tokens = connect(http)
    http.post("/_sim/fail", json={"endpoint": "token", "mode": mode, "count": 1})
    assert refresh(http, tokens["refresh_token"]).status_code == status
    # The fault consumed nothing: the same refresh token still works once.
    assert refresh(http, tokens["refresh_token"]).status_code == 200


def test_token_timeout_fault(http: httpx.Client) -> None:
    tokens = connect(http)
    http.post("/_sim/fail", json={"endpoint": "token", "mode": "timeout", "count": 1})
    with pytest.raises(httpx.ReadTimeout):
        http.post(
            "/oauth/token",
            auth=(CLIENT_ID, CLIENT_SECRET),
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            timeout=0.3,
        )


def test_auto_approve_can_be_switched_at_runtime(consent_zoom: RunningZoomSim) -> None:
    _, challenge = pkce_pair()
    with httpx.Client(base_url=consent_zoom.url) as http:
        assert http.get("/_sim/config").json()["auto_approve"] is False
        answer = http.put("/_sim/config", json={"auto_approve": True})
        assert answer.json()["auto_approve"] is True
        assert authorize_code(http, challenge)
        assert http.put("/_sim/config", json={"auto_approve": "yes"}).status_code == 400
