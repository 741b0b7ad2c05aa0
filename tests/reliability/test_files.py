"""The relay's files are private, deletions leave no copy, and key rotation is
durable before it retires anything (issue 12, "Files" and "rotate-key").

- The data dir is 0700; the database, its -wal and -shm and the lock file are
  0600, even when an older relay left them readable by others.
- Deleting an account leaves none of its data (email, device name, password
  hash) in the database, the WAL or the shared memory file.
- Expired sessions are purged every ``purge_interval`` without their token
  being used again.
- ``rotate-key --retire-old`` writes the re-encryption into the database file
  (WAL emptied, no old ciphertext left anywhere) before the key file loses
  the old key, and fsyncs the data dir after every key-file rename.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import httpx
import pytest

from desktop.core.wire import now_utc
from desktop.relay.config import RelaySettings
from desktop.relay.passwords import hash_password
from desktop.relay.storage import DB_FILENAME, Store
from desktop.relay.zoom.vault import (
    KEY_FILENAME,
    TokenVault,
    open_vault,
    read_key_file,
    rotate_key,
)
from tests.support.relay import start_relay
from tests.support.waiting import wait_until

PASSWORD = "correct horse battery"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def database_bytes(data_dir: Path) -> bytes:
    return b"".join(
        path.read_bytes()
        for path in (data_dir / f"{DB_FILENAME}{suffix}" for suffix in ("", "-wal", "-shm"))
        if path.exists()
    )


def test_files_are_private_even_if_they_were_not(tmp_path: Path) -> None:
    data_dir = tmp_path / "relay"
    Store.open(data_dir).close()
    os.chmod(data_dir, 0o755)  # noqa: S103 - what an older relay left
    os.chmod(data_dir / DB_FILENAME, 0o644)
    with start_relay(data_dir) as relay:
        relay.add_user("ada@example.com", PASSWORD)
        relay.sign_in("ada@example.com", PASSWORD)  # a write: the WAL exists
        assert mode(data_dir) == 0o700
        for name in (DB_FILENAME, f"{DB_FILENAME}-wal", f"{DB_FILENAME}-shm", "relay.lock"):
            assert mode(data_dir / name) == 0o600, name


def test_a_deleted_account_leaves_no_copy_on_disk(tmp_path: Path) -> None:
    data_dir = tmp_path / "relay"
    email = "marker-7c1e9a@example.com"
    device = "DEVICE-MARKER-4b2d"
    with start_relay(data_dir) as relay:
        relay.add_user(email, PASSWORD)
        store = Store.open(data_dir)
        try:
            password_hash = store.account_by_email(email).password_hash  # type: ignore[union-attr]
        finally:
            store.close()
        token = relay.sign_in(email, PASSWORD, device=device)
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.put(relay.url + "/api/v1/ringer", json={"on": False}, headers=headers)
        on_disk = database_bytes(data_dir)
        assert email.encode() in on_disk
        assert device.encode() in on_disk
        # The password goes along for relays where deleting needs it again.
        response = httpx.request(
            "DELETE", relay.url + "/api/v1/account", json={"password": PASSWORD}, headers=headers
        )
        assert response.status_code == 204, response.text
        on_disk = database_bytes(data_dir)
        for marker in (email, device, password_hash):
            assert marker.encode() not in on_disk, marker


def test_expired_sessions_are_purged(tmp_path: Path) -> None:
    data_dir = tmp_path / "relay"
    with start_relay(data_dir, session_lifetime=1.0, purge_interval=0.1) as relay:
        relay.add_user("ada@example.com", PASSWORD)
        relay.sign_in("ada@example.com", PASSWORD)

        def sessions() -> int:
            with sqlite3.connect(f"file:{data_dir / DB_FILENAME}?mode=ro", uri=True) as db:
                count: int = db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
            return count

        assert sessions() == 1
        wait_until(lambda: sessions() == 0, timeout=15, what="the expired session purged")


def test_rotate_key_retires_the_old_key_only_after_the_reencryption_is_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = RelaySettings(data_dir=tmp_path)
    vault = open_vault(settings)
    store = Store.open(tmp_path)
    account = store.add_account("a@example.com", hash_password(PASSWORD), now_utc())
    old_access = vault.seal("access-secret")
    store.connection.execute(
        "INSERT INTO zoom_connections (account_id, zoom_user_id, state, since,"
        " access_token) VALUES (?, 'z', 'connected', 'now', ?)",
        (account.id, old_access),
    )
    events: list[tuple[str, str, bool]] = []
    real_replace, real_fsync = os.replace, os.fsync

    def replace(source: str | Path, target: str | Path) -> None:
        # Whether anything on disk still needs the old key at this moment.
        events.append(("replace", Path(target).name, old_access in database_bytes(tmp_path)))
        real_replace(source, target)

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"), False))
        real_fsync(fd)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "fsync", fsync)
    try:
        rotate_key(settings, store, retire_old=True)
    finally:
        store.close()
    monkeypatch.undo()
    replaces = [i for i, event in enumerate(events) if event[0] == "replace"]
    assert len(replaces) == 2  # the new key first, then the old one retired
    for index in replaces:
        assert events[index][1] == KEY_FILENAME
        assert events[index + 1] == ("fsync", str(tmp_path), False)
    assert events[replaces[0]][2], "the new key must be on disk before anything is sealed with it"
    assert not events[replaces[1]][2], "the old key was retired while data still needed it"
    [newest] = read_key_file(tmp_path / KEY_FILENAME)
    check = Store.open(tmp_path)
    try:
        row = check.connection.execute("SELECT access_token FROM zoom_connections").fetchone()
        assert TokenVault([newest]).unseal(row[0]) == "access-secret"
    finally:
        check.close()
