"""Several relays on one PostgreSQL database: presence ordering across relays,
key rotation while they run, the admin commands and the SQLite import."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from desktop.relay import cli
from desktop.relay.config import RelaySettings
from desktop.relay.relay import Relay
from desktop.relay.storage import Store
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
    assert "schema version 5" in capsys.readouterr().out
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
