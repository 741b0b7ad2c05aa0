"""The relay's parts, wired once: store, hub and broker, availability service, throttle.

:class:`Relay` is what the HTTP layer talks to; tests may build one directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Final

import orjson

from desktop.core.wire import CLOSE_SESSION_GONE, live_message, now_utc
from desktop.relay.broker import make_broker
from desktop.relay.config import RelaySettings
from desktop.relay.hub import LiveHub
from desktop.relay.passwords import (
    hash_password,
    new_session_token,
    token_hash,
    verify_password,
)
from desktop.relay.service import AccountGone, AvailabilityService
from desktop.relay.storage import (
    Account,
    Device,
    Session,
    StorageError,
    Store,
    private_dir,
    private_file,
)
from desktop.relay.throttle import SignInThrottle

log = logging.getLogger(__name__)

LOCK_FILENAME: Final = "relay.lock"
MAX_DEVICE_NAME: Final = 100
#: A session's "last seen" is written at most this often (seconds): the devices
#: list needs minutes, not every request.
LAST_SEEN_RESOLUTION: Final = 60.0
#: How much lower than the event loop the password threads run (nice 0 to 19).
PASSWORD_THREAD_NICENESS: Final = 10


class SignInBusy(Exception):
    """Too many sign-ins are waiting for a password check: try again shortly."""


class SignInRefused(Exception):
    """Too many failed sign-ins: try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("too many failed sign-ins")
        self.retry_after = retry_after


@dataclass(frozen=True)
class SignInResult:
    account: Account | None
    token: str | None
    #: Seconds the caller must wait before answering (slowing brute force).
    delay: float


