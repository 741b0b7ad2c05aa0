"""Tokens at rest: the key file, key lists, rotation (library and CLI)."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from desktop.core.wire import now_utc
from desktop.relay import cli
from desktop.relay.config import RelaySettings
from desktop.relay.storage import Store
from desktop.relay.zoom.vault import (
    KEY_FILENAME,
    TokenVault,
    VaultError,
    generate_key,
    open_vault,
    read_key_file,
    rotate_key,
)


def stored_tokens(data_dir: Path, vault: TokenVault) -> Store:
    """A database with one account and sealed Zoom tokens."""
    store = Store.open(data_dir)
    account = store.add_account("a@example.com", "hash", now_utc())
    store.connection.execute(
        "INSERT INTO zoom_connections (account_id, zoom_user_id, state, since,"
        " access_token, refresh_token) VALUES (?, 'z', 'connected', 'now', ?, ?)",
        (account.id, vault.seal("access-secret"), vault.seal("refresh-secret")),
    )
    return store


def sealed(store: Store) -> tuple[bytes, bytes]:
    row = store.connection.execute(
        "SELECT access_token, refresh_token FROM zoom_connections"
    ).fetchone()
    return row[0], row[1]


def test_the_key_file_is_created_owner_only_and_the_key_is_never_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    settings = RelaySettings(data_dir=tmp_path)
    vault = open_vault(settings)
    path = tmp_path / KEY_FILENAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    [key] = read_key_file(path)
    assert "created the Zoom token key file" in caplog.text
    assert key not in caplog.text
    assert vault.unseal(vault.seal("secret")) == "secret"
    assert b"secret" not in vault.seal("secret")
    # Opened again: the same key, no new file.
    assert open_vault(settings).unseal(vault.seal("x")) == "x"
    assert read_key_file(path) == [key]


def test_keys_from_the_environment_newest_first(tmp_path: Path) -> None:
    old, new = generate_key(), generate_key()
    sealed_old = TokenVault([old]).seal("t")
    settings = RelaySettings.from_env(
        {"PROFITRINGER_TOKEN_KEYS": f"{new}, {old}", "PROFITRINGER_DATA_DIR": str(tmp_path)}
    )
    vault = open_vault(settings)
    assert vault.unseal(sealed_old) == "t"
    assert TokenVault([new]).unseal(vault.seal("u")) == "u"
    assert not (tmp_path / KEY_FILENAME).exists()


def test_bad_keys_are_refused_without_echoing_them() -> None:
    with pytest.raises(VaultError) as refused:
        TokenVault(["not-a-fernet-key"], "PROFITRINGER_TOKEN_KEYS")
    assert "not-a-fernet-key" not in str(refused.value)
    assert "key 1 of PROFITRINGER_TOKEN_KEYS" in str(refused.value)
    with pytest.raises(VaultError):
        TokenVault([])
    with pytest.raises(VaultError):
        TokenVault([generate_key()]).unseal(TokenVault([generate_key()]).seal("x"))


def test_rotation_with_the_key_file_reencrypts_everything(tmp_path: Path) -> None:
    settings = RelaySettings(data_dir=tmp_path)
    old_vault = open_vault(settings)
    [old_key] = read_key_file(tmp_path / KEY_FILENAME)
    store = stored_tokens(tmp_path, old_vault)
    try:
        rotation = rotate_key(settings, store)
        assert rotation.reencrypted == 2
        keys = read_key_file(tmp_path / KEY_FILENAME)
        assert keys[1:] == [old_key]
        new_only = TokenVault(keys[:1])
        access, refresh = sealed(store)
        assert (new_only.unseal(access), new_only.unseal(refresh)) == (
            "access-secret",
            "refresh-secret",
        )
        rotate_key(settings, store, retire_old=True)
        [newest] = read_key_file(tmp_path / KEY_FILENAME)
        assert TokenVault([newest]).unseal(sealed(store)[0]) == "access-secret"
        assert stat.S_IMODE((tmp_path / KEY_FILENAME).stat().st_mode) == 0o600
    finally:
        store.close()


def test_rotation_with_env_keys_prints_the_value_and_the_relay_reencrypts(
    tmp_path: Path,
) -> None:
    from desktop.relay.zoom.vault import reencrypt_all

    old = Fernet.generate_key().decode()
    settings = RelaySettings(data_dir=tmp_path, token_keys=[old])
    store = stored_tokens(tmp_path, TokenVault([old]))
    try:
        rotation = rotate_key(settings, store)
        assert rotation.env_value is not None
        new, kept = rotation.env_value.split(",")
        assert kept == old
        assert rotation.reencrypted == 0
        # At its next start the relay re-encrypts under the first key.
        assert reencrypt_all(store, TokenVault([new, old])) == 2
        assert TokenVault([new]).unseal(sealed(store)[1]) == "refresh-secret"
    finally:
        store.close()


def test_rotate_key_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vault = open_vault(RelaySettings(data_dir=tmp_path))
    stored_tokens(tmp_path, vault).close()
    assert cli.main(["--data-dir", str(tmp_path), "rotate-key"]) == 0
    out = capsys.readouterr().out
    assert "re-encrypted 2 stored value(s)" in out
    keys = read_key_file(tmp_path / KEY_FILENAME)
    assert len(keys) == 2
    for key in keys:
        assert key not in out
    store = Store.open(tmp_path)
    try:
        assert TokenVault(keys[:1]).unseal(sealed(store)[0]) == "access-secret"
    finally:
        store.close()


def test_rotate_key_refuses_while_a_relay_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from desktop.relay.relay import Relay

    relay = Relay(RelaySettings(data_dir=tmp_path))
    try:
        assert cli.main(["--data-dir", str(tmp_path), "rotate-key"]) == 1
        assert "another relay is already using" in capsys.readouterr().err
    finally:
        relay.close()
