"""A whole day of one person, against a real relay and the real local Zoom
(issue 11): connect, meetings with webhooks delayed and reordered, a lost
"meeting ended", a REST re-read in each of Zoom's spellings, disconnect and
reconnect with Zoom's late deauthorization, and relinking from another
account. The state is checked after every step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from desktop.zoomsim.server import RunningZoomSim, run_in_thread
from tests.relay.zoom.conftest import ZOOM_USER, Wire, account, connect_zoom, sim_config, state
from tests.support.relay import RunningRelay, start_relay
from tests.support.waiting import wait_until
from tests.support.zoom import zoom_settings as relay_zoom_settings

Summary = tuple[str, bool, str, str | None]


def summary(relay: RunningRelay, token: str) -> Summary:
    """(Zoom state, in a meeting, effective availability, why not connected)."""
    document = state(relay, token)
    zoom = document["zoom"]
    problem = zoom["problem"]["code"] if zoom["problem"] else None
    return zoom["state"], zoom["in_meeting"], document["effective"]["availability"], problem


CONNECTED_FREE = ("connected", False, "available", None)
CONNECTED_PAUSED = ("connected", True, "unavailable", None)


def answer_of(attempt: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(attempt.response_body)
    return body


def test_a_whole_day(tmp_path: Path, wire: Wire) -> None:
    config = sim_config(revoke_deauthorization_delay=0.0)
    with run_in_thread(config) as sim:
        settings = relay_zoom_settings(sim, zoom_reconcile_after=0.3, zoom_retry_delay=0.3)
        with start_relay(tmp_path / "relay", **settings) as relay:
            sim.sim.set_webhook_url(relay.url + "/webhooks/zoom")
            day(relay, sim, wire)


def day(relay: RunningRelay, sim: RunningZoomSim, wire: Wire) -> None:
    zoom = sim.sim
    ann = account(relay, "ann@example.com")

    def now() -> Summary:
        return summary(relay, ann)

    # 08:00 connect.
    page = connect_zoom(relay, wire, ann)
    assert page.status_code == 200
    assert "ann@example.com" in page.text
    assert now() == CONNECTED_FREE

    # 09:00 a meeting, webhooks on time.
    assert answer_of(zoom.set_presence(ZOOM_USER, "In_Meeting")) == {"status": "applied"}
    assert now() == CONNECTED_PAUSED
    assert answer_of(zoom.set_presence(ZOOM_USER, "Available")) == {"status": "applied"}
    assert now() == CONNECTED_FREE

    # 10:00 a meeting whose webhooks arrive late and reordered: "ended" first.
    zoom.webhooks.hold()
    zoom.set_presence(ZOOM_USER, "In_Meeting")
    zoom.set_presence(ZOOM_USER, "Available")
    assert now() == CONNECTED_FREE
    ended, started = zoom.release_held(newest_first=True)
    assert answer_of(ended) == {"status": "applied"}
    assert answer_of(started) == {"status": "ignored"}  # older than what was applied
    assert now() == CONNECTED_FREE

    # 11:00 a meeting whose "ended" is lost: the REST re-read resumes the ringer.
    zoom.set_presence(ZOOM_USER, "In_Meeting")
    assert now() == CONNECTED_PAUSED
    zoom.webhooks.hold()
    zoom.set_presence(ZOOM_USER, "Available")  # never reaches the relay in time
    wait_until(lambda: now() == CONNECTED_FREE, what="the re-read after a lost 'ended'")
    (lost,) = zoom.release_held()
    assert answer_of(lost) == {"status": "ignored"}  # the re-read was newer
    assert now() == CONNECTED_FREE

    # 13:00-16:00 meetings while Zoom's REST answers in each of its spellings.
    for dialect, exact in (
        ("openapi", None),
        ("prose", None),
        ("self_dnd", None),
        (None, "In_A_Call"),
    ):
        zoom.set_rest_presence(ZOOM_USER, dialect=dialect, status=exact or "")
        zoom.set_presence(ZOOM_USER, "On_Phone_Call" if exact else "In_Meeting")
        assert now() == CONNECTED_PAUSED
        reads = len(zoom.presence_reads()) + 2

        def read_again(n: int = reads) -> bool:
            return len(zoom.presence_reads()) >= n

        wait_until(read_again, what=f"{dialect} re-read")
        assert now() == CONNECTED_PAUSED, f"{dialect or exact} resumed the ringer mid-meeting"
        zoom.set_rest_presence(ZOOM_USER, status="")
        zoom.webhooks.hold()
        zoom.set_presence(ZOOM_USER, "Do_Not_Disturb")  # lost "ended" again
        wait_until(lambda: now() == CONNECTED_FREE, what=f"{dialect} re-read resumes")
        zoom.release_held()
        assert now() == CONNECTED_FREE

    # 17:00 disconnect, connect again; Zoom's notice of the disconnect comes late.
    zoom.webhooks.hold()
    gone = httpx.delete(
        relay.url + "/api/v1/integrations/zoom", headers={"Authorization": f"Bearer {ann}"}
    )
    assert gone.status_code == 200
    assert now() == ("disconnected", False, "available", None)
    wait_until(lambda: zoom.webhooks.held() == 1, what="Zoom's late notice")
    assert connect_zoom(relay, wire, ann).status_code == 200
    assert now() == CONNECTED_FREE
    (notice,) = zoom.release_held()
    assert answer_of(notice) == {"status": "ignored"}
    assert now() == CONNECTED_FREE
    assert answer_of(zoom.set_presence(ZOOM_USER, "In_Meeting")) == {"status": "applied"}
    assert now() == CONNECTED_PAUSED

    # 18:00 the same Zoom user is linked from another ProfitRinger account.
    bob = account(relay, "bob@example.com")
    moved = connect_zoom(relay, wire, bob)
    assert moved.status_code == 200
    assert "another ProfitRinger account" in moved.text
    assert now() == ("disconnected", False, "available", "zoom_linked_elsewhere")
    assert summary(relay, bob) == CONNECTED_PAUSED  # presence read at connect
    assert answer_of(zoom.set_presence(ZOOM_USER, "Available")) == {"status": "applied"}
    assert summary(relay, bob) == CONNECTED_FREE
    assert now() == ("disconnected", False, "available", "zoom_linked_elsewhere")

    # 19:00 ann takes it back; bob is told.
    assert connect_zoom(relay, wire, ann).status_code == 200
    assert now() == CONNECTED_FREE
    assert summary(relay, bob) == ("disconnected", False, "available", "zoom_linked_elsewhere")
    assert answer_of(zoom.set_presence(ZOOM_USER, "Presenting")) == {"status": "applied"}
    assert now() == CONNECTED_PAUSED
    assert summary(relay, bob)[1] is False
