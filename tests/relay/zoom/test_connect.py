"""Connecting: the callback's refusals each get their own page and change nothing."""

from __future__ import annotations

import re

import httpx

from desktop.zoomsim.server import RunningZoomSim
from tests.relay.zoom.conftest import (
    Wire,
    account,
    callback_url,
    connect_zoom,
    html_title,
    query,
    zoom_link,
    zoom_row,
)
from tests.support.relay import RunningRelay


def state_of(relay: RunningRelay, token: str) -> dict[str, object]:
    response = httpx.get(relay.url + "/api/v1/state", headers={"Authorization": f"Bearer {token}"})
    body: dict[str, object] = response.json()
    return body


def test_denied_consent_changes_nothing(
    zrelay: RunningRelay, sim: RunningZoomSim, wire: Wire, browser: httpx.Client
) -> None:
    token = account(zrelay)
    before = state_of(zrelay, token)
    httpx.put(sim.url + "/_sim/config", json={"auto_approve": False})
    with wire.client(zrelay.url, token) as api:
        url = api.post("/api/v1/integrations/zoom/connect").json()["authorize_url"]
    consent = browser.get(zoom_link(browser, url))
    assert consent.status_code == 200
    request_id = re.search(r'name="request_id" value="([^"]+)"', consent.text)
    assert request_id is not None
    denied = browser.post(
        sim.url + "/oauth/authorize/decision",
        data={"request_id": request_id.group(1), "decision": "deny"},
        follow_redirects=True,
    )
    assert denied.status_code == 403
    assert html_title(denied) == "Zoom was not connected"
    assert "not to allow" in denied.text
    assert state_of(zrelay, token) == before
    assert zoom_row(zrelay) is None


def test_a_state_works_once(zrelay: RunningRelay, wire: Wire, browser: httpx.Client) -> None:
    token = account(zrelay)
    location = callback_url(zrelay, wire, token, browser)
    first = browser.get(location)
    assert first.status_code == 200
    after_first = state_of(zrelay, token)
    again = browser.get(location)
    assert again.status_code == 400
    assert "expired or was already used" in html_title(again)
    assert state_of(zrelay, token)["seq"] == after_first["seq"]


def test_unknown_state_and_missing_parameters(zrelay: RunningRelay) -> None:
    base = zrelay.url + "/oauth/zoom/callback"
    assert httpx.get(base, params={"code": "x", "state": "forged"}).status_code == 400
    incomplete = httpx.get(base)
    assert incomplete.status_code == 400
    assert "incomplete" in html_title(incomplete)


def test_a_failed_code_exchange_changes_nothing(
    zrelay: RunningRelay, wire: Wire, browser: httpx.Client
) -> None:
    token = account(zrelay)
    before = state_of(zrelay, token)
    location = callback_url(zrelay, wire, token, browser)
    state = query(location)["state"][0]
    failed = browser.get(
        zrelay.url + "/oauth/zoom/callback", params={"code": "not-a-real-code", "state": state}
    )
    assert failed.status_code == 400
    assert html_title(failed) == "Zoom did not accept this sign-in"
    assert failed.headers["cache-control"] == "no-store"
    assert state_of(zrelay, token) == before
    assert zoom_row(zrelay) is None
    # ...and the state was used up by that attempt.
    assert browser.get(location).status_code == 400


def test_zoom_down_during_the_exchange_is_a_502_page(
    zrelay: RunningRelay, sim: RunningZoomSim, wire: Wire, browser: httpx.Client
) -> None:
    token = account(zrelay)
    location = callback_url(zrelay, wire, token, browser)
    httpx.post(sim.url + "/_sim/fail", json={"endpoint": "token", "mode": "500", "count": 1})
    failed = browser.get(location)
    assert failed.status_code == 502
    assert html_title(failed) == "Zoom could not be reached"
    assert zoom_row(zrelay) is None


def test_two_accounts_keep_two_zoom_users(
    zrelay: RunningRelay, sim: RunningZoomSim, wire: Wire
) -> None:
    """Another Zoom user's grant is not touched by a connect (point 8 of issue 11,
    one Zoom user moving between accounts, is in test_real_zoom.py)."""
    first = account(zrelay, "first@example.com")
    second = account(zrelay, "second@example.com")
    assert connect_zoom(zrelay, wire, first).status_code == 200
    httpx.post(sim.url + "/_sim/users", json={"email": "other@zoom.example"})
    page = connect_zoom(zrelay, wire, second, login_hint="other@zoom.example")
    assert page.status_code == 200
    assert "Zoom other@zoom.example is now connected to ProfitRinger second@example.com" in (
        page.text
    )
    assert "another ProfitRinger account" not in page.text
    assert state_of(zrelay, second)["zoom"]["email"] == "other@zoom.example"  # type: ignore[index]
    assert state_of(zrelay, first)["zoom"]["state"] == "connected"  # type: ignore[index]


def test_reconnecting_replaces_the_tokens(
    zrelay: RunningRelay, sim: RunningZoomSim, wire: Wire
) -> None:
    token = account(zrelay)
    assert connect_zoom(zrelay, wire, token).status_code == 200
    old = zoom_row(zrelay)
    assert connect_zoom(zrelay, wire, token).status_code == 200
    new = zoom_row(zrelay)
    assert old is not None
    assert new is not None
    assert old["refresh_token"] != new["refresh_token"]
    assert state_of(zrelay, token)["zoom"]["state"] == "connected"  # type: ignore[index]


def test_without_zoom_settings_the_endpoints_say_so(relay: RunningRelay) -> None:
    token = account(relay)
    headers = {"Authorization": f"Bearer {token}"}
    connect = httpx.post(relay.url + "/api/v1/integrations/zoom/connect", headers=headers)
    assert connect.status_code == 503
    assert connect.json()["error"]["code"] == "zoom_not_configured"
    meeting = httpx.post(relay.url + "/api/v1/meetings", headers=headers, json={"topic": "x"})
    assert meeting.status_code == 503
    webhook = httpx.post(relay.url + "/webhooks/zoom", content=b"{}")
    assert webhook.status_code == 503
    assert webhook.json()["error"]["code"] == "zoom_webhooks_not_configured"
    callback = httpx.get(relay.url + "/oauth/zoom/callback", params={"code": "c", "state": "s"})
    assert callback.status_code == 503
    # Disconnecting is always possible (there is just nothing to revoke).
    gone = httpx.delete(relay.url + "/api/v1/integrations/zoom", headers=headers)
    assert gone.status_code == 200
    assert gone.json()["zoom"]["state"] == "disconnected"
    # And the relay made no key file: nothing to protect.
    assert not (relay.settings.data_dir / "zoom-token-keys").exists()


def test_connect_needs_a_session(zrelay: RunningRelay) -> None:
    response = httpx.post(zrelay.url + "/api/v1/integrations/zoom/connect")
    assert response.status_code == 401
