"""Issue 11: the relay held to what real Zoom sends and does, point by point.

Each test runs a real relay against the real local Zoom (both on 127.0.0.1)
taught the behaviour ZOOM.md records, and names the point and the fact it
follows. Each one fails on the relay as it was before the issue.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from desktop.core.availability import AccountAvailability
from desktop.relay.storage import DB_FILENAME, MIGRATIONS, Store, state_to_json
from desktop.serving import free_port
from desktop.zoomsim.server import RunningZoomSim, ThreadedServer, run_in_thread
from desktop.zoomsim.sim import SimConfig
from tests.relay.zoom.conftest import (
    WEBHOOK_SECRET,
    ZOOM_USER,
    Wire,
    account,
    connect_zoom,
    html_title,
    presence_body,
    signed_post,
    sim_config,
    state,
    zoom_row,
)
from tests.support.relay import RunningRelay, start_relay
from tests.support.waiting import wait_until
from tests.support.zoom import zoom_settings


@contextlib.contextmanager
def zoom_world(
    tmp_path: Path, config: SimConfig | None = None, **sim_overrides: Any
) -> Iterator[tuple[RunningZoomSim, RunningRelay]]:
    """A local Zoom (with ``sim_overrides``) and a relay pointed at it."""
    with (
        run_in_thread(config or sim_config(**sim_overrides)) as sim,
        start_relay(tmp_path / "relay", **zoom_settings(sim)) as relay,
    ):
        sim.sim.set_webhook_url(relay.url + "/webhooks/zoom")
        yield sim, relay


def in_meeting(relay: RunningRelay, token: str) -> bool:
    return bool(state(relay, token)["zoom"]["in_meeting"])


def user_id(sim: RunningZoomSim, email: str = ZOOM_USER) -> str:
    return sim.sim.find_user(email).id


@pytest.fixture
def connected(zrelay: RunningRelay, sim: RunningZoomSim, wire: Wire) -> str:
    """The session token of an account connected to the sim's default user."""
    token = account(zrelay)
    assert connect_zoom(zrelay, wire, token).status_code == 200
    return token


# -- 1. REST presence spellings ------------------------------------------------------------


@pytest.fixture
def reconciling(tmp_path: Path, sim: RunningZoomSim) -> Iterator[RunningRelay]:
    """A relay that re-reads presence over REST after 0.2 s "in a meeting"."""
    settings = zoom_settings(sim, zoom_reconcile_after=0.2, zoom_retry_delay=0.2)
    with start_relay(tmp_path / "relay", **settings) as running:
        sim.sim.set_webhook_url(running.url + "/webhooks/zoom")
        yield running


#: (what REST answers, whether that is a meeting). ZOOM.md "REST": the enum, the
#: prose list, the misspelled branch, a live account's In_A_Call, any case; an
#: unknown word leaves in_meeting as it was (None).
REST_ANSWERS = [
    ("In_A_Zoom_Meeting", True),
    ("In_A_Meeting", True),
    ("in_a_meeting", True),
    ("On_A_Call", True),
    ("In_A_Call", True),
    ("Presenting", True),
    ("In_A_Huddle", None),
    ("In_A_Calendar_Event", False),
    ("Do_No_Disturb", False),
    ("Offline", False),
    ("Out_of_Office", False),
]


def test_1_every_rest_spelling_is_understood_and_an_unknown_word_changes_nothing(
    reconciling: RunningRelay, sim: RunningZoomSim, wire: Wire
) -> None:
    token = account(reconciling)
    assert connect_zoom(reconciling, wire, token).status_code == 200
    for word, meeting in REST_ANSWERS:
        sim.sim.set_rest_presence(ZOOM_USER, status="")
        sim.sim.set_presence(ZOOM_USER, "In_Meeting")
        wait_until(lambda: in_meeting(reconciling, token), what=f"paused before {word}")
        sim.sim.set_rest_presence(ZOOM_USER, status=word)
        if meeting is False:
            wait_until(lambda: not in_meeting(reconciling, token), what=f"{word} resumes")
            continue
        # The planner reads one person at a time: once Zoom has answered two more
        # reads, the answer to the first of them has been applied.
        enough = len(sim.sim.presence_reads()) + 2

        def answered(n: int = enough) -> bool:
            return len(sim.sim.presence_reads()) >= n

        wait_until(answered, what=f"{word} read")
        assert in_meeting(reconciling, token), f"{word} resumed the ringer mid-meeting"
    # User-level OAuth apps must ask about "me" (ZOOM.md "REST").
    assert set(sim.sim.presence_reads()) == {"me"}


