from __future__ import annotations

import json

import httpx

from desktop.zoomsim.server import RunningZoomSim, run_in_thread
from tests.support.waiting import wait_until
from tests.zoomsim.conftest import (
    CLIENT_ID,
    WEBHOOK_SECRET,
    WebhookReceiver,
    bearer,
    connect,
    make_config,
    verify_zoom_signature,
)


def point_at(http: httpx.Client, receiver: WebhookReceiver) -> None:
    answer = http.put("/_sim/config", json={"webhook_url": receiver.url})
    assert answer.json()["webhook_url"] == receiver.url


def test_presence_webhook_is_signed_and_shaped_like_zoom(
    http: httpx.Client, receiver: WebhookReceiver
) -> None:
    point_at(http, receiver)
    user = http.post("/_sim/users", json={"email": "jchill@example.com"}).json()
    answer = http.post(f"/_sim/users/{user['id']}/presence", json={"status": "In_Meeting"}).json()
    assert answer["delivery"]["ok"] is True
    assert answer["delivery"]["status"] == 200
    assert receiver.count() == 1
    delivery = receiver.received[0]
    assert verify_zoom_signature(WEBHOOK_SECRET, delivery.headers, delivery.body)
    assert not verify_zoom_signature("some-other-secret", delivery.headers, delivery.body)
    assert delivery.headers["user-agent"] == "Zoom Marketplace/1.0a"
    assert delivery.headers["content-type"] == "application/json; charset=utf-8"
    assert delivery.headers["clientid"] == CLIENT_ID
    assert delivery.headers["x-zm-trackingid"]
    assert b" " not in delivery.body  # compact JSON
    event = json.loads(delivery.body)
    assert event["event"] == "user.presence_status_updated"
    assert event["event_ts"] > 10**12  # milliseconds
    assert int(delivery.headers["x-zm-request-timestamp"]) < 10**11  # seconds
    obj = event["payload"]["object"]
    assert obj["id"] == user["id"]
    assert obj["email"] == "jchill@example.com"
    assert obj["presence_status"] == "In_Meeting"
    assert obj["date_time"].endswith("Z")
    assert event["payload"]["account_id"] == user["account_id"]


def test_failed_delivery_is_retried_and_resigned(
    http: httpx.Client, receiver: WebhookReceiver
) -> None:
    point_at(http, receiver)
    receiver.statuses = [500, 503]
    http.get("/_sim/users")
    first = http.post("/_sim/users/demo@zoom.example/presence", json={"status": "Away"}).json()
    assert first["delivery"]["ok"] is False
    assert first["delivery"]["status"] == 500
    assert first["delivery"]["will_retry"] is True
    receiver.wait_for_count(3)
    assert receiver.count() == 3
    bodies = {r.body for r in receiver.received}
    assert len(bodies) == 1  # the same event each time
    for delivery in receiver.received:
        assert verify_zoom_signature(WEBHOOK_SECRET, delivery.headers, delivery.body)
    wait_until(lambda: http.get("/_sim/deliveries/pending").json()["pending"] == 0)
    attempts = http.get("/_sim/deliveries").json()["deliveries"]
    assert [(a["attempt"], a["status"], a["ok"]) for a in attempts] == [
        (1, 500, False),
        (2, 503, False),
        (3, 200, True),
    ]


def test_unreachable_endpoint_is_retried_three_times_then_given_up(http: httpx.Client) -> None:
    http.put("/_sim/config", json={"webhook_url": "http://127.0.0.1:9/nothing-listens"})
    http.get("/_sim/users")
    first = http.post("/_sim/users/demo@zoom.example/presence", json={"status": "Busy"}).json()
    assert first["delivery"]["status"] is None
    assert first["delivery"]["error"]
    wait_until(lambda: http.get("/_sim/deliveries/pending").json()["pending"] == 0, timeout=10)
    attempts = http.get("/_sim/deliveries").json()["deliveries"]
    assert [a["attempt"] for a in attempts] == [1, 2, 3, 4]
    assert [a["will_retry"] for a in attempts] == [True, True, True, False]


