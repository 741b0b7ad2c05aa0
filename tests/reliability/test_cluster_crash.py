"""Three relays on one PostgreSQL and Redis; a burst of Zoom presence webhooks
spread over them; one relay SIGKILLed in the middle of it (issue 13).

Zoom sends each delivery, and each retry, to the next relay in turn (as a
load balancer in front of them would), so the deliveries the killed relay
never acknowledged are retried to the other two. What this proves:

- nothing acknowledged is lost: at the kill, every delivery the local Zoom
  saw a 2xx for is already in PostgreSQL, whichever relay acknowledged it;
- every account ends in the state of its last presence; and
- every live socket, on both surviving relays, ends showing that state,
  whichever relay applied the last webhook (Redis carries it across).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from desktop.core.availability import DEFAULT_MEETING_STATUSES
from desktop.zoomsim.server import run_in_thread
from desktop.zoomsim.sim import PRESENCE_STATUSES, ZoomSim
from tests.reliability.test_crash_recovery import RecordingDispatcher, StrictClock
from tests.support.cluster import relay_processes, shared_servers
from tests.support.waiting import wait_until
from tests.support.zoom import Wire, add_accounts, people_with_zoom, sim_config, zoom_env

ACCOUNTS = 9
ROUNDS = 10
KILL_AFTER = 4 * ACCOUNTS + ACCOUNTS // 2
BALANCER_LAG = 6


def database_view(database_url: str) -> dict[str, dict[str, Any]]:
    """Zoom user id -> the stored state of its account, read from PostgreSQL."""
    with psycopg.connect(database_url) as db:
        rows = db.execute(
            "SELECT z.zoom_user_id, a.state FROM zoom_connections z "
            "JOIN accounts a ON a.id = z.account_id"
        ).fetchall()
    return {user: state if isinstance(state, dict) else json.loads(state) for user, state in rows}


class Watched:
    """A live socket read on a thread of its own; keeps the newest document."""

    def __init__(self, ws_url: str, token: str) -> None:
        # Entered as a context manager, which websockets asks of a sync client.
        self._stack = contextlib.ExitStack()
        self.ws: ClientConnection = self._stack.enter_context(
            connect(
                ws_url + "/api/v1/live", additional_headers={"Authorization": f"Bearer {token}"}
            )
        )
        self.latest: dict[str, Any] | None = None
        self.closed = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for text in self.ws:
                message = json.loads(text)
                if "state" in message:
                    self.latest = message["state"]
        except ConnectionClosed:
            pass
        self.closed = True

    def close(self) -> None:
        self._stack.close()
        self._thread.join(10)


@pytest.mark.parametrize("durability", ["normal", "full"])
def test_a_relay_killed_mid_burst_loses_nothing_acknowledged(
    tmp_path: Path, durability: str
) -> None:
    clock = StrictClock()
    config = sim_config(retry_time_scale=0.003, webhook_timeout=3.0, clock=clock)
    sim = ZoomSim(config)
    relays = relay_processes(tmp_path, {}, 3)
    turn = itertools.cycle(relays)
    turn_lock = threading.Lock()

    # Like a load balancer, the turn goes on sending to a killed relay until
    # its health check notices (here: the next BALANCER_LAG deliveries), and
    # skips it after that. Without the skip, a delivery whose four attempts
    # all met the dead relay would be lost by Zoom itself (three retries).
    sent_to_dead = 0

    def next_relay() -> str:
        nonlocal sent_to_dead
        with turn_lock:
            for _ in relays:
                relay = next(turn)
                if relay.process is not None:
                    break
                if sent_to_dead < BALANCER_LAG:
                    sent_to_dead += 1
                    break
            return relay.url + "/webhooks/zoom"

    dispatcher = RecordingDispatcher(
        secret=config.webhook_secret,
        client_id=config.client_id,
        webhook_url=next_relay,
        clock=clock,
        retry_time_scale=config.retry_time_scale,
        timeout=config.webhook_timeout,
    )
    sim.webhooks = dispatcher
    # The dispatcher is Zoom's; it starts with the local Zoom's server.
    with shared_servers(tmp_path / "servers") as servers, run_in_thread(sim) as zoom:
        # One public URL for all (Zoom's redirect URI); webhooks go to each in turn.
        env = servers.relay_env(
            zoom_env(
                zoom,
                PROFITRINGER_ZOOM_RETRY_DELAY="3600",
                PROFITRINGER_PUBLIC_URL=relays[0].url,
                PROFITRINGER_DURABILITY=durability,
            )
        )
        for relay in relays:
            relay.env = env
        emails = [f"person{n}@example.com" for n in range(ACCOUNTS)]
        add_accounts(tmp_path / "seed", emails, database_url=servers.database_url)
        watched: list[Watched] = []
        try:
            for relay in relays:
                relay.start()
            wire = Wire()
            people = people_with_zoom(relays[0].url, zoom, wire, emails, ["?"] * ACCOUNTS)
            zoom_ids = {p.zoom_email: zoom.sim.find_user(p.zoom_email).id for p in people}
            # Only webhooks move presence from here on (no REST re-read).
            zoom.sim.inject_fault("presence", "500", 1_000_000)
            for person in people:
                for survivor in relays[1:]:
                    watched.append(Watched(survivor.url.replace("http", "ws", 1), person.token))
            socket_of = {id(w): people[i // 2] for i, w in enumerate(watched)}

            rng = random.Random(13)
            last_status: dict[str, str] = {}
            for number in range(ROUNDS * ACCOUNTS):
                person = people[number % ACCOUNTS]
                status = rng.choice(PRESENCE_STATUSES)
                zoom.sim.set_presence(person.zoom_email, status)
                last_status[person.zoom_email] = status
                if number == KILL_AFTER:
                    relays[0].kill()
                    acknowledged = [a for a in dispatcher.attempts() if a.ok]
                    stored = database_view(servers.database_url)
                    for attempt in acknowledged:
                        event = dispatcher.event_of(attempt.delivery_id)
                        if event is None:
                            continue  # its first attempt is still being recorded
                        user = event["payload"]["object"]["id"]
                        assert stored[user]["last_presence_ts"] >= event["event_ts"], (
                            f"an acknowledged presence of {user} is missing after the kill"
                        )

            behind: dict[str, tuple[int, int]] = {}

            def settled() -> bool:
                stored = database_view(servers.database_url)
                behind.clear()
                for email in last_status:
                    user = zoom_ids[email]
                    have = stored[user]["last_presence_ts"]
                    want = dispatcher.last_event_ts(user)
                    if have != want:
                        behind[user] = (have, want)
                return not behind

            wait_until(lambda: dispatcher.pending() == 0, timeout=60, what="Zoom's retries sent")
            try:
                wait_until(settled, timeout=60, what="every account's last presence applied")
            except BaseException:
                for user, (have, want) in behind.items():
                    print(f"{user}: stored {have}, last sent {want}")
                    for a in dispatcher.attempts():
                        event = dispatcher.event_of(a.delivery_id)
                        if event and event["payload"]["object"]["id"] == user:
                            print("   ", event["event_ts"], a.attempt, a.url, a.status, a.error)
                raise
            stored = database_view(servers.database_url)
            for person in people:
                in_meeting = last_status[person.zoom_email] in DEFAULT_MEETING_STATUSES
                assert stored[zoom_ids[person.zoom_email]]["in_meeting"] is in_meeting

            def sockets_right() -> bool:
                for socket in watched:
                    person = socket_of[id(socket)]
                    want = last_status[person.zoom_email] in DEFAULT_MEETING_STATUSES
                    latest = socket.latest
                    if latest is None or latest["zoom"]["in_meeting"] is not want:
                        return False
                return True

            wait_until(sockets_right, timeout=30, what="every surviving socket in the last state")
            assert not any(s.closed for s in watched), "a socket on a surviving relay was closed"
            attempts = dispatcher.attempts()
            print(
                f"\ncluster crash: 3 relays, {ACCOUNTS} accounts, {ROUNDS * ACCOUNTS} presence "
                f"events, {len(attempts)} delivery attempts "
                f"({sum(1 for a in attempts if not a.ok)} failed at the killed relay, "
                f"{sum(1 for a in attempts if a.ok and a.attempt > 1)} retries acknowledged "
                f"by the others), {len(watched)} sockets on the two survivors all right"
            )
        finally:
            for socket in watched:
                socket.close()
            for relay in relays:
                relay.kill()
            zoom.sim.inject_fault("presence", "500", 0)
