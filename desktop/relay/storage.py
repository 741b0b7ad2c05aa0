"""The relay's SQLite store: one file, WAL, versioned migrations.

Everything the relay persists goes through :class:`Store`; nothing else opens
the database. Calls are synchronous and short, made from the event loop's
thread, so a read-modify-write inside one method is never interleaved with
another request's. A deployment that outgrows one process replaces this class
(PostgreSQL), not its callers.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from desktop.core.availability import AccountAvailability, Effective, Override
from desktop.core.wire import iso, parse_iso

log = logging.getLogger(__name__)

DB_FILENAME: Final = "relay.sqlite3"

#: Versioned migrations: index + 1 is the schema version each one produces.
#: Append only; never edit one that has shipped.
MIGRATIONS: Final[tuple[str, ...]] = (
    """
    CREATE TABLE accounts (
        id            TEXT PRIMARY KEY,
        email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
        password_hash TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        seq           INTEGER NOT NULL DEFAULT 0,
        state         TEXT NOT NULL
    );
    CREATE TABLE sessions (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id   TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        token_hash   TEXT NOT NULL UNIQUE,
        device_name  TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        expires_at   TEXT NOT NULL
    );
    CREATE INDEX sessions_account ON sessions(account_id);
    """,
    """
    CREATE TABLE zoom_connections (
        account_id         TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
        zoom_user_id       TEXT UNIQUE,
        zoom_email         TEXT,
        state              TEXT NOT NULL,
        since              TEXT NOT NULL,
        api_url            TEXT,
        access_token       BLOB,
        refresh_token      BLOB,
        access_expires_at  TEXT,
        refresh_expires_at TEXT
    );
    CREATE TABLE oauth_states (
        state_hash    TEXT PRIMARY KEY,
        account_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        code_verifier BLOB NOT NULL,
        expires_at    TEXT NOT NULL
    );
    CREATE TABLE relay_meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # 3: when each session was last used, for the devices list (at most once a
    # minute per session, see Relay.session_for).
    """
    ALTER TABLE sessions ADD COLUMN last_seen_at TEXT;
    """,
    # 4: the start page of a Zoom connect (desktop/relay/zoom/start_page.py): the
    # ticket of its link, the sealed Zoom authorize URL it continues to, and the
    # hash of the binding cookie of the browser that opened it. It goes with its
    # OAuth state (used up, expired, dropped or its account deleted).
    """
    CREATE TABLE oauth_starts (
        ticket_hash   TEXT PRIMARY KEY,
        state_hash    TEXT NOT NULL UNIQUE
                      REFERENCES oauth_states(state_hash) ON DELETE CASCADE,
        authorize_url BLOB NOT NULL,
        binding_hash  TEXT
    );
    CREATE INDEX oauth_states_account ON oauth_states(account_id, expires_at);
    """,
    # 5: Zoom, held to what real Zoom does (issue 11): user ids match in any case;
    # when a connection began, to the millisecond (a late app_deauthorized from
    # before it must not end it); why a connection ended, in words; and the raw
    # presence status is no longer kept (only in_meeting and the event's time).
    """
    CREATE INDEX zoom_connections_user_nocase
        ON zoom_connections(zoom_user_id COLLATE NOCASE);
    ALTER TABLE zoom_connections ADD COLUMN connected_at_ms INTEGER;
    ALTER TABLE zoom_connections ADD COLUMN problem_code TEXT;
    ALTER TABLE zoom_connections ADD COLUMN problem_message TEXT;
    UPDATE accounts SET state = json_remove(state, '$.last_presence_status');
    """,
)


def private_dir(path: Path) -> None:
    """Create ``path`` if needed and make it the owner's alone (0700): it holds
    the database, its WAL and the key file."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def private_file(path: Path) -> None:
    """Create ``path`` if needed and make it the owner's alone (0600)."""
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    os.chmod(path, 0o600)


def durable_replace(temporary: Path, path: Path) -> None:
    """Rename ``temporary`` (already written and fsynced) over ``path``, then
    fsync the directory: until then a crash may bring the old file back."""
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class StorageError(RuntimeError):
    """The database cannot be used; the message says what to do about it."""