# -- 2. Zoom user ids match in any case ---------------------------------------------------


def test_2_a_lowercased_user_id_in_a_webhook_still_finds_the_person(
    tmp_path: Path, wire: Wire
) -> None:
    # A field report (ZOOM.md "presence"): webhooks carry the id lowercased.
    with run_in_thread(sim_config(lowercase_webhook_ids=True)) as sim:
        sim.sim.add_user("mixed@zoom.example", user_id="AbCdEfGhIjKlMnOpQrStUv")
        with start_relay(tmp_path / "relay", **zoom_settings(sim)) as relay:
            sim.sim.set_webhook_url(relay.url + "/webhooks/zoom")
            token = account(relay)
            assert connect_zoom(relay, wire, token, "mixed@zoom.example").status_code == 200
            delivery = sim.sim.set_presence("mixed@zoom.example", "In_Meeting")
            assert delivery.ok
            assert json.loads(delivery.response_body) == {"status": "applied"}
            assert state(relay, token)["effective"]["reason"] == "in_meeting"


# -- 3. every correctly signed delivery gets 2xx ------------------------------------------


def test_3_a_signed_event_the_relay_does_not_handle_is_acknowledged(
    zrelay: RunningRelay, sim: RunningZoomSim, connected: str
) -> None:
    # ZOOM.md: Zoom never retries a 4xx and may switch off failing deliveries.
    before = state(zrelay, connected)
    body = json.dumps(
        {"event": "meeting.started", "event_ts": int(time.time() * 1000), "payload": {}}
    ).encode()
    answer = signed_post(zrelay, body)
    assert answer.status_code == 200
    assert answer.json()["status"] == "ignored"
    assert state(zrelay, connected) == before


# -- 4. retries signed long ago still count -----------------------------------------------


def test_4_a_retry_keeping_an_hour_old_signature_is_applied_once(
    tmp_path: Path, wire: Wire
) -> None:
    # ZOOM.md: Zoom does not say a retry is signed afresh; accept up to 2 hours old.
    hour_ago = lambda: time.time() - 3600  # noqa: E731 - the local Zoom's clock
    config = sim_config(retry_keeps_timestamp=True, retry_time_scale=0.002, clock=hour_ago)
    with zoom_world(tmp_path, config) as (sim, relay):
        token = account(relay)
        # Presence at connect is read over REST "now"; this test's events are
        # an hour old by the local Zoom's clock, so let none be read at connect.
        sim.sim.inject_fault("presence", "500")
        assert connect_zoom(relay, wire, token).status_code == 200
        sim.sim.set_webhook_url(f"http://127.0.0.1:{free_port()}/nobody-home")
        first = sim.sim.set_presence(ZOOM_USER, "In_Meeting")
        assert first.status is None
        assert first.will_retry
        sim.sim.set_webhook_url(relay.url + "/webhooks/zoom")
        wait_until(lambda: in_meeting(relay, token), what="the retry applied")
        (retry,) = [a for a in sim.sim.webhooks.attempts() if a.attempt > 1 and a.ok]
        assert json.loads(retry.response_body) == {"status": "applied"}
        kept = retry.request_headers["x-zm-request-timestamp"]
        assert time.time() - int(kept) > 3500  # signed an hour ago, and still counted
        before = state(relay, token)
        # The same delivery again (at least once, ZOOM.md): acknowledged, no change.
        repeat = httpx.post(
            relay.url + "/webhooks/zoom",
            content=retry.request_body,
            headers=retry.request_headers,
        )
        assert repeat.status_code == 200
        assert repeat.json() == {"status": "ignored"}
        assert state(relay, token) == before


