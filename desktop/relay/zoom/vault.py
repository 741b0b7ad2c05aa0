"""Zoom tokens at rest: encrypted with a list of keys, newest first, so keys rotate.

Keys are Fernet keys (AES-128-CBC + HMAC-SHA256, from ``cryptography``). The
newest key encrypts; every key in the list decrypts (``MultiFernet``). Keys
come from ``PROFITRINGER_TOKEN_KEYS`` (comma-separated, newest first) or, when
that is unset, from the key file ``zoom-token-keys`` in the data dir (one key
per line, newest first), which the relay creates with owner-only permissions
(0600) the first time it needs it, saying so in its log without printing it.

Rotation (``profitringer relay rotate-key``, :func:`rotate_key`): a new key is
made and put first; with a key file everything stored is re-encrypted under it
at once; with keys from the environment the command prints the new value to
set, and the relay re-encrypts everything under the first key at its next
start (:func:`reencrypt_all`), so nothing is lost if the value is never set.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from desktop.relay.config import RelaySettings
from desktop.relay.storage import Store, durable_replace

log = logging.getLogger(__name__)

KEY_FILENAME: Final = "zoom-token-keys"
_KEY_FILE_HEADER: Final = (
    "# ProfitRinger relay: keys that encrypt Zoom tokens at rest, newest first.\n"
    "# Keep this file private and backed up with the database.\n"
)


class VaultError(ValueError):
    """A key is unusable or a stored secret cannot be decrypted with the keys at hand."""


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def _fernet(key: str, where: str) -> Fernet:
    try:
        return Fernet(key.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise VaultError(
            f"{where} is not a valid token key (a Fernet key: 32 url-safe base64 bytes, "
            "as 'profitringer relay rotate-key' makes)"
        ) from exc


class TokenVault:
    """Encrypts (``seal``) with the first key, decrypts (``unseal``) with any."""

    def __init__(self, keys: Sequence[str], source: str = "the key list") -> None:
        if not keys:
            raise VaultError(f"{source} has no token key")
        fernets = [_fernet(key, f"key {n} of {source}") for n, key in enumerate(keys, 1)]
        self._fernet = MultiFernet(fernets)
        self._newest = fernets[0]
        self.source = source

    def sealed_with_newest(self, sealed: bytes) -> bool:
        """Whether ``sealed`` is already encrypted under the newest key."""
        try:
            self._newest.decrypt(bytes(sealed))
        except InvalidToken:
            return False
        return True

    def reseal_if_old(self, sealed: bytes) -> bytes | None:
        """Re-encrypt under the newest key; ``None`` if it already is."""
        return None if self.sealed_with_newest(sealed) else self.reseal(sealed)

    def seal(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode("utf-8"))

    def unseal(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(bytes(sealed)).decode("utf-8")
        except InvalidToken as exc:
            raise VaultError(
                f"a stored Zoom secret cannot be decrypted with {self.source}; "
                "was a key removed too early?"
            ) from exc

    def reseal(self, sealed: bytes) -> bytes:
        """Re-encrypt under the newest key."""
        try:
            return self._fernet.rotate(bytes(sealed))
        except InvalidToken as exc:
            raise VaultError(
                f"a stored Zoom secret cannot be decrypted with {self.source}"
            ) from exc


def key_file(settings: RelaySettings) -> Path:
    return settings.data_dir / KEY_FILENAME


def read_key_file(path: Path) -> list[str]:
    lines = path.read_text(encoding="ascii").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def write_key_file(path: Path, keys: Sequence[str]) -> None:
    """Replace the key file atomically, owner-only from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".new")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(_KEY_FILE_HEADER + "".join(f"{key}\n" for key in keys))
        handle.flush()
        os.fsync(handle.fileno())
    durable_replace(temporary, path)


def open_vault(settings: RelaySettings, create: bool = True) -> TokenVault:
    """The vault for these settings; creates the key file if there are no keys."""
    if settings.token_keys:
        return TokenVault(settings.token_keys, "PROFITRINGER_TOKEN_KEYS")
    if settings.shared_database:
        # Every relay on the database must hold the same keys: a key file in one
        # relay's data dir would seal tokens the others cannot read.
        raise VaultError(
            "with PostgreSQL (PROFITRINGER_DATABASE_URL) the Zoom token keys must come "
            "from PROFITRINGER_TOKEN_KEYS, the same on every relay; make one with: "
            "python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'"
        )
    path = key_file(settings)
    if not path.exists():
        if not create:
            raise VaultError(f"there is no key file {path} and PROFITRINGER_TOKEN_KEYS is unset")
        write_key_file(path, [generate_key()])
        log.warning(
            "created the Zoom token key file %s (owner-only). Back it up with the database: "
            "without it, stored Zoom connections cannot be used.",
            path,
        )
    elif path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("the token key file %s is readable by others; run: chmod 600 %s", path, path)
    return TokenVault(read_key_file(path), f"the key file {path}")


