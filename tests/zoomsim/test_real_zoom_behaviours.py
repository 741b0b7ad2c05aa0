"""The local Zoom behaves as the real one does (issue 11). Each test names the
fact it follows: a section of ZOOM.md, and through it Zoom's page or report."""

from __future__ import annotations

import json

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from desktop.serving import ThreadedServer
from desktop.zoomsim.server import RunningZoomSim, run_in_thread
from tests.support.waiting import wait_until
from tests.zoomsim.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    FakeClock,
    WebhookReceiver,
    bearer,
    connect,
    make_config,
)


def refresh(http: httpx.Client, refresh_token: str) -> httpx.Response:
    return http.post(
        "/oauth/token",
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
    )


def test_a_new_code_exchange_kills_the_users_older_grant(http: httpx.Client) -> None:
    # ZOOM.md "OAuth": one valid grant per Zoom user and app.
    first = connect(http)
    second = connect(http)
    assert http.get("/v2/users/me", headers=bearer(first["access_token"])).status_code == 401
    assert refresh(http, first["refresh_token"]).json()["error"] == "invalid_grant"
    assert http.get("/v2/users/me", headers=bearer(second["access_token"])).status_code == 200


@pytest.mark.parametrize(
    ("shape", "status", "body"),
    [
        ("invalid_grant", 400, {"reason": "Invalid Token!", "error": "invalid_grant"}),
        ("invalid_request", 400, {"reason": "Invalid refresh token", "error": "invalid_request"}),
        ("reason_only", 401, {"reason": "Invalid Token!"}),
    ],
)
def test_a_dead_refresh_token_answers_in_the_configured_shape(
    zoom: RunningZoomSim, http: httpx.Client, shape: str, status: int, body: dict[str, str]
) -> None:
    # ZOOM.md "OAuth" errors: "Invalid Token" is also seen without an error field.
    http.put("/_sim/config", json={"dead_grant_shape": shape})
    tokens = connect(http)
    assert refresh(http, tokens["refresh_token"]).status_code == 200
    dead = refresh(http, tokens["refresh_token"])
    assert (dead.status_code, dead.json()) == (status, body)


@pytest.mark.parametrize(
    ("dialect", "presence", "word"),
    [
        ("openapi", "In_Meeting", "In_A_Zoom_Meeting"),
        ("openapi", "On_Phone_Call", "On_A_Call"),
        ("prose", "In_Meeting", "In_A_Meeting"),
        ("prose", "On_Phone_Call", "In_A_Call"),
        ("prose", "In_Calendar_Event", "In_A_Calendar_Event"),
        ("self_dnd", "Do_Not_Disturb", "Do_No_Disturb"),
        ("webhook", "In_Meeting", "In_Meeting"),
    ],
)
def test_rest_presence_speaks_each_of_zooms_dialects(
    zoom: RunningZoomSim, http: httpx.Client, dialect: str, presence: str, word: str
) -> None:
    # ZOOM.md "REST": Zoom's page disagrees with itself; a live account said In_A_Call.
    tokens = connect(http)
    zoom.sim.find_user("demo@zoom.example").presence = presence
    set_dialect = http.post(
        "/_sim/users/demo@zoom.example/rest_presence", json={"dialect": dialect}
    )
    assert set_dialect.status_code == 200
    answer = http.get("/v2/users/me/presence_status", headers=bearer(tokens["access_token"]))
    assert answer.json() == {"status": word}
    http.post("/_sim/users/demo@zoom.example/rest_presence", json={"status": "In_A_Huddle"})
    answer = http.get("/v2/users/me/presence_status", headers=bearer(tokens["access_token"]))
    assert answer.json() == {"status": "In_A_Huddle"}


def test_presence_webhooks_carry_the_app_object_and_optionally_a_lowercased_id(
    zoom: RunningZoomSim, http: httpx.Client, receiver: WebhookReceiver
) -> None:
    # ZOOM.md "presence": the app sub-object; ids lowercased (field report);
    # "date-time" as Zoom's own example spells it.
    http.put(
        "/_sim/config",
        json={
            "webhook_url": receiver.url,
            "lowercase_webhook_ids": True,
            "presence_time_key": "date-time",
        },
    )
    user = zoom.sim.add_user("Case@zoom.example", user_id="MiXeDcAsEiD0123456789x")
    zoom.sim.set_presence(user.email, "Presenting")
    subject = json.loads(receiver.received[-1].body)["payload"]["object"]
    assert subject["id"] == "mixedcaseid0123456789x"
    assert subject["app"] == {"type": "desktop", "presence_status": "Presenting"}
    assert "date-time" in subject
    assert "date_time" not in subject


