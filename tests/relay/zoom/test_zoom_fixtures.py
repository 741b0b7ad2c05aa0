"""Every payload Zoom publishes (``fixtures/``, copied byte for byte from the
shared ``zoom-fixtures/``; ``fixtures/sources.md`` names each page) fed to a
real relay as published: webhooks re-signed with a test secret and sent with
Zoom's documented header sets, REST and OAuth answers served by the local Zoom
in place of its own. Each gets the right answer and the right effect.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from desktop.core.availability import WEBHOOK_STATUSES
from desktop.relay.zoom.client import SCOPES
from desktop.zoomsim.server import RunningZoomSim, run_in_thread
from desktop.zoomsim.sim import PRESENCE_STATUSES
from desktop.zoomsim.webhook_signing import sign
from tests.relay.zoom.conftest import Wire, account, connect_zoom, sim_config, state
from tests.support.relay import RunningRelay, start_relay
from tests.support.zoom import zoom_settings

FIXTURES = Path(__file__).parent / "fixtures"
#: ZOOM.md's Secret Token, so the url_validation answer can be checked.
SECRET = "zoom-secret-token-for-tests"
#: The Zoom user (id and email) of Zoom's examples.
DOCS_USER_ID, DOCS_EMAIL = "abcD3ojfdbjfg", "jchill@example.com"
HEADER_SETS = (
    "endpoint.url_validation.zoom-docs-request-headers.json",
    "webhook-headers.zoom-docs-2025-example.json",
)


def published(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def published_json(name: str) -> Any:
    return json.loads(published(name))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[RunningZoomSim, RunningRelay]]:
    with (
        run_in_thread(sim_config(webhook_secret=SECRET)) as sim,
        start_relay(tmp_path / "relay", **zoom_settings(sim, zoom_webhook_secret=SECRET)) as relay,
    ):
        sim.sim.set_webhook_url(relay.url + "/webhooks/zoom")
        sim.sim.add_user(DOCS_EMAIL, user_id=DOCS_USER_ID)
        yield sim, relay


def deliver(relay: RunningRelay, body: bytes, header_set: str) -> httpx.Response:
    """POST ``body`` as Zoom would, with one of its documented header sets,
    re-signed now (the published signatures cannot be checked)."""
    headers = {
        k: v for k, v in published_json(header_set).items() if k not in ("host", "content-length")
    }
    timestamp = int(time.time())
    headers["x-zm-request-timestamp"] = str(timestamp)
    headers["x-zm-signature"] = sign(SECRET, timestamp, body)
    return httpx.post(relay.url + "/webhooks/zoom", content=body, headers=headers)


def connected_docs_user(
    sim: RunningZoomSim,
    relay: RunningRelay,
    wire: Wire,
    presence: Any = None,
    presence_status: int = 200,
) -> str:
    """An account connected to Zoom's example user. Its presence at connect is
    answered with ``presence`` (a REST body), or fails, so nothing is read."""
    token = account(relay, "jc@example.com")
    if presence is None:
        sim.sim.inject_fault("presence", "500")
    else:
        sim.sim.inject_fault("presence", "answer", status=presence_status, body=presence)
    assert connect_zoom(relay, wire, token, DOCS_EMAIL).status_code == 200
    return token


@pytest.mark.parametrize("header_set", HEADER_SETS)
def test_the_presence_example_as_published_ends_a_meeting(
    world: tuple[RunningZoomSim, RunningRelay], wire: Wire, header_set: str
) -> None:
    sim, relay = world
    token = connected_docs_user(sim, relay, wire)
    example = published("user.presence_status_updated.zoom-docs-example.json")
    event = json.loads(example)
    assert b"\t" in example  # quirks kept: a TAB, "date-time", an app sub-object
    started = dict(event, event_ts=event["event_ts"] - 1000)
    started["payload"]["object"]["presence_status"] = "In_Meeting"
    assert deliver(relay, json.dumps(started).encode(), header_set).json() == {"status": "applied"}
    assert state(relay, token)["zoom"]["in_meeting"] is True
    answer = deliver(relay, example, header_set)
    assert answer.status_code == 200
    assert answer.json() == {"status": "applied"}
    assert state(relay, token)["zoom"]["in_meeting"] is False  # "Away" ends it
    assert deliver(relay, example, header_set).json() == {"status": "ignored"}  # a repeat


def test_the_presence_schema_is_acknowledged_and_its_enum_is_ours(
    world: tuple[RunningZoomSim, RunningRelay], wire: Wire
) -> None:
    sim, relay = world
    token = connected_docs_user(sim, relay, wire)
    before = state(relay, token)
    schema_bytes = published("user.presence_status_updated.zoom-docs-schema.json")
    answer = deliver(relay, schema_bytes, HEADER_SETS[1])
    assert answer.status_code == 200  # signed, so acknowledged, and nothing done
    assert answer.json()["status"] == "ignored"
    assert state(relay, token) == before
    subject = json.loads(schema_bytes)["properties"]["payload"]["properties"]["object"]
    enum = subject["properties"]["presence_status"]["enum"]
    assert tuple(enum) == WEBHOOK_STATUSES == PRESENCE_STATUSES


@pytest.mark.parametrize("header_set", HEADER_SETS)
def test_endpoint_validation_as_published(
    world: tuple[RunningZoomSim, RunningRelay], header_set: str
) -> None:
    _, relay = world
    request = published("endpoint.url_validation.zoom-docs-request.json")
    answer = deliver(relay, request, header_set)
    assert answer.status_code == 200
    documented = published_json("endpoint.url_validation.zoom-docs-response.json")
    body = answer.json()
    assert body.keys() == documented.keys()
    assert body["plainToken"] == documented["plainToken"]
    # Zoom's answer used Zoom's secret; ZOOM.md's vector is the checkable one.
    assert body["encryptedToken"] == (
        "9d644a9fdedca2004fd16a8fa586497eb15eb3fc2fedf6dd3b0c4748fb78d655"
    )


def test_the_unhandled_meeting_started_example_is_acknowledged(
    world: tuple[RunningZoomSim, RunningRelay], wire: Wire
) -> None:
    sim, relay = world
    token = connected_docs_user(sim, relay, wire)
    before = state(relay, token)
    answer = deliver(relay, published("meeting.started.zoom-docs-example.json"), HEADER_SETS[1])
    assert answer.status_code == 200
    assert answer.json()["status"] == "ignored"
    assert state(relay, token) == before


def test_the_deauthorization_example_from_2020_does_not_end_todays_connection(
    world: tuple[RunningZoomSim, RunningRelay], wire: Wire
) -> None:
    sim, relay = world
    token = connected_docs_user(sim, relay, wire)
    example = published("app_deauthorized.zoom-docs-example.json")
    assert b'"event_ts": "2024-09-08 15:58:40"' in example  # a string, no top-level one
    answer = deliver(relay, example, HEADER_SETS[1])
    assert answer.status_code == 200
    assert answer.json() == {"status": "ignored"}  # removed in 2020, connected today
    assert state(relay, token)["zoom"]["state"] == "connected"
    # The same notice dated now (Zoom removed the app just now) does end it.
    now = json.loads(example)
    now["payload"]["deauthorization_time"] = "2999-01-01T00:00:00.000Z"
    assert deliver(relay, json.dumps(now).encode(), HEADER_SETS[1]).json() == {"status": "applied"}
    assert state(relay, token)["zoom"]["state"] == "disconnected"


def rest_words() -> list[str]:
    """Every status Zoom's presence page names: the enums and the prose list."""
    excerpt = published_json("oauth-rest/rest.get-presence_status.zoom-docs-openapi-excerpt.json")
    cases = excerpt["responses"]["200"]["content"]["application/json"]["schema"]["oneOf"]
    words: list[str] = []
    for case in cases:
        status = case["properties"]["status"]
        words += status["enum"]
        words += re.findall(r"`([A-Za-z_]+)`", status["description"])
    return sorted(set(words))


