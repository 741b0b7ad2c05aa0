"""The Zoom tables of the relay's database: connections and pending OAuth states.

Statements run on the store's connection; the ``*_in`` methods take the open
transaction of an availability change (so the row and the state commit
together), the others open their own. Secrets arrive and leave sealed (bytes
from the vault); this module never sees a token in clear.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime

from desktop.core.wire import iso, parse_iso
from desktop.relay.storage import Store


class LinkConflict(Exception):
    """The Zoom user is already linked to another account."""


@dataclass(frozen=True)
class Connection:
    account_id: str
    zoom_user_id: str | None
    zoom_email: str | None
    state: str
    api_url: str | None
    access_token: bytes | None = field(repr=False)
    refresh_token: bytes | None = field(repr=False)
    access_expires_at: datetime | None
    refresh_expires_at: datetime | None
    #: When this connection was made (Unix ms); ``None`` for rows from before it was kept.
    connected_at_ms: int | None = None

    @property
    def usable(self) -> bool:
        return (
            self.state == "connected"
            and self.access_token is not None
            and self.refresh_token is not None
        )


@dataclass(frozen=True)
class SealedGrant:
    """A token pair as stored: sealed secrets and when each runs out."""

    access_token: bytes = field(repr=False)
    refresh_token: bytes = field(repr=False)
    access_expires_at: datetime
    refresh_expires_at: datetime
    api_url: str | None


def _time(value: object) -> datetime | None:
    return parse_iso(value) if isinstance(value, str) else None


def _connection(row: sqlite3.Row) -> Connection:
    return Connection(
        account_id=row["account_id"],
        zoom_user_id=row["zoom_user_id"],
        zoom_email=row["zoom_email"],
        state=row["state"],
        api_url=row["api_url"],
        access_token=row["access_token"],
        refresh_token=row["refresh_token"],
        access_expires_at=_time(row["access_expires_at"]),
        refresh_expires_at=_time(row["refresh_expires_at"]),
        connected_at_ms=row["connected_at_ms"],
    )


_COLUMNS = (
    "account_id, zoom_user_id, zoom_email, state, api_url, access_token, refresh_token,"
    " access_expires_at, refresh_expires_at, connected_at_ms"
)


class ZoomRows:
    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def _db(self) -> sqlite3.Connection:
        return self.store.connection

    # -- connections ----------------------------------------------------------------------

    def get(self, account_id: str) -> Connection | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM zoom_connections WHERE account_id = ?",  # noqa: S608
            (account_id,),
        ).fetchone()
        return None if row is None else _connection(row)

    def by_zoom_user(self, zoom_user_id: str) -> Connection | None:
        """The connection linked to this Zoom user id, matched in any case (a field
        report says Zoom's webhooks carry the id lowercased)."""
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM zoom_connections"  # noqa: S608
            " WHERE zoom_user_id = ? COLLATE NOCASE",
            (zoom_user_id,),
        ).fetchone()
        return None if row is None else _connection(row)

    def connected(self) -> list[Connection]:
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM zoom_connections"  # noqa: S608
            " WHERE state = 'connected' AND refresh_token IS NOT NULL ORDER BY account_id"
        ).fetchall()
        return [_connection(row) for row in rows]

    def link_in(
        self,
        db: sqlite3.Connection,
        account_id: str,
        zoom_user_id: str,
        zoom_email: str,
        grant: SealedGrant,
        now: datetime,
    ) -> None:
        """Record a new connection (replacing the account's old one). The Zoom user
        must be free: end another account's link to it first."""
        other = db.execute(
            "SELECT account_id FROM zoom_connections"
            " WHERE zoom_user_id = ? COLLATE NOCASE AND account_id != ?",
            (zoom_user_id, account_id),
        ).fetchone()
        if other is not None:
            raise LinkConflict(zoom_user_id)
        db.execute(
            f"INSERT INTO zoom_connections ({_COLUMNS}, since)"  # noqa: S608
            " VALUES (?, ?, ?, 'connected', ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(account_id) DO UPDATE SET zoom_user_id = excluded.zoom_user_id,"
            " zoom_email = excluded.zoom_email, state = 'connected', since = excluded.since,"
            " api_url = excluded.api_url, access_token = excluded.access_token,"
            " refresh_token = excluded.refresh_token,"
            " access_expires_at = excluded.access_expires_at,"
            " refresh_expires_at = excluded.refresh_expires_at,"
            " connected_at_ms = excluded.connected_at_ms,"
            " problem_code = NULL, problem_message = NULL",
            (
                account_id,
                zoom_user_id,
                zoom_email,
                grant.api_url,
                grant.access_token,
                grant.refresh_token,
                iso(grant.access_expires_at),
                iso(grant.refresh_expires_at),
                int(now.timestamp() * 1000),
                iso(now),
            ),
        )

    def replace_tokens(self, account_id: str, old_refresh_token: bytes, grant: SealedGrant) -> bool:
        """Store a refreshed pair, only if the row still holds ``old_refresh_token``
        (it may have been disconnected or reconnected during the refresh)."""
        with self.store.transaction() as db:
            cursor = db.execute(
                "UPDATE zoom_connections SET access_token = ?, refresh_token = ?,"
                " access_expires_at = ?, refresh_expires_at = ?, api_url = ?"
                " WHERE account_id = ? AND state = 'connected' AND refresh_token = ?",
                (
                    grant.access_token,
                    grant.refresh_token,
                    iso(grant.access_expires_at),
                    iso(grant.refresh_expires_at),
                    grant.api_url,
                    account_id,
                    old_refresh_token,
                ),
            )
            return cursor.rowcount == 1

    def end_in(
        self,
        db: sqlite3.Connection,
        account_id: str,
        state: str,
        now: datetime,
        problem: tuple[str, str] | None = None,
    ) -> None:
        """Delete the tokens and unlink the Zoom user; ``state`` is disconnected or
        expired (an expired connection keeps its email so the UI can name it).
        ``problem`` is ``(code, message)`` when the person must hear why; a row is
        made for it if the account never had one."""
        code, message = problem if problem is not None else (None, None)
        db.execute(
            "INSERT INTO zoom_connections (account_id, state, since, problem_code,"
            " problem_message) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(account_id) DO UPDATE SET access_token = NULL, refresh_token = NULL,"
            " access_expires_at = NULL, refresh_expires_at = NULL, api_url = NULL,"
            " zoom_user_id = NULL, connected_at_ms = NULL, state = excluded.state,"
            " since = excluded.since, problem_code = excluded.problem_code,"
            " problem_message = excluded.problem_message,"
            " zoom_email = CASE WHEN excluded.state = 'expired' THEN zoom_email END",
            (account_id, state, iso(now), code, message),
        )

    # -- OAuth states -----------------------------------------------------------------------

    def add_oauth_state(
        self,
        state_hash: str,
        account_id: str,
        sealed_verifier: bytes,
        expires_at: datetime,
        now: datetime,
    ) -> None:
        with self.store.transaction() as db:
            db.execute("DELETE FROM oauth_states WHERE expires_at <= ?", (iso(now),))
            db.execute(
                "INSERT INTO oauth_states (state_hash, account_id, code_verifier, expires_at)"
                " VALUES (?, ?, ?, ?)",
                (state_hash, account_id, sealed_verifier, iso(expires_at)),
            )

    def take_oauth_state(self, state_hash: str) -> tuple[str, bytes, datetime] | None:
        """Delete the state and return ``(account_id, sealed verifier, expires_at)``."""
        with self.store.transaction() as db:
            rows = db.execute(
                "DELETE FROM oauth_states WHERE state_hash = ?"
                " RETURNING account_id, code_verifier, expires_at",
                (state_hash,),
            ).fetchall()
        if not rows:
            return None
        row = rows[0]
        expires = _time(row[2])
        assert expires is not None
        return row[0], row[1], expires
