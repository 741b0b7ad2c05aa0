"""The keyring wrapper: only the token, keyed by backend and email; readable errors."""

from __future__ import annotations

from typing import Any

import pytest
from keyring.backends.fail import Keyring as FailKeyring
from keyring.errors import KeyringLocked, NoKeyringError, PasswordSetError

from desktop.client.credentials import SERVICE_NAME, CredentialError, TokenKeyring


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
    for call in (
        lambda: store.load("http://r:1", "a@b.c"),
        lambda: store.save("http://r:1", "a@b.c", "t"),
        lambda: store.forget("http://r:1", "a@b.c"),
    ):
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
