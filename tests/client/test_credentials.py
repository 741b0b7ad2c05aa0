"""The keyring wrapper: only the token, keyed by backend and email; readable errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from keyring.backends.fail import Keyring as FailKeyring
from keyring.errors import KeyringLocked, NoKeyringError, PasswordSetError

from desktop.client.credentials import (
    SERVICE_NAME,
    CredentialError,
    TokenKeyring,
    platform_backends,
)


def test_round_trip_in_the_configured_keyring(memory_keyring: Any) -> None:
    store = TokenKeyring()
    assert store.load("http://r:1", "ada@example.com") is None
    store.save("http://r:1", "ada@example.com", "tok-1")
    store.save("http://other:2", "ada@example.com", "tok-2")
    assert store.load("http://r:1/", "ADA@example.com") == "tok-1"
    assert store.load("http://other:2", "ada@example.com") == "tok-2"
    assert set(memory_keyring.entries) == {
        (SERVICE_NAME, "http://r:1|ada@example.com"),
        (SERVICE_NAME, "http://other:2|ada@example.com"),
    }
    store.forget("http://r:1", "ada@example.com")
    store.forget("http://r:1", "ada@example.com")  # forgetting twice is fine
    assert store.load("http://r:1", "ada@example.com") is None


@pytest.mark.expect_log("keyring (read|write|delete) failed: NoKeyringError")
def test_no_keyring_is_a_readable_error() -> None:
    store = TokenKeyring(FailKeyring())
    calls: list[Callable[[], object]] = [
        lambda: store.load("http://r:1", "a@b.c"),
        lambda: store.save("http://r:1", "a@b.c", "t"),
        lambda: store.forget("http://r:1", "a@b.c"),
    ]
    for call in calls:
        with pytest.raises(CredentialError) as failed:
            call()
        assert failed.value.title == "Cannot remember your sign-in"
        assert "sign in again" in failed.value.message


class Refusing:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_password(self, service: str, user: str) -> str | None:
        raise self.error

    def set_password(self, service: str, user: str, password: str) -> None:
        raise self.error


@pytest.mark.expect_log("keyring write failed")
@pytest.mark.parametrize(
    ("error", "title"),
    [
        (KeyringLocked("locked"), "Keyring is locked"),
        # matched by class, not by name: a backend's own subclass is still locked …
        (type("VaultLocked", (KeyringLocked,), {})("locked"), "Keyring is locked"),
        (type("NoDBusKeyring", (NoKeyringError,), {})("none"), "Cannot remember your sign-in"),
        # … and a stranger that only shares the name is not
        (type("KeyringLocked", (Exception,), {})("x"), "Cannot use the keyring"),
        (PasswordSetError("no"), "Cannot use the keyring"),
        (RuntimeError("dbus went away"), "Cannot use the keyring"),
    ],
)
def test_every_failure_becomes_a_credential_error(error: Exception, title: str) -> None:
    store = TokenKeyring(Refusing(error))
    with pytest.raises(CredentialError) as failed:
        store.save("http://r:1", "a@b.c", "secret-token")
    assert failed.value.title == title
    assert "secret-token" not in str(failed.value)


@pytest.mark.parametrize(
    ("platform", "desktop", "expected"),
    [
        ("linux", "GNOME", ("keyring.backends.SecretService.Keyring",)),
        ("linux", "", ("keyring.backends.SecretService.Keyring",)),
        (
            "linux",
            "KDE",
            ("keyring.backends.kwallet.DBusKeyring", "keyring.backends.SecretService.Keyring"),
        ),
        ("freebsd14", "ubuntu:GNOME", ("keyring.backends.SecretService.Keyring",)),
        ("darwin", "", ("keyring.backends.macOS.Keyring",)),
        ("win32", "", ("keyring.backends.Windows.WinVaultKeyring",)),
    ],
)
def test_each_platform_names_its_own_backend(
    platform: str, desktop: str, expected: tuple[str, ...]
) -> None:
    assert platform_backends(platform, {"XDG_CURRENT_DESKTOP": desktop}) == expected


def _choose_in_a_fresh_process(tmp_path: Path, candidates: tuple[str, ...], **env: str) -> Any:
    """Runs ``default_backend()`` in a new interpreter, where nothing has chosen a
    keyring yet, with ``candidates`` as the platform's backends."""
    code = f"""
import json, sys
import keyring
from desktop.client import credentials
credentials.platform_backends = lambda *args, **kwargs: {candidates!r}
chosen = credentials.default_backend()
print(json.dumps({{
    "chosen": type(chosen).__module__ + "." + type(chosen).__name__,
    "keyring_agrees": keyring.get_keyring() is chosen,
    "backend_modules": sorted(m for m in sys.modules if m.startswith("keyring.backends.")),
}}))
"""
    clean = {k: v for k, v in os.environ.items() if k != "PYTHON_KEYRING_BACKEND"}
    clean["XDG_CONFIG_HOME"] = str(tmp_path / "xdg-config")  # no keyringrc.cfg there
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def test_only_the_platform_backend_is_imported(tmp_path: Path) -> None:
    found = _choose_in_a_fresh_process(tmp_path, ("keyring.backends.null.Keyring",))
    assert found["chosen"] == "keyring.backends.null.Keyring"
    assert found["keyring_agrees"]
    # keyring.core itself imports the fail backend; no other backend is loaded.
    assert found["backend_modules"] == ["keyring.backends.fail", "keyring.backends.null"]


def test_an_unusable_platform_backend_falls_through(tmp_path: Path) -> None:
    found = _choose_in_a_fresh_process(
        tmp_path, ("keyring.backends.missing.Keyring", "keyring.backends.null.Keyring")
    )
    assert found["chosen"] == "keyring.backends.null.Keyring"


def test_keyrings_own_configuration_comes_first(tmp_path: Path) -> None:
    found = _choose_in_a_fresh_process(
        tmp_path,
        ("keyring.backends.null.Keyring",),
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
    )
    assert found["chosen"] == "keyring.backends.fail.Keyring"
    assert found["keyring_agrees"]
    config = tmp_path / "xdg-config" / "python_keyring"
    config.mkdir(parents=True)
    (config / "keyringrc.cfg").write_text(
        "[backend]\ndefault-keyring=keyring.backends.fail.Keyring\n"
    )
    found = _choose_in_a_fresh_process(tmp_path, ("keyring.backends.null.Keyring",))
    assert found["chosen"] == "keyring.backends.fail.Keyring"
