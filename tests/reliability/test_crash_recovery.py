"""The relay is killed (SIGKILL) twice in the middle of a burst of Zoom presence
webhooks for many accounts, and restarted on the same port and data dir.

What this proves:

- An acknowledged webhook is never lost: at the moment of each kill, every
  delivery the local Zoom saw a 2xx for is already in the database file.
- With Zoom's (time-scaled) retries alone, every account ends in the state of
  its last presence: the relay's own presence re-read is kept out of it (the
  local Zoom's presence REST endpoint fails throughout), and the last round of
  the burst is sent while the relay is dead, so it arrives only by retry.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from desktop.core.availability import DEFAULT_MEETING_STATUSES
from desktop.zoomsim.server import run_in_thread
from desktop.zoomsim.sim import PRESENCE_STATUSES, ZoomSim
from desktop.zoomsim.webhooks import DeliveryAttempt, WebhookDispatcher
from tests.support.waiting import wait_until
from tests.support.zoom import (
    RelayProcess,
    Wire,
    add_accounts,
    people_with_zoom,
    sim_config,
    state_of,
    zoom_env,
)

ACCOUNTS = 15
ROUNDS = 14
WORKERS = 3
#: Rounds 0-3 run with the relay up and the first kill lands in round 3;
#: rounds 4-6 are sent while it is dead; 7-11 with it up again, the second
#: kill landing in round 10; rounds 12-13 are sent while it is dead again.
FIRST_KILL_AFTER = 3 * ACCOUNTS + ACCOUNTS // 2
SECOND_KILL_AFTER = 10 * ACCOUNTS + ACCOUNTS // 2


class StrictClock:
    """Wall-clock Unix seconds that never repeat a millisecond, so two presence
    events of one user never share an ``event_ts`` (which the relay would
    rightly treat as a repeat)."""

    def __init__(self) -> None:
        self._last = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self._last = max(time.time(), self._last + 0.001)
            return self._last


class RecordingDispatcher(WebhookDispatcher):
    """Zoom's dispatcher, also noting which event each delivery id carried."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.events: dict[str, Mapping[str, Any]] = {}
        self._events_lock = threading.Lock()

    async def deliver(self, event: Mapping[str, Any], secret: str | None = None) -> DeliveryAttempt:
        first = await super().deliver(event, secret)
        with self._events_lock:
            self.events[first.delivery_id] = event
        return first

    def event_of(self, delivery_id: str) -> Mapping[str, Any] | None:
        with self._events_lock:
            return self.events.get(delivery_id)

    def last_event_ts(self, zoom_user_id: str) -> int:
        """The ``event_ts`` of the newest presence event sent for the user."""
        with self._events_lock:
            newest: int = max(
                e["event_ts"]
                for e in self.events.values()
                if e["payload"]["object"]["id"] == zoom_user_id
            )
            return newest


def database_view(data_dir: Path) -> dict[str, dict[str, Any]]:
    """Zoom user id -> the stored state of its account, read from the file."""
    db = sqlite3.connect(data_dir / "relay.sqlite3")
    db.row_factory = sqlite3.Row
    try:
        rows = db.execute(
            "SELECT z.zoom_user_id, a.state FROM zoom_connections z "
            "JOIN accounts a ON a.id = z.account_id"
        ).fetchall()
    finally:
        db.close()
    return {row["zoom_user_id"]: json.loads(row["state"]) for row in rows}