@dataclass(frozen=True)
class Account:
    id: str
    email: str
    password_hash: str


@dataclass(frozen=True)
class Session:
    id: int
    account_id: str
    email: str
    expires_at: datetime
    last_seen_at: datetime | None = None


@dataclass(frozen=True)
class Device:
    """One signed-in session as the devices list shows it: never its token."""

    id: int
    device_name: str
    created_at: datetime
    last_seen_at: datetime | None


@dataclass(frozen=True)
class ZoomSummary:
    email: str | None
    since: datetime | None
    #: ``{"code", "message"}`` when the connection ended for a reason to show.
    problem: dict[str, str] | None


@dataclass(frozen=True)
class StoredState:
    account_id: str
    email: str
    seq: int
    state: AccountAvailability


def state_to_json(state: AccountAvailability) -> str:
    override = state.override
    return json.dumps(
        {
            "ringer_on": state.ringer_on,
            "preferred": state.preferred,
            "auto_pause": state.auto_pause,
            "in_meeting": state.in_meeting,
            "in_meeting_since": iso(state.in_meeting_since),
            "override": None
            if override is None
            else {
                "value": override.value,
                "until": override.until,
                "ends_at": iso(override.ends_at),
            },
            "zoom_state": state.zoom_state,
            "last_presence_ts": state.last_presence_ts,
            "effective": [state.effective.availability, state.effective.reason],
            "effective_since": iso(state.effective_since),
        },
        separators=(",", ":"),
    )


def _time(value: Any) -> datetime | None:
    return parse_iso(value) if isinstance(value, str) else None


def state_from_json(text: str) -> AccountAvailability:
    raw = json.loads(text)
    override_raw = raw.get("override")
    override = (
        None
        if override_raw is None
        else Override(override_raw["value"], override_raw["until"], _time(override_raw["ends_at"]))
    )
    availability, reason = raw["effective"]
    return AccountAvailability(
        ringer_on=raw["ringer_on"],
        preferred=raw["preferred"],
        auto_pause=raw["auto_pause"],
        in_meeting=raw["in_meeting"],
        in_meeting_since=_time(raw.get("in_meeting_since")),
        override=override,
        zoom_state=raw["zoom_state"],
        last_presence_ts=raw.get("last_presence_ts"),
        effective=Effective(availability, reason),
        effective_since=_time(raw.get("effective_since")),
    )