def test_stopping_the_sim_cancels_retries(receiver: WebhookReceiver) -> None:
    with run_in_thread(make_config(webhook_url=receiver.url, retry_time_scale=1.0)) as zoom:
        receiver.statuses = [500]
        zoom.sim.add_user("x@zoom.example")
        attempt = zoom.sim.set_presence("x@zoom.example", "In_Meeting")
        assert attempt.status == 500
        assert zoom.sim.pending_deliveries() == 1
    assert zoom.sim.pending_deliveries() == 0
    assert receiver.count() == 1


def test_python_control_methods(receiver: WebhookReceiver) -> None:
    with run_in_thread(make_config(webhook_url=receiver.url)) as zoom:
        user = zoom.sim.add_user("py@zoom.example")
        assert zoom.sim.set_presence(user.id, "Presenting").ok
        assert zoom.sim.validate_endpoint()["ok"] is True
        assert zoom.sim.deauthorize(user.email).ok
    assert [json.loads(r.body)["event"] for r in receiver.received] == [
        "user.presence_status_updated",
        "endpoint.url_validation",
        "app_deauthorized",
    ]


def test_deauthorize_sends_event_and_revokes_tokens(
    zoom: RunningZoomSim, http: httpx.Client, receiver: WebhookReceiver
) -> None:
    point_at(http, receiver)
    tokens = connect(http)
    user = http.get("/v2/users/me", headers=bearer(tokens["access_token"])).json()
    assert http.get("/_sim/users").json()["users"][0]["authorized"] is True
    answer = http.post(f"/_sim/users/{user['email']}/deauthorize").json()
    assert answer["delivery"]["ok"] is True
    delivery = receiver.received[-1]
    assert verify_zoom_signature(WEBHOOK_SECRET, delivery.headers, delivery.body)
    event = json.loads(delivery.body)
    assert event["event"] == "app_deauthorized"
    payload = event["payload"]
    assert payload["user_id"] == user["id"]
    assert payload["account_id"] == user["account_id"]
    assert payload["client_id"] == CLIENT_ID
    assert payload["user_data_retention"] is None
    assert payload["signature"]
    assert payload["deauthorization_time"].endswith("Z")
    assert http.get("/v2/users/me", headers=bearer(tokens["access_token"])).status_code == 401
    assert http.get("/_sim/users").json()["users"][0]["authorized"] is False


def test_validate_endpoint_good_and_bad(http: httpx.Client, receiver: WebhookReceiver) -> None:
    point_at(http, receiver)
    good = http.post("/_sim/validate_endpoint").json()
    assert good["ok"] is True
    event = json.loads(receiver.received[-1].body)
    assert event["event"] == "endpoint.url_validation"
    assert verify_zoom_signature(
        WEBHOOK_SECRET, receiver.received[-1].headers, receiver.received[-1].body
    )
    receiver.answer_validation = False
    bad = http.post("/_sim/validate_endpoint").json()
    assert bad["ok"] is False
    assert "not JSON" in bad["detail"]


def test_no_webhook_url_sends_nothing(http: httpx.Client) -> None:
    http.get("/_sim/users")
    answer = http.post("/_sim/users/demo@zoom.example/presence", json={"status": "Away"}).json()
    assert answer["delivery"]["attempt"] == 0
    assert "webhook URL" in answer["delivery"]["error"]
    assert http.put("/_sim/config", json={"webhook_url": "ftp://x"}).status_code == 400


def test_join_page_buttons_drive_presence(http: httpx.Client, receiver: WebhookReceiver) -> None:
    point_at(http, receiver)
    token = connect(http)["access_token"]
    meeting = http.post("/v2/users/me/meetings", headers=bearer(token)).json()
    assert http.post(f"/j/{meeting['id']}/join").status_code == 200
    assert http.get("/v2/users/me/presence_status", headers=bearer(token)).json() == {
        "status": "In_A_Zoom_Meeting"
    }
    assert http.post(f"/j/{meeting['id']}/leave").status_code == 200
    statuses = [
        json.loads(r.body)["payload"]["object"]["presence_status"] for r in receiver.received
    ]
    assert statuses == ["In_Meeting", "Available"]
