"""The relay's store: the one object the rest of the relay persists through.

Calls are synchronous and short, made from the event loop's thread. A lone
read runs on its own (autocommit); a change runs in :meth:`Store.transaction`,
whose :class:`Transaction` carries the typed statements. A read through the
store while a transaction is open on this thread sees that transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.core.availability import AccountAvailability
from desktop.relay.storage.backend import Backend
from desktop.relay.storage.model import (
    Account,
    ConnectStart,
    Device,
    SealedGrant,
    Session,
    StorageError,
    StoredState,
    ZoomConnection,
    ZoomSummary,
)
from desktop.relay.storage.queries import Queries, Transaction
from desktop.relay.storage.sqlite import SQLiteBackend

if TYPE_CHECKING:
    import sqlite3

DB_FILENAME = "relay.sqlite3"
SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://")


def parse_database_url(url: str | None, data_dir: Path) -> tuple[str, str]:
    """``("sqlite", file path)`` or ``("postgresql", url)`` for a database URL;
    ``None`` or empty: the SQLite file in ``data_dir``."""
    if not url:
        return "sqlite", str(data_dir / DB_FILENAME)
    if url.startswith(SQLITE_PREFIX):
        path = url[len(SQLITE_PREFIX) - 1 :]
        if len(path) < 2:
            raise StorageError("a sqlite: database URL needs a file: sqlite:///abs/path")
        return "sqlite", path
    if url.startswith(POSTGRES_PREFIXES):
        return "postgresql", url
    raise StorageError(
        "PROFITRINGER_DATABASE_URL must start with sqlite:/// (then an absolute path) "
        "or postgresql://"
    )


class Store:
    """The relay's database. Open with :meth:`open`; close with :meth:`close`."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._open = threading.local()

    @classmethod
    def open(cls, data_dir: Path) -> Store:
        """Open (creating if needed) the SQLite database in ``data_dir`` and migrate it.

        A file that is not a database, or one another process holds locked,
        raises :class:`StorageError` naming the file: never a silent reset.
        """
        return cls(SQLiteBackend.open(data_dir / DB_FILENAME))

    @classmethod
    def open_url(
        cls, url: str | None, data_dir: Path, *, migrate: bool = True, durability: str = "normal"
    ) -> Store:
        """Open the store ``url`` names (``sqlite:///abs/path`` or ``postgresql://…``);
        ``None``: the SQLite file in ``data_dir``, as :meth:`open`. A SQLite file is
        always migrated; PostgreSQL only with ``migrate`` (else its version is checked).

        ``durability`` is what a commit promises. ``normal``: it survives the relay
        process being killed, but the last commits may roll back in a power cut or
        an OS crash (SQLite ``synchronous=NORMAL``; PostgreSQL ``synchronous_commit
        = off``, whose server writes its WAL out within a few hundred ms). ``full``:
        it is on disk when the commit returns (SQLite ``synchronous=FULL``;
        PostgreSQL ``synchronous_commit = on``)."""
        kind, where = parse_database_url(url, data_dir)
        if kind == "sqlite":
            return cls(SQLiteBackend.open(Path(where), durability=durability))
        from desktop.relay.storage.postgres import PostgresBackend

        return cls(PostgresBackend.open(where, migrate=migrate, durability=durability))

    @property
    def shared(self) -> bool:
        """Whether other relays may use this database at the same time (PostgreSQL)."""
        return not isinstance(self.backend, SQLiteBackend)

    @property
    def where(self) -> str:
        """Where the data is, for messages (never a password)."""
        return self.backend.where

    @property
    def path(self) -> Path:
        """The SQLite file (the SQLite backend only)."""
        if not isinstance(self.backend, SQLiteBackend):
            raise StorageError("this store is not a SQLite file")
        return self.backend.path

    @property
    def connection(self) -> sqlite3.Connection:
        """The raw SQLite connection, for tests and diagnostics only: the relay
        itself speaks only through the store's methods."""
        if not isinstance(self.backend, SQLiteBackend):
            raise StorageError("this store is not a SQLite file")
        return self.backend.connection

    def close(self) -> None:
        self.backend.close()

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One atomic write: committed when the block ends, rolled back on error."""
        if getattr(self._open, "tx", None) is not None:
            raise RuntimeError("a transaction is already open on this thread")
        with self.backend.writing() as executor:
            tx = Transaction(executor)
            self._open.tx = tx
            try:
                yield tx
            finally:
                self._open.tx = None

    @contextmanager
    def _reading(self) -> Iterator[Queries]:
        tx: Transaction | None = getattr(self._open, "tx", None)
        if tx is not None:
            yield tx
            return
        with self.backend.reading() as executor:
            yield Queries(executor)

    @property
    def schema_version(self) -> int:
        return self.backend.schema_version

    def ping(self) -> None:
        """A cheap ``SELECT 1``; raises :class:`StorageError` if the database does
        not answer (for ``/readyz``)."""
        self.backend.ping()

    def make_durable(self) -> None:
        """Every committed change on stable storage, before something relies on it
        for good (retiring the old token key)."""
        self.backend.make_durable()

    def forget_old_pages(self) -> None:
        """Drop what the database may still hold on disk from before a deletion."""
        self.backend.forget_old_pages()

    # -- accounts -------------------------------------------------------------------------

    def add_account(self, email: str, password_hash: str, now: datetime) -> Account:
        with self.transaction() as tx:
            return tx.add_account(email, password_hash, now)

    def account_by_email(self, email: str) -> Account | None:
        with self._reading() as q:
            return q.account_by_email(email)

    def account_by_id(self, account_id: str) -> Account | None:
        with self._reading() as q:
            return q.account_by_id(account_id)

    def set_password(
        self, account_id: str, password_hash: str, keep_session: int | None = None
    ) -> list[int]:
        """Set the password and end every session of the account but ``keep_session``,
        in one transaction; returns the ids of the sessions ended."""
        with self.transaction() as tx:
            tx.set_password_hash(account_id, password_hash)
            return tx.delete_account_sessions(account_id, keep=keep_session)

    def delete_account(self, account_id: str) -> None:
        """Delete the account and everything of it; Zoom tokens go first."""
        with self.transaction() as tx:
            tx.delete_account(account_id)
        self.forget_old_pages()

    def account_ids(self) -> list[str]:
        with self._reading() as q:
            return q.account_ids()

    # -- sessions -------------------------------------------------------------------------

    def add_session(
        self, account_id: str, token_hash: str, device_name: str, now: datetime, expires: datetime
    ) -> int:
        with self.transaction() as tx:
            return tx.add_session(account_id, token_hash, device_name, now, expires)

    def session_by_token_hash(self, token_hash: str) -> Session | None:
        with self._reading() as q:
            return q.session_by_token_hash(token_hash)

    def delete_session(self, session_id: int) -> None:
        with self.transaction() as tx:
            tx.delete_session(session_id)

    def touch_session(self, session_id: int, now: datetime) -> None:
        with self.transaction() as tx:
            tx.touch_session(session_id, now)

    def devices(self, account_id: str) -> list[Device]:
        """The account's sessions, newest first."""
        with self._reading() as q:
            return q.devices(account_id)

    def delete_account_sessions(
        self, account_id: str, *, keep: int | None = None, only: int | None = None
    ) -> list[int]:
        """Delete the account's sessions (all, all but ``keep``, or just ``only``);
        returns the ids deleted, so their sockets can be closed."""
        with self.transaction() as tx:
            return tx.delete_account_sessions(account_id, keep=keep, only=only)

    def existing_session_ids(self, session_ids: set[int]) -> set[int]:
        """Which of ``session_ids`` still exist (an admin command may have deleted some)."""
        with self._reading() as q:
            return q.existing_session_ids(session_ids)

    def delete_expired_sessions(self, now: datetime) -> int:
        with self.transaction() as tx:
            return tx.delete_expired_sessions(now)

    # -- availability state ---------------------------------------------------------------

    def load_state(self, account_id: str) -> StoredState | None:
        with self._reading() as q:
            return q.load_state(account_id)

    def save_state(self, tx: Transaction, account_id: str, state: AccountAvailability) -> int:
        """Write ``state`` inside an open transaction and return the account's new seq."""
        return tx.save_state(account_id, state)

    # -- small key/value facts about the relay itself -------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._reading() as q:
            return q.get_meta(key)

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as tx:
            tx.set_meta(key, value)

    # -- Zoom -----------------------------------------------------------------------------

    def zoom_summary(self, account_id: str) -> ZoomSummary:
        """The linked Zoom email, since when the connection is in its state, and
        why it ended (if it did for a reason the person must hear)."""
        with self._reading() as q:
            return q.zoom_summary(account_id)

    def zoom_connection(self, account_id: str) -> ZoomConnection | None:
        with self._reading() as q:
            return q.zoom_connection(account_id)

    def zoom_by_user(self, zoom_user_id: str) -> ZoomConnection | None:
        with self._reading() as q:
            return q.zoom_by_user(zoom_user_id)

    def zoom_connected(self) -> list[ZoomConnection]:
        with self._reading() as q:
            return q.zoom_connected()

    def replace_zoom_tokens(
        self, account_id: str, still_ours: Callable[[bytes], bool], grant: SealedGrant
    ) -> bool:
        with self.transaction() as tx:
            return tx.replace_zoom_tokens(account_id, still_ours, grant)

    def add_oauth_state(
        self,
        state_hash: str,
        account_id: str,
        sealed_verifier: bytes,
        expires_at: datetime,
        now: datetime,
    ) -> None:
        with self.transaction() as tx:
            tx.add_oauth_state(state_hash, account_id, sealed_verifier, expires_at, now)

    def take_oauth_state(self, state_hash: str) -> tuple[str, bytes, datetime] | None:
        """Delete the state and return ``(account_id, sealed verifier, expires_at)``."""
        with self.transaction() as tx:
            return tx.take_oauth_state(state_hash)

    def add_connect_start(
        self,
        ticket_hash: str,
        state_hash: str,
        sealed_url: bytes,
        account_id: str,
        keep: int,
        now: datetime,
    ) -> None:
        with self.transaction() as tx:
            tx.add_connect_start(ticket_hash, state_hash, sealed_url, account_id, keep, now)

    def connect_start(self, ticket_hash: str) -> ConnectStart | None:
        with self._reading() as q:
            return q.connect_start(ticket_hash)

    def bind_connect_start(self, ticket_hash: str, binding_hash: str) -> bool:
        with self.transaction() as tx:
            return tx.bind_connect_start(ticket_hash, binding_hash)

    def connect_binding(self, state_hash: str) -> tuple[str | None] | None:
        with self._reading() as q:
            return q.connect_binding(state_hash)

    def purge_oauth_states(self, now: datetime) -> int:
        with self.transaction() as tx:
            return tx.purge_oauth_states(now)

    def next_oauth_expiry(self) -> datetime | None:
        with self._reading() as q:
            return q.next_oauth_expiry()

    # -- claims ---------------------------------------------------------------------------

    def take_claim(self, name: str, holder: str, now: datetime, until: datetime) -> bool:
        with self.transaction() as tx:
            return tx.take_claim(name, holder, _ms(now), _ms(until))

    def claim_of(self, name: str) -> tuple[str, datetime] | None:
        with self._reading() as q:
            claim = q.claim_of(name)
        if claim is None:
            return None
        return claim[0], datetime.fromtimestamp(claim[1] / 1000, tz=UTC)

    def release_claim(self, name: str, holder: str) -> None:
        with self.transaction() as tx:
            tx.release_claim(name, holder)

    def purge_claims(self, now: datetime) -> int:
        with self.transaction() as tx:
            return tx.purge_claims(_ms(now))

    # -- sign-in failures (throttle.py) ---------------------------------------------------

    def signin_failures(self, keys: list[str], since_ms: int) -> dict[str, tuple[int, int]]:
        with self._reading() as q:
            return q.signin_failures(keys, since_ms)

    def add_signin_failures(
        self, counters: list[tuple[str, str | None]], now_ms: int, since_ms: int
    ) -> None:
        """One more failure on each ``(key, account)`` counter, in one transaction."""
        with self.transaction() as tx:
            for key, account in counters:
                tx.add_signin_failure(key, account, now_ms, since_ms)

    def forget_signin_failures(self, key: str) -> None:
        with self.transaction() as tx:
            tx.forget_signin_failures(key)

    def forget_account_signin_failures(self, account_id: str) -> int:
        with self.transaction() as tx:
            return tx.forget_account_signin_failures(account_id)

    def count_signin_failures(self) -> int:
        with self._reading() as q:
            return q.count_signin_failures()

    def purge_signin_failures(self, since_ms: int, keep: int) -> int:
        with self.transaction() as tx:
            return tx.purge_signin_failures(since_ms, keep)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