class Store:
    """The relay's database. Open with :meth:`open`; close with :meth:`close`."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    @classmethod
    def open(cls, data_dir: Path) -> Store:
        """Open (creating if needed) the database in ``data_dir`` and migrate it.

        A file that is not a database, or one another process holds locked,
        raises :class:`StorageError` naming the file: never a silent reset.
        """
        path = data_dir / DB_FILENAME
        try:
            private_dir(data_dir)
            # SQLite gives the -wal and -shm files the database file's mode.
            private_file(path)
            for companion in ("-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.chmod(f"{path}{companion}", 0o600)
        except OSError as exc:
            raise StorageError(
                f"cannot make {data_dir} private to this user: {exc}. Check who owns it."
            ) from exc
        try:
            connection = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=5.0
            )
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA foreign_keys=ON")
            # Deleted rows are overwritten with zeros, not left in free space.
            connection.execute("PRAGMA secure_delete=ON")
            store = cls(connection, path)
            store._migrate()
        except sqlite3.DatabaseError as exc:
            raise StorageError(
                f"cannot use the relay database {path}: {exc}. If it is locked, stop the "
                "other relay using this data directory; if it is damaged, restore it from "
                "a backup or move it aside to start empty."
            ) from exc
        return store

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: committed when the block ends, rolled back on error."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _migrate(self) -> None:
        version: int = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StorageError(
                f"the database {self.path} has schema version {version}, newer than this "
                f"relay knows ({len(MIGRATIONS)}); run a newer relay"
            )
        for number in range(version, len(MIGRATIONS)):
            with self.transaction() as db:
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version={number + 1}")
            log.info("database migrated to schema version %d", number + 1)

    @property
    def schema_version(self) -> int:
        version: int = self._db.execute("PRAGMA user_version").fetchone()[0]
        return version

    # -- accounts -------------------------------------------------------------------------

    def add_account(self, email: str, password_hash: str, now: datetime) -> Account:
        account = Account(id=uuid.uuid4().hex, email=email, password_hash=password_hash)
        state = AccountAvailability(effective_since=now)
        try:
            with self.transaction() as db:
                db.execute(
                    "INSERT INTO accounts (id, email, password_hash, created_at, seq, state)"
                    " VALUES (?, ?, ?, ?, 0, ?)",
                    (account.id, email, password_hash, iso(now), state_to_json(state)),
                )
        except sqlite3.IntegrityError as exc:
            raise ValueError(f"an account for {email} already exists") from exc
        return account

    def account_by_email(self, email: str) -> Account | None:
        row = self._db.execute(
            "SELECT id, email, password_hash FROM accounts WHERE email = ?", (email,)
        ).fetchone()
        return None if row is None else Account(row["id"], row["email"], row["password_hash"])

    def set_password(
        self, account_id: str, password_hash: str, keep_session: int | None = None
    ) -> list[int]:
        """Set the password and end every session of the account but ``keep_session``,
        in one transaction; returns the ids of the sessions ended."""
        with self.transaction() as db:
            db.execute(
                "UPDATE accounts SET password_hash = ? WHERE id = ?", (password_hash, account_id)
            )
            rows = db.execute(
                "DELETE FROM sessions WHERE account_id = ? AND id IS NOT ? RETURNING id",
                (account_id, keep_session),
            ).fetchall()
        return [row[0] for row in rows]

    def account_by_id(self, account_id: str) -> Account | None:
        row = self._db.execute(
            "SELECT id, email, password_hash FROM accounts WHERE id = ?", (account_id,)
        ).fetchone()
        return None if row is None else Account(row["id"], row["email"], row["password_hash"])

    def delete_account(self, account_id: str) -> None:
        """Delete the account and everything of it; Zoom tokens go first."""
        with self.transaction() as db:
            db.execute(
                "UPDATE zoom_connections SET access_token = NULL, refresh_token = NULL"
                " WHERE account_id = ?",
                (account_id,),
            )
            db.execute("DELETE FROM zoom_connections WHERE account_id = ?", (account_id,))
            db.execute("DELETE FROM oauth_states WHERE account_id = ?", (account_id,))
            db.execute("DELETE FROM sessions WHERE account_id = ?", (account_id,))
            db.execute("DELETE FROM accounts WHERE id = ?", (account_id,))
        self.forget_old_pages()

    def make_durable(self) -> None:
        """Write every committed change into the database file and fsync it.

        With ``synchronous=NORMAL`` a commit in the WAL may be lost to a power
        cut; before something else relies on it for good (retiring the old
        token key), it must be in the database itself."""
        busy = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        if busy:
            raise StorageError(
                f"cannot write the WAL of {self.path} into the database: another process "
                "is reading it. Stop it and run the command again."
            )

    def forget_old_pages(self) -> None:
        """Copy the WAL into the database and empty it, so that the pages it held
        from before a deletion (the account's old rows) are gone from disk."""
        busy = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        if busy:
            log.warning("the WAL could not be emptied after a deletion; it will be later")

    def account_ids(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT id FROM accounts ORDER BY id")]

    # -- sessions -------------------------------------------------------------------------

    def add_session(
        self, account_id: str, token_hash: str, device_name: str, now: datetime, expires: datetime
    ) -> int:
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO sessions (account_id, token_hash, device_name, created_at,"
                " expires_at) VALUES (?, ?, ?, ?, ?)",
                (account_id, token_hash, device_name, iso(now), iso(expires)),
            )
            session_id = cursor.lastrowid
        assert session_id is not None
        return session_id

    def session_by_token_hash(self, token_hash: str) -> Session | None:
        row = self._db.execute(
            "SELECT s.id, s.account_id, s.expires_at, s.last_seen_at, a.email FROM sessions s"
            " JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = ?",
            (token_hash,),
        ).fetchone()
        if row is None:
            return None
        return Session(
            row["id"],
            row["account_id"],
            row["email"],
            parse_iso(row["expires_at"]),
            _time(row["last_seen_at"]),
        )

    def delete_session(self, session_id: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    def touch_session(self, session_id: int, now: datetime) -> None:
        with self.transaction() as db:
            db.execute("UPDATE sessions SET last_seen_at = ? WHERE id = ?", (iso(now), session_id))

    def devices(self, account_id: str) -> list[Device]:
        """The account's sessions, newest first."""
        rows = self._db.execute(
            "SELECT id, device_name, created_at, last_seen_at FROM sessions"
            " WHERE account_id = ? ORDER BY created_at DESC, id DESC",
            (account_id,),
        ).fetchall()
        return [
            Device(
                row["id"],
                row["device_name"],
                parse_iso(row["created_at"]),
                _time(row["last_seen_at"]),
            )
            for row in rows
        ]

    def delete_account_sessions(
        self, account_id: str, *, keep: int | None = None, only: int | None = None
    ) -> list[int]:
        """Delete the account's sessions (all, all but ``keep``, or just ``only``);
        returns the ids deleted, so their sockets can be closed."""
        with self.transaction() as db:
            rows = db.execute(
                "DELETE FROM sessions WHERE account_id = ? AND id IS NOT ?"
                " AND (? IS NULL OR id = ?) RETURNING id",
                (account_id, keep, only, only),
            ).fetchall()
        return [row[0] for row in rows]

    def existing_session_ids(self, session_ids: set[int]) -> set[int]:
        """Which of ``session_ids`` still exist (an admin command may have deleted some)."""
        if not session_ids:
            return set()
        marks = ",".join("?" * len(session_ids))
        rows = self._db.execute(
            f"SELECT id FROM sessions WHERE id IN ({marks})",  # noqa: S608 - only placeholders
            tuple(session_ids),
        ).fetchall()
        return {row[0] for row in rows}

    def delete_expired_sessions(self, now: datetime) -> int:
        with self.transaction() as db:
            return db.execute("DELETE FROM sessions WHERE expires_at <= ?", (iso(now),)).rowcount

    # -- availability state ---------------------------------------------------------------

    def load_state(self, account_id: str) -> StoredState | None:
        row = self._db.execute(
            "SELECT id, email, seq, state FROM accounts WHERE id = ?", (account_id,)
        ).fetchone()
        if row is None:
            return None
        return StoredState(row["id"], row["email"], row["seq"], state_from_json(row["state"]))

    def save_state(
        self, db: sqlite3.Connection, account_id: str, state: AccountAvailability
    ) -> int:
        """Write ``state`` inside an open transaction and return the account's new seq."""
        row = db.execute(
            "UPDATE accounts SET state = ?, seq = seq + 1 WHERE id = ? RETURNING seq",
            (state_to_json(state), account_id),
        ).fetchone()
        if row is None:
            raise LookupError(f"no account {account_id}")
        seq: int = row[0]
        return seq

    # -- small key/value facts about the relay itself -------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM relay_meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO relay_meta (key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection, for the Zoom vault's own statements in a transaction."""
        return self._db

    def zoom_summary(self, account_id: str) -> ZoomSummary:
        """The linked Zoom email, since when the connection is in its state, and
        why it ended (if it did for a reason the person must hear)."""
        row = self._db.execute(
            "SELECT zoom_email, since, problem_code, problem_message FROM zoom_connections"
            " WHERE account_id = ?",
            (account_id,),
        ).fetchone()
        if row is None:
            return ZoomSummary(None, None, None)
        problem = None
        if row["problem_code"]:
            problem = {"code": row["problem_code"], "message": row["problem_message"] or ""}
        return ZoomSummary(row["zoom_email"], _time(row["since"]), problem)

    def ping(self) -> None:
        try:
            self._db.execute("SELECT 1")
        except sqlite3.Error as exc:
            raise StorageError("the database does not answer") from exc
