"""State survives restarts; the database is migrated, locked and checked."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest

from desktop.relay.config import RelaySettings
from desktop.relay.relay import Relay
from desktop.relay.storage import MIGRATIONS, StorageError, Store
from tests.support.relay import RunningRelay

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery"


def test_state_and_seq_survive_a_restart(relay: RunningRelay) -> None:
    relay.add_user(EMAIL, PASSWORD)
    token = relay.sign_in(EMAIL, PASSWORD)
    headers = {"Authorization": f"Bearer {token}"}
    changed = httpx.put(
        relay.url + "/api/v1/availability", json={"preferred": "unavailable"}, headers=headers
    ).json()
    relay.stop()
    relay.start()
    after = httpx.get(relay.url + "/api/v1/state", headers=headers).json()
    assert after["preferred"] == "unavailable"
    assert after["seq"] == changed["seq"]
    again = httpx.put(relay.url + "/api/v1/ringer", json={"on": False}, headers=headers).json()
    assert again["seq"] == changed["seq"] + 1


def test_fresh_data_dir_is_migrated_to_the_latest_schema(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    try:
        assert store.schema_version == len(MIGRATIONS)
        mode = store.connection.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
    finally:
        store.close()


def test_a_corrupt_database_is_a_clear_error_not_a_reset(tmp_path: Path) -> None:
    (tmp_path / "relay.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match=r"relay\.sqlite3.*move it aside"):
        Relay(RelaySettings(data_dir=tmp_path))
    assert (tmp_path / "relay.sqlite3").read_bytes().startswith(b"this is not a database")


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    connection = sqlite3.connect(tmp_path / "relay.sqlite3")
    connection.execute(f"PRAGMA user_version={len(MIGRATIONS) + 5}")
    connection.close()
    with pytest.raises(StorageError, match="newer than this relay"):
        Store.open(tmp_path)


@pytest.mark.sqlite_only
def test_two_relays_cannot_share_a_data_dir(relay: RunningRelay) -> None:
    with pytest.raises(StorageError, match="another relay is already using"):
        Relay(RelaySettings(data_dir=relay.settings.data_dir))


@pytest.mark.sqlite_only
def test_an_expired_time_override_is_cleared_at_start(relay: RunningRelay) -> None:
    """An override that ran out while the relay was down is gone when it is back."""
    from datetime import UTC, datetime, timedelta

    relay.add_user(EMAIL, PASSWORD)
    token = relay.sign_in(EMAIL, PASSWORD)
    headers = {"Authorization": f"Bearer {token}"}
    ends = datetime.now(UTC) + timedelta(seconds=1)
    state = httpx.put(
        relay.url + "/api/v1/override",
        json={"value": "unavailable", "until": ends.isoformat()},
        headers=headers,
    ).json()
    assert state["effective"]["reason"] == "override"
    relay.stop()
    # Move the stored end into the past rather than waiting for it.
    store = Store.open(relay.settings.data_dir)
    account_id = store.account_ids()[0]
    stored = store.load_state(account_id)
    assert stored is not None
    assert stored.state.override is not None
    import dataclasses

    past = dataclasses.replace(
        stored.state.override, ends_at=datetime.now(UTC) - timedelta(minutes=1)
    )
    with store.transaction() as db:
        store.save_state(db, account_id, dataclasses.replace(stored.state, override=past))
    store.close()
    relay.start()
    after = httpx.get(relay.url + "/api/v1/state", headers=headers).json()
    assert after["override"] is None
    assert after["effective"]["reason"] == "preferred"
    assert after["cause"] in ("override_expired", "unchanged")