@pytest.mark.parametrize("durability", ["normal", "full"])
def test_no_acknowledged_presence_is_lost_across_crashes(tmp_path: Path, durability: str) -> None:
    clock = StrictClock()
    config = sim_config(retry_time_scale=0.003, webhook_timeout=3.0, clock=clock)
    sim = ZoomSim(config)
    dispatcher = RecordingDispatcher(
        secret=config.webhook_secret,
        client_id=config.client_id,
        webhook_url=lambda: sim.config.webhook_url,
        clock=clock,
        retry_time_scale=config.retry_time_scale,
        timeout=config.webhook_timeout,
    )
    sim.webhooks = dispatcher
    data_dir = tmp_path / "relay"
    emails = [f"person{n}@example.com" for n in range(ACCOUNTS)]
    ids = add_accounts(data_dir, emails)
    wire = Wire()
    rng = random.Random(8)

    with run_in_thread(sim) as zoom:
        relay = RelayProcess(
            data_dir,
            zoom_env(
                zoom, PROFITRINGER_ZOOM_RETRY_DELAY="3600", PROFITRINGER_DURABILITY=durability
            ),
            port=None,
        )
        relay.start()
        try:
            zoom.sim.set_webhook_url(relay.url + "/webhooks/zoom")
            people = people_with_zoom(relay.url, zoom, wire, emails, ids)
            zoom_ids = {p.zoom_email: zoom.sim.find_user(p.zoom_email).id for p in people}
            # From here on only webhooks can move presence: the relay's re-read
            # of presence (at every start) gets a 500 from the local Zoom.
            zoom.sim.inject_fault("presence", "500", 1_000_000)

            gates = {4: threading.Event(), 7: threading.Event(), 12: threading.Event()}
            last_status: dict[str, str] = {}
            sent = [0]
            errors: list[BaseException] = []
            progress = threading.Condition()

            def drive(mine: list[str], seed: int) -> None:
                local = random.Random(seed)
                try:
                    for number in range(ROUNDS):
                        gate = gates.get(number)
                        if gate is not None and not gate.wait(60):
                            raise TimeoutError(f"round {number} was never let through")
                        for zoom_email in mine:
                            status = local.choice(PRESENCE_STATUSES)
                            zoom.sim.set_presence(zoom_email, status)
                            with progress:
                                last_status[zoom_email] = status
                                sent[0] += 1
                                progress.notify_all()
                except BaseException as exc:
                    with progress:
                        errors.append(exc)
                        progress.notify_all()

            shares = [[p.zoom_email for p in people][n::WORKERS] for n in range(WORKERS)]
            drivers = [
                threading.Thread(target=drive, args=(share, rng.randrange(10**6)), daemon=True)
                for share in shares
            ]

            def check_nothing_acked_is_lost() -> int:
                """Right after a kill: every 2xx the local Zoom saw is on disk."""
                acknowledged = [a for a in dispatcher.attempts() if a.ok]
                wait_until(
                    lambda: all(dispatcher.event_of(a.delivery_id) for a in acknowledged),
                    timeout=10,
                    what="every acknowledged delivery recorded",
                )
                stored = database_view(data_dir)
                for attempt in acknowledged:
                    event = dispatcher.event_of(attempt.delivery_id)
                    assert event is not None
                    user = event["payload"]["object"]["id"]
                    last_ts = stored[user]["last_presence_ts"]
                    assert last_ts is not None, f"{user} has no presence after the crash"
                    assert last_ts >= event["event_ts"], (
                        f"an acknowledged presence of {user} is missing after the crash"
                    )
                return len(acknowledged)

            def wait_for_sent(count: int, what: str) -> None:
                with progress:
                    reached = progress.wait_for(lambda: sent[0] >= count or errors, 60)
                assert reached, f"{what} not reached within 60 s"

            for driver in drivers:
                driver.start()
            wait_for_sent(FIRST_KILL_AFTER, "first kill point")
            relay.kill()
            acked_at_first_kill = check_nothing_acked_is_lost()
            gates[4].set()
            wait_for_sent(7 * ACCOUNTS, "rounds 4-6 sent")
            relay.start()
            gates[7].set()
            wait_for_sent(SECOND_KILL_AFTER, "second kill point")
            relay.kill()
            acked_at_second_kill = check_nothing_acked_is_lost()
            gates[12].set()
            for driver in drivers:
                driver.join(60)
            assert not errors, errors
            assert sent[0] == ROUNDS * ACCOUNTS
            relay.start()

            # Only in_meeting and the last event's time are stored (presence is
            # not retained): settled once each account holds its newest event.
            def settled() -> bool:
                stored = database_view(data_dir)
                return all(
                    stored[zoom_ids[email]]["last_presence_ts"]
                    == dispatcher.last_event_ts(zoom_ids[email])
                    for email in last_status
                )

            wait_until(settled, timeout=45, what="every account's last presence applied")
            stored = database_view(data_dir)
            for person in people:
                status = last_status[person.zoom_email]
                document = state_of(relay.url, person.token, wire)
                assert document["zoom"]["state"] == "connected"
                in_meeting = status in DEFAULT_MEETING_STATUSES
                assert document["zoom"]["in_meeting"] is in_meeting, (person.email, status)
                expected = "in_meeting" if in_meeting else "preferred"
                assert document["effective"]["reason"] == expected
                assert stored[zoom_ids[person.zoom_email]]["in_meeting"] is in_meeting
            # ... and every delivery ever acknowledged is covered by what is stored.
            for attempt in dispatcher.attempts():
                event = dispatcher.event_of(attempt.delivery_id)
                if attempt.ok and event is not None:
                    user = event["payload"]["object"]["id"]
                    assert stored[user]["last_presence_ts"] >= event["event_ts"]
            attempts = dispatcher.attempts()
            failed = sum(1 for a in attempts if not a.ok)
            retried_ok = sum(1 for a in attempts if a.ok and a.attempt > 1)
            print(
                f"\ncrash test: {ACCOUNTS} accounts, {sent[0]} presence events, "
                f"{len(attempts)} delivery attempts ({failed} failed while the relay was "
                f"dead or dying, {retried_ok} delivered by a retry), 2 SIGKILLs; "
                f"{acked_at_first_kill} and {acked_at_second_kill} acknowledged deliveries "
                "checked on disk at the kills; nothing lost"
            )
        finally:
            relay.kill()
            zoom.sim.inject_fault("presence", "500", 0)
