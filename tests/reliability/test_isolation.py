"""Randomized multi-account isolation against a model built from desktop/core.

Several accounts, each connected to its own local-Zoom user and each with two
live sockets, take random steps in a random order (seeded, bounded): ringer,
preferred availability, overrides (until a time, until cleared, until the
meeting ends) and Zoom presence changes delivered by the local Zoom's signed
webhooks. A model of every account is kept with the same pure functions the
relay uses (``desktop.core.availability``). Proved:

- every REST answer is about the caller's account, and equals the model;
- every socket only ever receives its own account's documents, in seq order;
- no step of one account changes another (each account's final state, on REST
  and on both of its sockets, equals its model).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection

from desktop.core import availability as rules
from desktop.core.wire import iso, override_json
from desktop.zoomsim.server import RunningZoomSim, run_in_thread
from desktop.zoomsim.sim import PRESENCE_STATUSES
from tests.support.live import open_live
from tests.support.relay import RunningRelay, start_relay
from tests.support.zoom import (
    PASSWORD,
    Person,
    Wire,
    people_with_zoom,
    sim_config,
    zoom_settings,
)

ACCOUNTS = 4
STEPS = 120
SEEDS = [11, 2026]


@pytest.fixture
def zoom() -> Iterator[RunningZoomSim]:
    with run_in_thread(sim_config()) as running:
        yield running


@dataclass
class Model:
    person: Person
    state: rules.AccountAvailability
    event_ts: int = 0
    sockets: list[ClientConnection] = field(default_factory=list)
    received: list[list[dict[str, Any]]] = field(default_factory=list)


def expected_view(state: rules.AccountAvailability) -> dict[str, Any]:
    return {
        "ringer_on": state.ringer_on,
        "preferred": state.preferred,
        "auto_pause": state.auto_pause,
        "override": override_json(state.override),
        "availability": state.effective.availability,
        "reason": state.effective.reason,
        "zoom_state": state.zoom_state,
        "in_meeting": state.in_meeting,
    }


def view(document: dict[str, Any]) -> dict[str, Any]:
    return {
        "ringer_on": document["ringer_on"],
        "preferred": document["preferred"],
        "auto_pause": document["auto_pause"],
        "override": document["override"],
        "availability": document["effective"]["availability"],
        "reason": document["effective"]["reason"],
        "zoom_state": document["zoom"]["state"],
        "in_meeting": document["zoom"]["in_meeting"],
    }


@pytest.mark.parametrize("seed", SEEDS)
def test_accounts_never_see_or_touch_each_other(
    tmp_path: Path, zoom: RunningZoomSim, seed: int
) -> None:
    wire = Wire()
    with start_relay(tmp_path / "relay", **zoom_settings(zoom)) as relay:
        zoom.sim.set_webhook_url(relay.url + "/webhooks/zoom")
        emails = [f"iso{n}-{seed}@example.com" for n in range(ACCOUNTS)]
        ids = [relay.add_user(email, PASSWORD) for email in emails]
        people = people_with_zoom(relay.url, zoom, wire, emails, ids)
        steps = asyncio.run(run_steps(relay, zoom, people, random.Random(seed)))
    print(f"\nisolation (seed {seed}): {ACCOUNTS} accounts, {steps} random steps, all isolated")


async def run_steps(
    relay: RunningRelay, zoom: RunningZoomSim, people: list[Person], rng: random.Random
) -> int:
    now = datetime.now(UTC)
    models = []
    for person in people:
        connected = rules.set_zoom_state(rules.AccountAvailability(), "connected", now)
        models.append(Model(person, connected))
    readers: list[asyncio.Task[None]] = []

    async def read(ws: ClientConnection, into: list[dict[str, Any]]) -> None:
        async for raw in ws:
            into.append(json.loads(raw))

    for model in models:
        for _ in range(2):
            ws = await open_live(relay.ws_url, model.person.token)
            received: list[dict[str, Any]] = []
            model.sockets.append(ws)
            model.received.append(received)
            readers.append(asyncio.create_task(read(ws, received)))

    clients = {
        m.person.account_id: httpx.AsyncClient(
            base_url=relay.url,
            headers={"Authorization": f"Bearer {m.person.token}"},
            timeout=15,
        )
        for m in models
    }
    control = httpx.AsyncClient(base_url=zoom.url, timeout=15)
    try:
        for _ in range(STEPS):
            model = rng.choice(models)
            await step(model, clients[model.person.account_id], control, rng)
        for model in models:
            api = clients[model.person.account_id]
            document = (await api.get("/api/v1/state")).json()
            assert document["account"]["id"] == model.person.account_id
            assert view(document) == expected_view(model.state)
            final_seq = document["seq"]
            for received in model.received:
                await wait_for_seq(received, final_seq)
                assert view(received[-1]["state"]) == expected_view(model.state)
                seqs = [message["seq"] for message in received]
                assert seqs == sorted(set(seqs)), "a socket saw documents out of order"
                for message in received:
                    assert message["state"]["account"]["id"] == model.person.account_id
                    assert message["state"]["account"]["email"] == model.person.email
    finally:
        for model in models:
            for ws in model.sockets:
                await ws.close()
        for task in readers:
            await asyncio.wait_for(task, 10)
        for client in clients.values():
            await client.aclose()
        await control.aclose()
    return STEPS


async def wait_for_seq(received: list[dict[str, Any]], seq: int, within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not received or received[-1]["seq"] < seq:
        assert loop.time() < deadline, f"a socket never got seq {seq}"
        await asyncio.sleep(0.01)


async def step(
    model: Model, api: httpx.AsyncClient, control: httpx.AsyncClient, rng: random.Random
) -> None:
    now = datetime.now(UTC)
    kind = rng.choice(["ringer", "preferred", "override", "clear", "presence", "presence"])
    before = model.state
    if kind == "presence":
        status = rng.choice(PRESENCE_STATUSES)
        answer = await control.post(
            f"/_sim/users/{model.person.zoom_email}/presence", json={"status": status}
        )
        assert answer.json()["delivery"]["status"] == 200
        model.event_ts += 1
        model.state = rules.apply_presence(model.state, status, model.event_ts, now) or model.state
        response = await api.get("/api/v1/state")
    elif kind == "ringer":
        on = rng.random() < 0.6
        model.state = rules.set_ringer(model.state, on, now)
        response = await api.put("/api/v1/ringer", json={"on": on})
    elif kind == "preferred":
        preferred = rng.choice(rules.AVAILABILITIES)
        model.state = rules.set_preferred(model.state, preferred, now)
        response = await api.put("/api/v1/availability", json={"preferred": preferred})
    elif kind == "override":
        value = rng.choice(rules.AVAILABILITIES)
        until = rng.choice(["manual", "meeting_end", "time"])
        if until == "time":
            ends_at = (now + timedelta(hours=rng.randint(1, 48))).replace(microsecond=0)
            override = rules.Override(value, "time", ends_at)
            wire_until = iso(ends_at)
        else:
            override = rules.Override(value, until)  # type: ignore[arg-type]
            wire_until = until
        response = await api.put("/api/v1/override", json={"value": value, "until": wire_until})
        if until == "meeting_end" and not model.state.in_meeting:
            assert response.status_code == 409
            assert response.json()["error"]["code"] == "not_in_meeting"
            response = await api.get("/api/v1/state")
        else:
            model.state = rules.set_override(model.state, override, now)
    else:
        model.state = rules.set_override(model.state, None, now)
        response = await api.delete("/api/v1/override")
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["account"]["id"] == model.person.account_id
    assert view(document) == expected_view(model.state), (kind, expected_view(before))
