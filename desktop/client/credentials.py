"""The session token in the OS keyring, behind one small class.

Only the session token is stored — never the password — under the service
name ``ProfitRinger Desktop`` and a user name made of the backend URL and the
email, so two backends or two accounts never overwrite each other. Every
keyring failure (no backend installed, a locked or refusing keychain) becomes a
:class:`CredentialError` with a title and a sentence a person can read; the app
then keeps the token in memory for this run and says so.

Which keyring: keyring's own configuration first (``PYTHON_KEYRING_BACKEND``,
its ``keyringrc.cfg``, or a backend set with ``keyring.set_keyring``); else
the backend this platform's desktop uses (:func:`platform_backends`), the one
keyring's discovery picks there with this app's dependencies; only when none
of those is usable, keyring's discovery itself. Discovery imports every
installed backend and the libraries behind them, which a tray should not carry
for the rest of its life.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Any, Final

log = logging.getLogger(__name__)

SERVICE_NAME: Final = "ProfitRinger Desktop"


class CredentialError(Exception):
    """The keyring could not be used; ``title`` and ``message`` are for a person."""

    def __init__(self, title: str, message: str) -> None:
        super().__init__(f"{title}: {message}")
        self.title = title
        self.message = message


def platform_backends(
    platform: str = sys.platform, environ: Mapping[str, str] = os.environ
) -> tuple[str, ...]:
    """The keyring backends this platform's desktop uses, best first (dotted
    class names for ``keyring.core.load_keyring``)."""
    if platform == "darwin":
        return ("keyring.backends.macOS.Keyring",)
    if platform == "win32":
        return ("keyring.backends.Windows.WinVaultKeyring",)
    secret_service = "keyring.backends.SecretService.Keyring"  # noqa: S105 - a class name
    if "KDE" in environ.get("XDG_CURRENT_DESKTOP", "").upper().split(":"):
        # KWallet's own D-Bus API when python-dbus is there (keyring ranks it
        # first on KDE); KWallet also serves the Secret Service API.
        return ("keyring.backends.kwallet.DBusKeyring", secret_service)
    return (secret_service,)


def default_backend() -> Any:
    """The keyring backend to use (see the module's docstring); keyring's
    chosen backend from then on, so every later ``keyring`` call agrees."""
    import keyring.core

    if getattr(keyring.core, "_keyring_backend", True) is not None:
        # Already chosen in this process (keyring.set_keyring, an earlier
        # call), or a keyring without that attribute: keyring decides.
        return keyring.get_keyring()
    chosen = keyring.core.load_env() or keyring.core.load_config()
    for name in () if chosen is not None else platform_backends():
        try:
            chosen = keyring.core.load_keyring(name)  # raises when not usable here
            break
        except Exception as exc:
            log.info("keyring backend %s is not usable here (%s)", name, type(exc).__name__)
    if chosen is None:
        return keyring.get_keyring()  # keyring's discovery of every backend
    keyring.core.set_keyring(chosen)
    return chosen


def account_key(backend_url: str, email: str) -> str:
    return f"{backend_url.rstrip('/')}|{email.strip().lower()}"


class TokenKeyring:
    """Stores, loads and forgets session tokens in the OS keyring.

    ``backend`` is a keyring backend object (tests pass an in-memory one);
    by default the keyring library is imported lazily at the first use and
    :func:`default_backend` chooses.
    """

    def __init__(self, backend: Any | None = None, service: str = SERVICE_NAME) -> None:
        self._backend = backend
        self._service = service

    def _keyring(self) -> Any:
        if self._backend is not None:
            return self._backend
        try:
            return default_backend()
        except Exception as exc:  # a broken install must not stop the app
            raise self._failure(exc) from exc

    @staticmethod
    def _failure(exc: BaseException) -> CredentialError:
        name = type(exc).__name__
        try:
            # Imported here, on failure only: the keyring stays a lazy import.
            from keyring.errors import KeyringLocked, NoKeyringError
        except Exception:  # a broken install: no keyring error classes to match
            no_keyring: tuple[type[BaseException], ...] = ()
            locked: tuple[type[BaseException], ...] = ()
        else:
            no_keyring, locked = (NoKeyringError,), (KeyringLocked,)
        if isinstance(exc, no_keyring):
            return CredentialError(
                "Cannot remember your sign-in",
                "No system keyring is available, so you will need to sign in again "
                "next time the app starts. Install or unlock a keyring "
                "(for example GNOME Keyring or KWallet) to stay signed in.",
            )
        if isinstance(exc, locked):
            return CredentialError(
                "Keyring is locked",
                "Your system keyring is locked, so the sign-in cannot be remembered. "
                "Unlock it and sign in again to stay signed in.",
            )
        return CredentialError(
            "Cannot use the keyring",
            f"The system keyring refused the request ({name}), so your sign-in "
            "will not be remembered after this run.",
        )

    def load(self, backend_url: str, email: str) -> str | None:
        """The stored token, or ``None`` if there is none."""
        try:
            token = self._keyring().get_password(self._service, account_key(backend_url, email))
        except CredentialError:
            raise
        except Exception as exc:
            log.warning("keyring read failed: %s", type(exc).__name__)
            raise self._failure(exc) from exc
        return token if isinstance(token, str) and token else None

    def save(self, backend_url: str, email: str, token: str) -> None:
        try:
            self._keyring().set_password(self._service, account_key(backend_url, email), token)
        except CredentialError:
            raise
        except Exception as exc:
            log.warning("keyring write failed: %s", type(exc).__name__)
            raise self._failure(exc) from exc

    def forget(self, backend_url: str, email: str) -> None:
        """Delete the stored token; forgetting nothing is not an error."""
        try:
            keyring = self._keyring()
            key = account_key(backend_url, email)
            if keyring.get_password(self._service, key) is None:
                return
            keyring.delete_password(self._service, key)
        except CredentialError:
            raise
        except Exception as exc:
            log.warning("keyring delete failed: %s", type(exc).__name__)
            raise self._failure(exc) from exc