MEETING_WORDS = {"In_A_Zoom_Meeting", "In_A_Meeting", "On_A_Call", "In_A_Call", "Presenting"}


@pytest.mark.parametrize("word", rest_words())
def test_each_rest_presence_on_zooms_page_is_read_right_at_connect(
    world: tuple[RunningZoomSim, RunningRelay], wire: Wire, word: str
) -> None:
    sim, relay = world
    token = connected_docs_user(sim, relay, wire, presence={"status": word})
    zoom = state(relay, token)["zoom"]
    assert zoom["state"] == "connected"
    assert zoom["in_meeting"] is (word in MEETING_WORDS), word


def test_rest_error_bodies_as_published(
    world: tuple[RunningZoomSim, RunningRelay], wire: Wire
) -> None:
    sim, relay = world
    missing_scopes = published_json("oauth-rest/rest.4711.missing-scopes.devforum-108207.json")
    # Presence answered with Zoom's "missing scopes" error: connected, presence unknown.
    token = connected_docs_user(sim, relay, wire, missing_scopes, presence_status=400)
    assert state(relay, token)["zoom"]["in_meeting"] is False
    headers = {"Authorization": f"Bearer {token}"}
    for error_body in (
        published_json("oauth-rest/rest.error-body.zoom-docs-errors.json"),
        missing_scopes,
    ):
        sim.sim.inject_fault("meetings", "answer", status=400, body=error_body)
        made = httpx.post(relay.url + "/api/v1/meetings", headers=headers, json={"topic": "x"})
        assert made.status_code == 502
        assert made.json()["error"]["code"] == "zoom_error"
        assert error_body["message"] not in made.text  # Zoom's words could quote input
        assert state(relay, token)["zoom"]["state"] == "connected"


def test_the_revoke_answer_as_published_confirms_a_disconnect(
    world: tuple[RunningZoomSim, RunningRelay], wire: Wire, caplog: pytest.LogCaptureFixture
) -> None:
    sim, relay = world
    token = connected_docs_user(sim, relay, wire)
    success = published_json("oauth-rest/revoke.success.zoom-postman.json")
    sim.sim.inject_fault("revoke", "answer", status=200, body=success)
    gone = httpx.delete(
        relay.url + "/api/v1/integrations/zoom", headers={"Authorization": f"Bearer {token}"}
    )
    assert gone.json()["zoom"]["state"] == "disconnected"
    assert "did not confirm the revoke" not in caplog.text
    assert "answered HTTP" not in caplog.text


def test_the_scopes_we_require_are_the_ones_zoom_names_for_each_call() -> None:
    for name, scope in (
        ("rest.get-user.zoom-docs-openapi-excerpt.json", "user:read:user"),
        ("rest.get-users-email.zoom-docs-openapi-excerpt.json", "user:read:email"),
        ("rest.get-presence_status.zoom-docs-openapi-excerpt.json", "user:read:presence_status"),
    ):
        excerpt = published_json(f"oauth-rest/{name}")
        assert scope in excerpt["x-extensions"]["x-granular-scopes"]
        assert scope in SCOPES