# -- 5. an event_ts far in the future is not applied --------------------------------------


def test_5_a_future_dated_event_does_not_make_real_events_stale(
    zrelay: RunningRelay, sim: RunningZoomSim, connected: str
) -> None:
    tomorrow = int((time.time() + 86400) * 1000)
    future = signed_post(zrelay, presence_body(user_id(sim), "Available", tomorrow))
    assert future.status_code == 200
    assert future.json() == {"status": "ignored"}
    delivery = sim.sim.set_presence(ZOOM_USER, "In_Meeting")
    assert json.loads(delivery.response_body) == {"status": "applied"}
    assert in_meeting(zrelay, connected)


# -- 6. a late deauthorization does not end a newer connection ----------------------------


def test_6_our_disconnects_late_notice_does_not_end_the_reconnection(
    tmp_path: Path, wire: Wire
) -> None:
    # ZOOM.md: revoking makes Zoom send app_deauthorized, possibly much later.
    with zoom_world(tmp_path, revoke_deauthorization_delay=0.0) as (sim, relay):
        token = account(relay)
        assert connect_zoom(relay, wire, token).status_code == 200
        zoom_id = user_id(sim)
        started = int(time.time() * 1000)
        assert signed_post(relay, presence_body(zoom_id, "In_Meeting", started)).is_success
        ended = signed_post(relay, presence_body(zoom_id, "Available", started + 1000))
        assert ended.json() == {"status": "applied"}
        sim.sim.webhooks.hold()  # Zoom's notice is late
        gone = httpx.delete(
            relay.url + "/api/v1/integrations/zoom",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert gone.json()["zoom"]["state"] == "disconnected"
        wait_until(lambda: sim.sim.webhooks.held() == 1, what="the notice to be sent")
        # Reconnect; presence cannot be read at connect this time.
        sim.sim.inject_fault("presence", "500")
        assert connect_zoom(relay, wire, token).status_code == 200
        (late,) = sim.sim.release_held()
        assert json.loads(late.response_body) == {"status": "ignored"}
        assert state(relay, token)["zoom"]["state"] == "connected"
        assert zoom_row(relay)["refresh_token"] is not None  # type: ignore[index]
        # An old "meeting started", replayed, cannot pause the reconnected person.
        replay = signed_post(relay, presence_body(zoom_id, "In_Meeting", started))
        assert replay.json() == {"status": "ignored"}
        assert not in_meeting(relay, token)


# -- 7. an unverifiable deauthorization is checked with Zoom ------------------------------


def test_7_an_unverifiable_removal_is_checked_with_a_refresh(
    tmp_path: Path, wire: Wire, caplog: pytest.LogCaptureFixture
) -> None:
    # ZOOM.md: one developer could not verify app_deauthorized; a hint, not proof.
    with zoom_world(tmp_path, deauthorization_secret="some-other-secret") as (sim, relay):
        alive = account(relay, "alive@example.com")
        removed = account(relay, "removed@example.com")
        sim.sim.add_user("alive@zoom.example")
        sim.sim.add_user("removed@zoom.example")
        assert connect_zoom(relay, wire, alive, "alive@zoom.example").status_code == 200
        assert connect_zoom(relay, wire, removed, "removed@zoom.example").status_code == 200
        refreshes = len(sim.sim.issued_tokens()["refresh_tokens"])
        # Removed at Zoom for real: the notice fails verification, Zoom's answer
        # to a refresh ends it.
        notice = sim.sim.deauthorize("removed@zoom.example")
        assert notice.status == 401
        wait_until(lambda: state(relay, removed)["zoom"]["state"] == "expired")
        assert state(relay, alive)["zoom"]["state"] == "connected"
        # A forged notice about someone whose grant lives: checked, and kept.
        forged = json.dumps(
            {
                "event": "app_deauthorized",
                "payload": {"user_id": user_id(sim, "alive@zoom.example")},
            }
        ).encode()
        assert signed_post(relay, forged, secret="forged").status_code == 401
        wait_until(
            lambda: len(sim.sim.issued_tokens()["refresh_tokens"]) >= refreshes + 1,
            what="the alive grant checked",
        )
        assert state(relay, alive)["zoom"]["state"] == "connected"
    assert WEBHOOK_SECRET not in caplog.text


# -- 8. one grant per Zoom user and app ---------------------------------------------------


def test_8_linking_a_held_zoom_user_moves_it_and_tells_both_people(
    zrelay: RunningRelay, sim: RunningZoomSim, wire: Wire
) -> None:
    # ZOOM.md: one valid grant per Zoom user and app; the exchange kills the old one.
    first = account(zrelay, "first@example.com")
    second = account(zrelay, "second@example.com")
    assert connect_zoom(zrelay, wire, first).status_code == 200
    moved = connect_zoom(zrelay, wire, second)
    assert moved.status_code == 200, moved.text
    assert "another ProfitRinger account" in moved.text
    assert "second@example.com" in moved.text
    old = state(zrelay, first)["zoom"]
    assert old["state"] == "disconnected"
    assert old["problem"]["code"] == "zoom_linked_elsewhere"
    assert ZOOM_USER in old["problem"]["message"]
    new = state(zrelay, second)["zoom"]
    assert (new["state"], new["email"], new["problem"]) == ("connected", ZOOM_USER, None)
    # Nobody claims "connected" on a dead grant: presence reaches the new link only.
    sim.sim.set_presence(ZOOM_USER, "In_Meeting")
    assert in_meeting(zrelay, second)
    assert not in_meeting(zrelay, first)


# -- 9. scopes are configured on the app and read from the token answer -------------------


def test_9_a_grant_without_the_presence_scope_is_refused_in_words(
    tmp_path: Path, wire: Wire
) -> None:
    scopes = ("meeting:write:meeting", "user:read:user", "user:read:email")
    with zoom_world(tmp_path, app_scopes=scopes) as (sim, relay):
        token = account(relay)
        with wire.client(relay.url, token) as api:
            url = api.post("/api/v1/integrations/zoom/connect").json()["authorize_url"]
        assert "scope=" not in url  # ZOOM.md: none in the authorize URL
        page = connect_zoom(relay, wire, token)
        assert page.status_code == 403
        assert html_title(page) == "Zoom did not grant what ProfitRinger needs"
        assert "user:read:presence_status" in page.text
        assert "operator" in page.text
        zoom = state(relay, token)["zoom"]
        assert zoom["state"] == "disconnected"
        assert zoom["problem"]["code"] == "zoom_scopes_missing"
        assert "user:read:presence_status" in zoom["problem"]["message"]
        assert zoom_row(relay)["refresh_token"] is None  # type: ignore[index]
        wait_until(lambda: not sim.sim.users()[0]["authorized"], what="the grant revoked")


# -- 10. dead grants in every shape -------------------------------------------------------


@pytest.mark.parametrize("shape", ["invalid_grant", "invalid_request", "reason_only"])
def test_10_a_dead_grant_in_any_shape_expires_the_connection(
    tmp_path: Path, wire: Wire, shape: str
) -> None:
    # ZOOM.md "OAuth" errors: "Invalid Token" is also seen without an error field.
    with zoom_world(tmp_path, dead_grant_shape=shape) as (sim, relay):
        token = account(relay)
        assert connect_zoom(relay, wire, token).status_code == 200
        sim.sim.invalidate_tokens(ZOOM_USER)
        made = httpx.post(
            relay.url + "/api/v1/meetings",
            headers={"Authorization": f"Bearer {token}"},
            json={"topic": "x"},
        )
        assert made.status_code == 409, made.text
        assert made.json()["error"]["code"] == "zoom_not_connected"
        assert state(relay, token)["zoom"]["state"] == "expired"
        assert zoom_row(relay)["refresh_token"] is None  # type: ignore[index]


# -- 11. Retry-After is converted to seconds ----------------------------------------------


def test_11_zooms_iso_retry_after_reaches_clients_as_seconds(tmp_path: Path, wire: Wire) -> None:
    # ZOOM.md "REST": Retry-After is an ISO date-time, often absent.
    with zoom_world(tmp_path, daily_meeting_limit=0) as (sim, relay):
        token = account(relay)
        assert connect_zoom(relay, wire, token).status_code == 200
        headers = {"Authorization": f"Bearer {token}"}
        meetings = relay.url + "/api/v1/meetings"
        limited = httpx.post(meetings, headers=headers, json={"topic": "x"})
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 86400
        sim.sim.config.daily_meeting_limit = 100
        sim.sim.inject_fault("meetings", "429")
        bare = httpx.post(meetings, headers=headers, json={"topic": "x"})
        assert bare.status_code == 429
        assert "retry-after" not in bare.headers


# -- 12. api_url only under zoom.us -------------------------------------------------------


def test_12_an_api_url_outside_zoom_us_never_receives_a_token(tmp_path: Path, wire: Wire) -> None:
    seen: list[str] = []

    async def anything(request: Request) -> JSONResponse:
        seen.append(request.headers.get("authorization", ""))
        return JSONResponse({"id": "evil", "email": "evil@example.com", "status": "Available"})

    evil = ThreadedServer(
        Starlette(routes=[Route("/{path:path}", anything, methods=["GET", "POST"])])
    )
    with evil, zoom_world(tmp_path, reported_api_url=evil.url) as (_, relay):
        token = account(relay)
        assert connect_zoom(relay, wire, token).status_code == 200
        assert state(relay, token)["zoom"]["email"] == ZOOM_USER
        made = httpx.post(
            relay.url + "/api/v1/meetings",
            headers={"Authorization": f"Bearer {token}"},
            json={"topic": "x"},
        )
        assert made.status_code == 201
    assert seen == []


# -- 13. presence is not retained ---------------------------------------------------------


def test_13_the_raw_presence_status_is_never_stored(
    zrelay: RunningRelay, sim: RunningZoomSim, connected: str
) -> None:
    for status in ("Do_Not_Disturb", "In_Meeting", "Away"):
        sim.sim.set_presence(ZOOM_USER, status)
    data = b"".join(p.read_bytes() for p in zrelay.settings.data_dir.glob("relay.sqlite3*"))
    for word in (b"Do_Not_Disturb", b"Away", b"In_Meeting", b"last_presence_status"):
        assert word not in data


def test_13_the_migration_drops_presence_kept_before(tmp_path: Path) -> None:
    """A database from before the issue (schema 2) loses the stored raw status."""
    old = sqlite3.connect(tmp_path / DB_FILENAME)
    for migration in MIGRATIONS[:2]:
        old.executescript(migration)
    kept = json.loads(state_to_json(AccountAvailability(last_presence_ts=1)))
    kept["last_presence_status"] = "Do_Not_Disturb"
    old.execute(
        "INSERT INTO accounts (id, email, password_hash, created_at, state)"
        " VALUES ('a1', 'a@example.com', 'hash', '2026-01-01T00:00:00Z', ?)",
        (json.dumps(kept),),
    )
    old.execute("PRAGMA user_version=2")
    old.commit()
    old.close()
    store = Store.open(tmp_path)
    try:
        raw = store.connection.execute("SELECT state FROM accounts").fetchone()[0]
        assert "Do_Not_Disturb" not in raw
        stored = store.load_state("a1")
        assert stored is not None
        assert stored.state.last_presence_ts == 1
    finally:
        store.close()


# -- 14. the README says browser meetings cannot pause ------------------------------------


def test_14_the_readme_troubleshooting_names_the_web_client() -> None:
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    troubleshooting = readme.split("## Troubleshooting", 1)[1]
    assert "web client" in troubleshooting
    assert "no presence" in troubleshooting
