"""Several relays on one PostgreSQL database: presence ordering across relays,
key rotation while they run, the admin commands and the SQLite import."""

from __future__ import annotations

import asyncio
import io
import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from cryptography.fernet import Fernet

from desktop.relay import cli
from desktop.relay.config import RelaySettings
from desktop.relay.relay import Relay
from desktop.relay.storage import MIGRATIONS, Store
from desktop.relay.zoom.routes import build_integration
from desktop.relay.zoom.vault import TokenVault, VaultError
from desktop.zoomsim.server import RunningZoomSim
from tests.relay.zoom.conftest import (
    PASSWORD,
    ZOOM_USER,
    Wire,
    connect_zoom,
    presence_body,
    signed_post,
    state,
)
from tests.support.relay import RunningRelay, start_relay
from tests.support.waiting import wait_until
from tests.support.zoom import zoom_settings

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


@pytest.fixture
def two_relays(
    tmp_path: Path, sim: RunningZoomSim, postgres_url: str
) -> Iterator[tuple[RunningRelay, RunningRelay]]:
    """Two relays on one database, even on one data dir (no lock with PostgreSQL)."""
    settings = zoom_settings(sim, database_url=postgres_url, token_keys=[OLD_KEY, NEW_KEY])
    with (
        start_relay(tmp_path / "relay", **settings) as a,
        start_relay(tmp_path / "relay", **settings) as b,
    ):
        sim.sim.set_webhook_url(a.url + "/webhooks/zoom")
        yield a, b


def connected(relay: RunningRelay, sim: RunningZoomSim, wire: Wire) -> tuple[str, str]:
    relay.add_user("ada@example.com", PASSWORD)
    token = relay.sign_in("ada@example.com", PASSWORD)
    assert connect_zoom(relay, wire, token).status_code == 200
    users = httpx.get(sim.url + "/_sim/users").json()["users"]
    return token, next(u["id"] for u in users if u["email"] == ZOOM_USER)


def test_two_relays_racing_on_one_person_end_in_the_newer_event(
    two_relays: tuple[RunningRelay, RunningRelay], sim: RunningZoomSim, wire: Wire
) -> None:
    a, b = two_relays
    token, user_id = connected(a, sim, wire)
    # After anything the connect itself delivered.
    base = int(time.time() * 1000) + 1000
    for round_ in range(30):
        # The newer event goes to A in even rounds and to B in odd ones; which
        # commits first is up to the race.
        newer_status = "In_Meeting" if round_ % 2 == 0 else "Available"
        older_status = "Available" if newer_status == "In_Meeting" else "In_Meeting"
        ts = base + 10 * round_
        deliveries = [
            (a if round_ % 2 == 0 else b, presence_body(user_id, newer_status, ts + 1)),
            (b if round_ % 2 == 0 else a, presence_body(user_id, older_status, ts)),
        ]
        barrier = threading.Barrier(len(deliveries))
        answers: list[int] = []

        def deliver(
            relay: RunningRelay,
            body: bytes,
            barrier: threading.Barrier = barrier,
            answers: list[int] = answers,
        ) -> None:
            barrier.wait()
            answers.append(signed_post(relay, body).status_code)

        threads = [threading.Thread(target=deliver, args=d) for d in deliveries]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert answers == [200, 200]
        for relay in (a, b):
            document = state(relay, token)
            assert document["zoom"]["in_meeting"] is (newer_status == "In_Meeting"), round_