def test_4xx_is_never_retried_and_any_2xx_is_success(
    zoom: RunningZoomSim, http: httpx.Client, receiver: WebhookReceiver
) -> None:
    # ZOOM.md "Delivery semantics": success is any 2xx; Zoom never retries a 4xx.
    http.put("/_sim/config", json={"webhook_url": receiver.url})
    zoom.sim.default_user()
    receiver.statuses = [422, 202]
    refused = zoom.sim.set_presence("demo@zoom.example", "Away")
    assert (refused.status, refused.will_retry) == (422, False)
    accepted = zoom.sim.set_presence("demo@zoom.example", "Available")
    assert (accepted.status, accepted.ok) == (202, True)
    assert zoom.sim.pending_deliveries() == 0
    assert receiver.count() == 2


def test_a_retry_can_keep_the_first_attempts_timestamp(clock: FakeClock) -> None:
    # ZOOM.md "verifying a request": Zoom does not say a retry is signed afresh.
    answers = [503, 200]
    seen: list[dict[str, str]] = []

    async def hook(request: Request) -> Response:
        seen.append(dict(request.headers))
        return Response(status_code=answers.pop(0))

    hook_app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    config = make_config(clock=clock, retry_keeps_timestamp=True)
    with run_in_thread(config) as zoom, ThreadedServer(hook_app) as server:
        zoom.sim.default_user()
        zoom.sim.set_webhook_url(server.url + "/hook")
        first = zoom.sim.set_presence("demo@zoom.example", "In_Meeting")
        assert first.will_retry
        clock.advance(1200)  # the retry goes out 20 minutes on by Zoom's clock
        wait_until(lambda: zoom.sim.pending_deliveries() == 0, what="the retry")
    assert len(seen) == 2
    assert seen[0]["x-zm-request-timestamp"] == seen[1]["x-zm-request-timestamp"]
    assert seen[0]["x-zm-signature"] == seen[1]["x-zm-signature"]


def test_revoking_sends_app_deauthorized_later_dated_at_the_revoke(
    zoom: RunningZoomSim, http: httpx.Client, receiver: WebhookReceiver
) -> None:
    # ZOOM.md "removal at Zoom": revoking uninstalls the app; the notice comes later.
    http.put(
        "/_sim/config",
        json={"webhook_url": receiver.url, "revoke_deauthorization_delay": 0.05},
    )
    tokens = connect(http)
    revoked = http.post(
        "/oauth/revoke", auth=(CLIENT_ID, CLIENT_SECRET), data={"token": tokens["access_token"]}
    )
    assert revoked.json() == {"status": "success"}
    receiver.wait_for_count(1)
    notice = json.loads(receiver.received[0].body)
    assert notice["event"] == "app_deauthorized"
    assert notice["payload"]["user_id"] == zoom.sim.find_user("demo@zoom.example").id
    assert notice["payload"]["deauthorization_time"].endswith("Z")


def test_the_deauthorization_can_take_zooms_documented_shape(
    zoom: RunningZoomSim, http: httpx.Client, receiver: WebhookReceiver
) -> None:
    # zoom-fixtures/app_deauthorized.zoom-docs-example.json: no top-level event_ts,
    # payload.event_ts a string.
    http.put(
        "/_sim/config", json={"webhook_url": receiver.url, "deauthorization_shape": "docs_example"}
    )
    zoom.sim.default_user()
    zoom.sim.deauthorize("demo@zoom.example")
    notice = json.loads(receiver.received[-1].body)
    assert "event_ts" not in notice
    assert isinstance(notice["payload"]["event_ts"], str)


def test_granted_scopes_and_api_url_are_configurable(http: httpx.Client) -> None:
    http.put(
        "/_sim/config",
        json={"app_scopes": ["user:read:user"], "reported_api_url": "https://api-us.zoom.us"},
    )
    tokens = connect(http)
    assert tokens["scope"] == "user:read:user"
    assert tokens["api_url"] == "https://api-us.zoom.us"
    bad = http.put("/_sim/config", json={"dead_grant_shape": "sideways"})
    assert bad.status_code == 400


def test_held_deliveries_go_out_in_the_order_asked(
    zoom: RunningZoomSim, http: httpx.Client, receiver: WebhookReceiver
) -> None:
    # ZOOM.md "Delivery semantics": late, reordered deliveries happen.
    http.put("/_sim/config", json={"webhook_url": receiver.url})
    zoom.sim.default_user()
    assert http.post("/_sim/deliveries/hold").status_code == 200
    zoom.sim.set_presence("demo@zoom.example", "In_Meeting")
    zoom.sim.set_presence("demo@zoom.example", "Available")
    assert receiver.count() == 0
    sent = http.post("/_sim/deliveries/release", json={"order": "newest_first"}).json()
    assert [d["ok"] for d in sent["deliveries"]] == [True, True]
    statuses = [
        json.loads(r.body)["payload"]["object"]["presence_status"] for r in receiver.received
    ]
    assert statuses == ["Available", "In_Meeting"]