def reencrypt_all(store: Store, vault: TokenVault) -> int:
    """Re-encrypt every stored Zoom secret not yet under the vault's newest key, in
    one transaction (its rows locked: a refresh on another relay waits for it).
    Returns how many values were re-encrypted."""
    with store.transaction() as tx:
        return tx.reseal_all(vault.reseal_if_old)


@dataclass(frozen=True)
class Rotation:
    """What :func:`rotate_key` did, in words for the operator."""

    reencrypted: int
    #: With keys from the environment: the value PROFITRINGER_TOKEN_KEYS must get.
    env_value: str | None
    message: str


def rotate_shared(store: Store, keys: Sequence[str], reencrypt: bool) -> Rotation:
    """Key rotation on a shared (PostgreSQL) database, while the relays run.

    Without ``reencrypt``: a new key and the steps to roll it out (every relay
    must be able to read a value before any relay seals one with it). With it:
    re-encrypt every stored value under the first key of ``keys`` now, in one
    transaction, and check that nothing needs the other keys any more."""
    if not keys:
        raise VaultError(
            "with PostgreSQL the token keys come from PROFITRINGER_TOKEN_KEYS; set it to "
            "the keys the relays use, newest first"
        )
    vault = TokenVault(keys, "PROFITRINGER_TOKEN_KEYS")
    if not reencrypt:
        new_key = generate_key()
        old = ",".join(keys)
        return Rotation(
            0,
            f"{new_key},{old}",
            "The relays share the keys in PROFITRINGER_TOKEN_KEYS. Roll the new key out "
            "while they run: (1) on every relay set PROFITRINGER_TOKEN_KEYS="
            f"{old},NEW (the new key last: it reads with it, still seals with the old) and "
            "restart them one by one; (2) then set it to the value below (the new key "
            "first) and restart them one by one; (3) then run: profitringer relay "
            "rotate-key --retire-old, with that value, to re-encrypt every stored token "
            "under the new key. Only then remove the old keys, on every relay.",
        )
    count = reencrypt_all(store, vault)
    newest = TokenVault(keys[:1], "the first key of PROFITRINGER_TOKEN_KEYS")
    with store.transaction() as tx:
        left = tx.reseal_all(lambda sealed: None if newest.sealed_with_newest(sealed) else sealed)
        if left:
            raise VaultError(f"{left} stored value(s) are still not under the first key")
    retired = f" The other {len(keys) - 1} key(s) may now go" if len(keys) > 1 else ""
    return Rotation(
        count,
        keys[0],
        f"Re-encrypted {count} stored value(s) under the first key of "
        f"PROFITRINGER_TOKEN_KEYS; every stored Zoom token is under it now.{retired}: set "
        "PROFITRINGER_TOKEN_KEYS to the value below on every relay.",
    )


def rotate_key(settings: RelaySettings, store: Store, retire_old: bool = False) -> Rotation:
    """Make a new key and put it first. Run it while the relay is stopped (with a
    SQLite file); with PostgreSQL see :func:`rotate_shared`."""
    if store.shared:
        return rotate_shared(store, settings.token_keys, reencrypt=retire_old)
    new_key = generate_key()
    if settings.token_keys:
        TokenVault(settings.token_keys, "PROFITRINGER_TOKEN_KEYS")  # the old ones must be valid
        # The old keys stay in the value: the relay needs them to re-encrypt at start.
        value = ",".join([new_key, *settings.token_keys])
        return Rotation(
            0,
            value,
            "The token keys come from PROFITRINGER_TOKEN_KEYS. Set it to the value below "
            "(the new key first) and restart the relay: it re-encrypts every stored Zoom "
            "token under the new key when it starts. Remove the old keys only after that.",
        )
    path = key_file(settings)
    old = read_key_file(path) if path.exists() else []
    TokenVault(old or [new_key], f"the key file {path}")  # refuse to rotate a broken file
    # The new key goes first on disk before anything is encrypted with it, so a
    # crash in between leaves every value decryptable.
    write_key_file(path, [new_key, *old])
    count = reencrypt_all(store, TokenVault([new_key, *old], f"the key file {path}"))
    if retire_old and old:
        store.make_durable()  # the old keys go only once nothing needs them
        write_key_file(path, [new_key])
    retired = f" and removed the {len(old)} old key(s)" if retire_old and old else ""
    return Rotation(
        count,
        None,
        f"Put a new key first in {path}, re-encrypted {count} stored value(s) under it{retired}.",
    )