def test_rotate_key_while_relays_run(
    two_relays: tuple[RunningRelay, RunningRelay],
    sim: RunningZoomSim,
    wire: Wire,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The relays read with both keys (step 1 of the roll-out): ``rotate-key
    --retire-old`` with the new key first re-encrypts everything under it while
    they run, and they keep working."""
    a, b = two_relays
    token, user_id = connected(a, sim, wire)
    url = a.settings.database_url
    assert url is not None
    store = Store.open_url(url, a.settings.data_dir)
    try:
        row = store.zoom_connection(store.account_ids()[0])
        assert row is not None
        assert row.access_token is not None
        assert TokenVault([OLD_KEY]).sealed_with_newest(row.access_token)
    finally:
        store.close()
    monkeypatch.setenv("PROFITRINGER_DATABASE_URL", url)
    monkeypatch.setenv("PROFITRINGER_TOKEN_KEYS", f"{NEW_KEY},{OLD_KEY}")
    assert cli.main(["rotate-key", "--retire-old"]) == 0
    out = capsys.readouterr().out
    assert "Re-encrypted 2 stored value(s)" in out
    assert OLD_KEY not in out
    store = Store.open_url(url, a.settings.data_dir)
    try:
        row = store.zoom_connection(store.account_ids()[0])
        assert row is not None
        assert row.access_token is not None
        assert row.refresh_token is not None
        only_new = TokenVault([NEW_KEY])
        assert only_new.unseal(row.access_token)
        assert only_new.unseal(row.refresh_token)
    finally:
        store.close()
    # Both relays still read the tokens: a disconnect through B revokes with them.
    with wire.client(b.url, token) as api:
        assert api.delete("/api/v1/integrations/zoom").status_code in (200, 204)
    assert state(a, token)["zoom"]["state"] == "disconnected"
    # Without the keys, the command says what to set, and changes nothing.
    monkeypatch.delenv("PROFITRINGER_TOKEN_KEYS")
    assert cli.main(["rotate-key"]) == 1
    assert "PROFITRINGER_TOKEN_KEYS" in capsys.readouterr().err
    del user_id


def test_a_postgres_relay_with_zoom_needs_token_keys(
    tmp_path: Path, sim: RunningZoomSim, postgres_url: str
) -> None:
    settings = RelaySettings(data_dir=tmp_path, database_url=postgres_url)
    for name, value in zoom_settings(sim).items():
        setattr(settings, name, value)
    relay = Relay(settings)
    try:
        with pytest.raises(VaultError, match="PROFITRINGER_TOKEN_KEYS"):
            build_integration(relay)
        assert not (tmp_path / "zoom-token-keys").exists()
    finally:
        relay.close()


def test_admin_commands_against_postgres(
    tmp_path: Path,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PROFITRINGER_DATABASE_URL", postgres_url)
    monkeypatch.setenv("PROFITRINGER_DATA_DIR", str(tmp_path / "unused"))
    assert cli.main(["migrate"]) == 0
    assert f"schema version {len(MIGRATIONS)}" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert cli.main(["user", "add", "ada@example.com", "--password-stdin"]) == 0
    with start_relay(tmp_path / "relay", database_url=postgres_url) as relay:
        token = relay.sign_in("ADA@example.com", PASSWORD)
        monkeypatch.setattr("sys.stdin", io.StringIO("a new password here\n"))
        assert cli.main(["user", "passwd", "ada@example.com", "--password-stdin"]) == 0
        assert "1 session(s) signed out" in capsys.readouterr().out
        gone = httpx.get(relay.url + "/api/v1/state", headers={"Authorization": f"Bearer {token}"})
        assert gone.status_code == 401
        relay.sign_in("ada@example.com", "a new password here")
    # The data dir of a PostgreSQL relay holds no database.
    assert not (tmp_path / "unused" / "relay.sqlite3").exists()


def test_import_a_sqlite_relay_into_postgres(
    tmp_path: Path,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old_dir = tmp_path / "old"
    with start_relay(old_dir) as old:
        old.add_user("ada@example.com", PASSWORD)
        token = old.sign_in("ada@example.com", PASSWORD)
        headers = {"Authorization": f"Bearer {token}"}
        changed = httpx.put(old.url + "/api/v1/ringer", json={"on": False}, headers=headers)
        seq = changed.json()["seq"]
        # The old relay is running: the import refuses.
        monkeypatch.setenv("PROFITRINGER_DATABASE_URL", postgres_url)
        assert cli.main(["import-sqlite", str(old_dir)]) == 1
        assert "another relay is already using" in capsys.readouterr().err
    assert cli.main(["import-sqlite", str(old_dir)]) == 0
    assert "1 accounts, 1 sessions" in capsys.readouterr().out
    with start_relay(tmp_path / "new", database_url=postgres_url) as new:
        after = httpx.get(new.url + "/api/v1/state", headers=headers)
        assert after.status_code == 200
        assert after.json()["seq"] == seq
        assert after.json()["ringer_on"] is False
        # New sessions are numbered after the imported one.
        new.sign_in("ada@example.com", PASSWORD)
        listed = httpx.get(new.url + "/api/v1/sessions", headers=headers).json()["sessions"]
        assert len({session["id"] for session in listed}) == 2
    # A database that holds data is refused, unless --replace.
    assert cli.main(["import-sqlite", str(old_dir / "relay.sqlite3")]) == 1
    assert "already holds data" in capsys.readouterr().err
    assert cli.main(["import-sqlite", str(old_dir), "--replace"]) == 0


def refresh_count(sim: RunningZoomSim) -> int:
    return len(httpx.get(sim.url + "/_sim/issued_tokens").json()["refresh_tokens"])


def test_four_calls_needing_a_refresh_over_two_relays_refresh_once(
    two_relays: tuple[RunningRelay, RunningRelay], sim: RunningZoomSim, wire: Wire
) -> None:
    """Zoom rotates refresh tokens, so a second refresh with the old one would
    kill the grant: the claim makes the relays refresh once between them."""
    a, b = two_relays
    token, _ = connected(a, sim, wire)
    for attempt in range(3):
        before = refresh_count(sim)
        expired = httpx.post(f"{sim.url}/_sim/users/{ZOOM_USER}/expire_access_tokens").json()
        assert expired["expired"] >= 1

        async def scenario() -> list[httpx.Response]:
            async with (
                wire.async_client(a.url, token) as on_a,
                wire.async_client(b.url, token) as on_b,
            ):
                return await asyncio.gather(
                    *(
                        api.post("/api/v1/meetings", json={"topic": f"m{n}"})
                        for n, api in enumerate((on_a, on_b, on_a, on_b))
                    )
                )

        responses = asyncio.run(scenario())
        assert [r.status_code for r in responses] == [201] * 4, [r.text for r in responses]
        assert refresh_count(sim) == before + 1, f"round {attempt}"
    for relay in (a, b):
        assert state(relay, token)["zoom"]["state"] == "connected"


@pytest.fixture
def keepalive_settings(sim: RunningZoomSim, postgres_url: str) -> dict[str, object]:
    """Relays whose keep-alive falls due 4 s after each refresh."""
    return zoom_settings(
        sim, database_url=postgres_url, token_keys=[OLD_KEY], zoom_refresh_token_lifetime=6
    )


class RefreshTimes:
    """When the local Zoom's count of refreshes went up, seen by polling it."""

    def __init__(self, sim: RunningZoomSim) -> None:
        self.sim = sim
        self.base = refresh_count(sim)
        self.times: list[float] = []

    def reached(self, n: int) -> bool:
        count = refresh_count(self.sim) - self.base
        while len(self.times) < count:
            self.times.append(time.monotonic())
        return count >= n


def test_the_keepalive_runs_on_one_relay_of_two(
    tmp_path: Path, keepalive_settings: dict[str, object], sim: RunningZoomSim, wire: Wire
) -> None:
    with start_relay(tmp_path / "relay", **keepalive_settings) as a:
        token, _ = connected(a, sim, wire)
        # B starts with the connection in the database, so both plan its keep-alive.
        with start_relay(tmp_path / "relay", **keepalive_settings):
            seen = RefreshTimes(sim)
            wait_until(lambda: seen.reached(3), timeout=40, what="three keep-alive refreshes")
        # Each falls due 4 s after the one before; a second relay refreshing the
        # same due job would show as two refreshes within about a second (and,
        # with the old refresh token, would end the grant).
        gaps = [later - earlier for earlier, later in itertools.pairwise(seen.times)]
        assert all(gap > 2.5 for gap in gaps), gaps
        assert state(a, token)["zoom"]["state"] == "connected"


def test_a_killed_relays_keepalive_claim_runs_out_and_another_takes_it(
    tmp_path: Path,
    keepalive_settings: dict[str, object],
    sim: RunningZoomSim,
    wire: Wire,
    postgres_url: str,
) -> None:
    """A relay killed holding the keep-alive's claim (its row, as it leaves it):
    nobody refreshes until the claim runs out, then a live relay does."""
    with start_relay(tmp_path / "relay", **keepalive_settings) as a:
        token, _ = connected(a, sim, wire)
        account_id = state(a, token)["account"]["id"]
        seen = RefreshTimes(sim)
        hold = 7.0
        until_ms = int((time.time() + hold) * 1000)
        with psycopg.connect(postgres_url) as db:
            db.execute(
                "INSERT INTO claims (name, holder, until_ms) VALUES (%s, 'killed-relay', %s)"
                " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
                " until_ms = excluded.until_ms",
                (f"keepalive:{account_id}", until_ms),
            )
        claimed_at = time.monotonic()
        wait_until(lambda: seen.reached(1), timeout=30, what="a keep-alive after the claim")
        assert seen.times[0] - claimed_at >= hold - 0.5, "refreshed while the claim was held"
        assert state(a, token)["zoom"]["state"] == "connected"


def test_a_meeting_started_on_a_relay_that_dies_is_re_read_by_another(
    tmp_path: Path, sim: RunningZoomSim, wire: Wire, postgres_url: str
) -> None:
    """The meeting starts on A (its webhook lands there), so only A's planner is
    woken for its re-read; A dies before it. B, which heard nothing, looks at
    every connection each ``zoom_plan_interval`` and does the re-read: the person
    is not left paused by a lost "meeting ended"."""
    settings = zoom_settings(
        sim,
        database_url=postgres_url,
        token_keys=[OLD_KEY],
        zoom_reconcile_after=2.0,
        zoom_plan_interval=0.5,
    )
    with start_relay(tmp_path / "a", **settings) as a:
        token, user_id = connected(a, sim, wire)
        # B's re-read at start is answered 500 (its retry is due 2 s on), so that
        # the test knows it has run: run after the webhook, it would undo it.
        sim.sim.inject_fault("presence", "500", 1)
        with start_relay(tmp_path / "b", **settings) as b:
            wait_until(
                lambda: sim.sim.faults().get("presence", {}).get("remaining", 0) == 0,
                timeout=10,
                what="B's re-read at start",
            )
            assert signed_post(a, presence_body(user_id, "In_Meeting")).status_code == 200
            assert state(b, token)["zoom"]["in_meeting"] is True
            a.stop()  # the local Zoom still says Available: the meeting's end was lost
            wait_until(
                lambda: state(b, token)["zoom"]["in_meeting"] is False,
                timeout=15,
                what="B re-reading the presence A planned to re-read",
            )
            a.start()  # for the fixture's stop