def _lock_data_dir(data_dir: Path) -> IO[str]:
    """Hold an exclusive lock on the data dir: two relays on one database would
    each think they own the live sockets and the Zoom refresh tokens."""
    private_dir(data_dir)
    private_file(data_dir / LOCK_FILENAME)
    handle = open(data_dir / LOCK_FILENAME, "a+")  # noqa: SIM115 - held for the relay's life
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        raise StorageError(
            f"another relay is already using {data_dir} (its lock file {LOCK_FILENAME} is held)."
            " Stop that relay, or give this one another --data-dir."
        ) from exc
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _yield_to_the_event_loop() -> None:
    """Run this password thread at a lower priority (Linux sets it per thread):
    during a sign-in flood the event loop's webhooks and sockets come first,
    and the checks take what CPU is left."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PASSWORD_THREAD_NICENESS)


class Relay:
    """One relay process's state, owned for its lifetime: the store (SQLite or
    PostgreSQL), the live hub of this process's sockets and the broker that
    carries committed documents between relays, the availability service, the
    sign-in throttle and the password-hashing pool. Sessions, sign-in and the
    background maintenance are its methods. The Zoom integration is built on it
    by ``zoom/routes.py``, and its HTTP endpoints live in ``routes.py``."""

    def __init__(
        self,
        settings: RelaySettings,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self.settings = settings
        self.clock = clock
        # Several relays share a PostgreSQL database by design; a SQLite file is
        # one relay's alone.
        self._lock = None if settings.shared_database else _lock_data_dir(settings.data_dir)
        try:
            self.store = Store.open_url(
                settings.database_url, settings.data_dir, durability=settings.durability
            )
        except BaseException:
            if self._lock is not None:
                self._lock.close()
            raise
        #: This process's sockets; the broker delivers to them, and carries
        #: changes and ended sessions between relays when there are several.
        self.hub = LiveHub()
        self.broker = make_broker(settings.broker_url, self.hub)
        self.broker.on_gap = self.after_broker_gap
        self.service = AvailabilityService(self.store, self.broker, clock)
        self.throttle = SignInThrottle(
            self.store,
            lambda: self.clock().timestamp(),
            window=settings.signin_window,
            slow_after=settings.signin_slow_after,
            delay_step=settings.signin_delay_step,
            max_delay=settings.signin_max_delay,
            refuse_after=settings.signin_refuse_after,
            address_refuse_after=settings.signin_address_refuse_after,
            account_alarm=settings.signin_account_alarm,
            max_tracked=settings.signin_max_tracked,
        )
        # Argon2id takes about 40 ms of CPU and releases the GIL: checking it in a
        # few threads keeps the event loop (webhooks, sockets) answering during a
        # sign-in flood, and the queue bound keeps a flood from piling up.
        self._password_pool = ThreadPoolExecutor(
            max_workers=settings.password_workers,
            thread_name_prefix="password",
            initializer=_yield_to_the_event_loop,
        )
        self._password_checks = 0
        #: Called with an account id before the account is deleted (the Zoom
        #: integration revokes and deletes its tokens there).
        self.account_deletion_hooks: list[Callable[[str], Awaitable[None]]] = []

    def close(self) -> None:
        self._password_pool.shutdown(wait=False, cancel_futures=True)
        self.service.stop()
        self.store.close()
        if self._lock is not None:
            self._lock.close()

    # -- accounts and sessions ------------------------------------------------------------

    def add_user(self, email: str, password: str) -> Account:
        email = email.strip()
        if "@" not in email or len(email) > 254:
            raise ValueError(f"{email!r} is not an email address")
        if len(password) < 8:
            raise ValueError("the password must have at least 8 characters")
        return self.store.add_account(email, hash_password(password), self.clock())

    async def sign_in(
        self, email: str, password: str, device_name: str, address: str
    ) -> SignInResult:
        """Check the password; on success create a session and return its token.

        Failures are counted per account and address, per address, and per
        account (throttle.py); past a few the caller is told to wait, past more
        the attempt is refused without checking. :class:`SignInBusy` when too
        many checks are already waiting.
        """
        email = email.strip()
        account = self.store.account_by_email(email)
        who = account.id if account is not None else "email:" + email.casefold()
        verdict = self.throttle.check(who, address)
        if verdict.refused:
            raise SignInRefused(verdict.retry_after)
        if self._password_checks >= self.settings.password_workers + self.settings.password_queue:
            raise SignInBusy
        self._password_checks += 1
        try:
            right = await asyncio.get_running_loop().run_in_executor(
                self._password_pool,
                verify_password,
                password,
                account.password_hash if account else None,
            )
        finally:
            self._password_checks -= 1
        if not right:
            self.throttle.failed(who, address)
            return SignInResult(None, None, verdict.delay)
        assert account is not None
        self.throttle.succeeded(who, address)
        return SignInResult(account, self.open_session(account.id, device_name), verdict.delay)

    def open_session(self, account_id: str, device_name: str) -> str:
        """A new session of the account; returns its token (only its hash is kept)."""
        token = new_session_token()
        now = self.clock()
        self.store.add_session(
            account_id,
            token_hash(token),
            device_name[:MAX_DEVICE_NAME],
            now,
            now + timedelta(seconds=self.settings.session_lifetime),
        )
        return token

    def session_for(self, token: str) -> Session | None:
        """The live session a bearer token belongs to, or ``None``."""
        session = self.store.session_by_token_hash(token_hash(token))
        if session is None:
            return None
        now = self.clock()
        if session.expires_at <= now:
            self.end_session(session.id)
            return None
        last_seen = session.last_seen_at
        if last_seen is None or (now - last_seen).total_seconds() >= LAST_SEEN_RESOLUTION:
            self.store.touch_session(session.id, now)
        return session

    def purge_expired_sessions(self) -> int:
        """Delete the sessions past their end (and claims run out); returns how
        many sessions there were."""
        self.store.purge_claims(self.clock())
        self.throttle.purge()
        return self.store.delete_expired_sessions(self.clock())

    def end_session(self, session_id: int) -> None:
        self.store.delete_session(session_id)
        self.broker.close_session(session_id, CLOSE_SESSION_GONE, "signed out")

    def _closed(self, session_ids: list[int], reason: str) -> int:
        """Close the ended sessions' sockets, on every relay."""
        for session_id in session_ids:
            self.broker.close_session(session_id, CLOSE_SESSION_GONE, reason)
        return len(session_ids)

    def devices(self, account_id: str) -> list[Device]:
        return self.store.devices(account_id)

    def end_device(self, account_id: str, session_id: int) -> bool:
        """Sign out one of the account's sessions; ``False`` if it has none with that id."""
        ended = self.store.delete_account_sessions(account_id, only=session_id)
        return self._closed(ended, "signed out") > 0

    def end_other_sessions(self, account_id: str, keep: int) -> int:
        """Sign out every session of the account but ``keep``; returns how many."""
        return self._closed(self.store.delete_account_sessions(account_id, keep=keep), "signed out")

    def check_password(self, account_id: str, password: str) -> bool:
        """Whether ``password`` is the account's, for changes that need it again.

        Failures count against the account's sign-in throttle, so a stolen
        session cannot be used to guess the password faster than signing in.
        """
        account = self.store.account_by_id(account_id)
        if account is None:
            return False
        # Counted as if from an address of its own: the session's tries at its
        # account are bounded like one address's, and add to the account's alarm.
        where = f"session-of:{account.id}"
        verdict = self.throttle.check(account.id, where)
        if verdict.refused:
            raise SignInRefused(verdict.retry_after)
        if not verify_password(password, account.password_hash):
            self.throttle.failed(account.id, where)
            return False
        return True

    def change_password(self, account_id: str, new_password: str, keep_session: int | None) -> int:
        """Set a new password and end every other session (their sockets close
        with 4401); returns how many sessions were ended."""
        if len(new_password) < 8:
            raise ValueError("the password must have at least 8 characters")
        ended = self.store.set_password(account_id, hash_password(new_password), keep_session)
        return self._closed(ended, "password changed")

    def sweep_sessions(self) -> int:
        """Close the sockets of sessions deleted behind the relay's back (``relay user
        passwd`` from another process); returns how many were closed."""
        open_ids = self.hub.session_ids()
        gone = open_ids - self.store.existing_session_ids(open_ids)
        # Only this relay's sockets: every relay sweeps its own.
        for session_id in sorted(gone):
            self.hub.close_session(session_id, CLOSE_SESSION_GONE, "signed out")
        return len(gone)

    def after_broker_gap(self) -> None:
        """The broker was away and may have missed changes and ended sessions:
        close the sockets of sessions that ended meanwhile, and send every other
        local socket a fresh snapshot, as on connect."""
        try:
            self.sweep_sessions()
            for account_id in self.hub.account_ids():
                try:
                    document = self.service.document(account_id)
                except AccountGone:
                    self.hub.close_account(account_id, CLOSE_SESSION_GONE, "account deleted")
                    continue
                message = orjson.dumps(live_message("snapshot", document)).decode()
                self.broker.deliver_snapshot(account_id, document["seq"], message)
        except Exception as exc:  # the database is away too: the sweep retries later
            log.warning("fresh snapshots after a broker gap failed: %s", type(exc).__name__)

    async def before_account_deleted(self, account_id: str) -> None:
        for hook in self.account_deletion_hooks:
            await hook(account_id)

    def delete_account(self, account_id: str) -> None:
        self.service.forget(account_id)
        self.store.delete_account(account_id)
        self.broker.close_account(account_id, CLOSE_SESSION_GONE, "account deleted")
