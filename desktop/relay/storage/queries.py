"""Every statement the relay runs, as typed methods over one connection.

:class:`Queries` reads and writes through an :class:`Executor` (the open
transaction, or an autocommit connection for a lone read); :class:`Transaction`
is the one handed out by ``Store.transaction()``: a change and what goes with
it (Zoom rows, say) commit together or not at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping
from datetime import datetime

from desktop.core.availability import AccountAvailability
from desktop.core.wire import ZoomProblemJson, iso, parse_iso
from desktop.relay.storage.backend import Duplicate, Executor, Row
from desktop.relay.storage.model import (
    Account,
    ConnectStart,
    Device,
    LinkConflict,
    SealedGrant,
    Session,
    StoredState,
    ZoomConnection,
    ZoomSummary,
    state_from_json,
    state_to_json,
    time_or_none,
)

_ZOOM_COLUMNS = (
    "account_id, zoom_user_id, zoom_email, state, api_url, access_token, refresh_token,"
    " access_expires_at, refresh_expires_at, connected_at_ms"
)


def _bytes(value: object) -> bytes | None:
    """A BLOB/bytea as bytes (psycopg may hand out a memoryview)."""
    if value is None:
        return None
    return bytes(value) if isinstance(value, (bytes, bytearray, memoryview)) else None


def _summary(row: Row) -> ZoomSummary:
    """A :class:`ZoomSummary` of ``(zoom_email, since, problem_code, problem_message)``."""
    problem: ZoomProblemJson | None = None
    if row[2]:
        problem = {"code": row[2], "message": row[3] or ""}
    return ZoomSummary(row[0], time_or_none(row[1]), problem)


def _zoom(row: Row) -> ZoomConnection:
    return ZoomConnection(
        account_id=row[0],
        zoom_user_id=row[1],
        zoom_email=row[2],
        state=row[3],
        api_url=row[4],
        access_token=_bytes(row[5]),
        refresh_token=_bytes(row[6]),
        access_expires_at=time_or_none(row[7]),
        refresh_expires_at=time_or_none(row[8]),
        connected_at_ms=None if row[9] is None else int(row[9]),
    )


class Queries:
    def __init__(self, executor: Executor) -> None:
        self._q = executor
        self._d = executor.dialect

    def _sql(self, sql: str) -> str:
        return self._d.translate(sql)

    def _all(self, sql: str, params: tuple[object, ...] = ()) -> list[Row]:
        return self._q.all(self._sql(sql), params)

    def _one(self, sql: str, params: tuple[object, ...] = ()) -> Row | None:
        return self._q.one(self._sql(sql), params)

    def _run(self, sql: str, params: tuple[object, ...] = ()) -> int:
        return self._q.run(self._sql(sql), params)

    # -- accounts -------------------------------------------------------------------------

    def add_account(self, email: str, password_hash: str, now: datetime) -> Account:
        account = Account(id=uuid.uuid4().hex, email=email, password_hash=password_hash)
        state = AccountAvailability(effective_since=now)
        try:
            self._run(
                "INSERT INTO accounts (id, email, password_hash, created_at, seq, state)"
                " VALUES (?, ?, ?, ?, 0, ?)",
                (account.id, email, password_hash, iso(now), state_to_json(state)),
            )
        except Duplicate as exc:
            raise ValueError(f"an account for {email} already exists") from exc
        return account

    def account_by_email(self, email: str) -> Account | None:
        row = self._one(
            "SELECT id, email, password_hash FROM accounts WHERE "
            + self._d.equals_any_case("email"),
            (email,),
        )
        return None if row is None else Account(row[0], row[1], row[2])

    def account_by_id(self, account_id: str) -> Account | None:
        row = self._one("SELECT id, email, password_hash FROM accounts WHERE id = ?", (account_id,))
        return None if row is None else Account(row[0], row[1], row[2])

    def set_password_hash(self, account_id: str, password_hash: str) -> None:
        self._run("UPDATE accounts SET password_hash = ? WHERE id = ?", (password_hash, account_id))

    def delete_account(self, account_id: str) -> None:
        """Delete the account and everything of it; Zoom tokens go first."""
        self._run(
            "UPDATE zoom_connections SET access_token = NULL, refresh_token = NULL"
            " WHERE account_id = ?",
            (account_id,),
        )
        self._run("DELETE FROM zoom_connections WHERE account_id = ?", (account_id,))
        self._run("DELETE FROM oauth_states WHERE account_id = ?", (account_id,))
        self._run("DELETE FROM sessions WHERE account_id = ?", (account_id,))
        self._run("DELETE FROM accounts WHERE id = ?", (account_id,))

    def account_ids(self) -> list[str]:
        return [row[0] for row in self._all("SELECT id FROM accounts ORDER BY id")]

    # -- sessions -------------------------------------------------------------------------

    def add_session(
        self, account_id: str, token_hash: str, device_name: str, now: datetime, expires: datetime
    ) -> int:
        row = self._one(
            "INSERT INTO sessions (account_id, token_hash, device_name, created_at,"
            " expires_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
            (account_id, token_hash, device_name, iso(now), iso(expires)),
        )
        assert row is not None
        return int(row[0])

    def session_by_token_hash(self, token_hash: str) -> Session | None:
        row = self._one(
            "SELECT s.id, s.account_id, s.expires_at, s.last_seen_at, a.email FROM sessions s"
            " JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = ?",
            (token_hash,),
        )
        if row is None:
            return None
        return Session(int(row[0]), row[1], row[4], parse_iso(row[2]), time_or_none(row[3]))

    def delete_session(self, session_id: int) -> None:
        self._run("DELETE FROM sessions WHERE id = ?", (session_id,))

    def touch_session(self, session_id: int, now: datetime) -> None:
        self._run("UPDATE sessions SET last_seen_at = ? WHERE id = ?", (iso(now), session_id))

    def devices(self, account_id: str) -> list[Device]:
        """The account's sessions, newest first."""
        rows = self._all(
            "SELECT id, device_name, created_at, last_seen_at FROM sessions"
            " WHERE account_id = ? ORDER BY created_at DESC, id DESC",
            (account_id,),
        )
        return [
            Device(int(row[0]), row[1], parse_iso(row[2]), time_or_none(row[3])) for row in rows
        ]

    def delete_account_sessions(
        self, account_id: str, *, keep: int | None = None, only: int | None = None
    ) -> list[int]:
        """Delete the account's sessions (all, all but ``keep``, or just ``only``);
        returns the ids deleted, so their sockets can be closed."""
        sql = "DELETE FROM sessions WHERE account_id = ?"
        params: list[object] = [account_id]
        if keep is not None:
            sql += " AND id != ?"
            params.append(keep)
        if only is not None:
            sql += " AND id = ?"
            params.append(only)
        return [int(row[0]) for row in self._all(sql + " RETURNING id", tuple(params))]

    def existing_session_ids(self, session_ids: set[int]) -> set[int]:
        """Which of ``session_ids`` still exist (an admin command may have deleted some)."""
        if not session_ids:
            return set()
        marks = ",".join("?" * len(session_ids))
        rows = self._all(
            f"SELECT id FROM sessions WHERE id IN ({marks})",
            tuple(session_ids),
        )
        return {int(row[0]) for row in rows}

    def delete_expired_sessions(self, now: datetime) -> int:
        return self._run("DELETE FROM sessions WHERE expires_at <= ?", (iso(now),))

    # -- availability state ---------------------------------------------------------------

    def load_state(self, account_id: str) -> StoredState | None:
        row = self._one("SELECT id, email, seq, state FROM accounts WHERE id = ?", (account_id,))
        if row is None:
            return None
        return StoredState(row[0], row[1], int(row[2]), state_from_json(row[3]))

    def save_state(self, account_id: str, state: AccountAvailability) -> int:
        """Write ``state`` and return the account's new seq."""
        row = self._one(
            "UPDATE accounts SET state = ?, seq = seq + 1 WHERE id = ? RETURNING seq",
            (state_to_json(state), account_id),
        )
        if row is None:
            raise LookupError(f"no account {account_id}")
        return int(row[0])

    # -- small key/value facts about the relay itself -------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM relay_meta WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._run(
            "INSERT INTO relay_meta (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- Zoom connections -----------------------------------------------------------------

    def zoom_summary(self, account_id: str) -> ZoomSummary:
        """The linked Zoom email, since when the connection is in its state, and
        why it ended (if it did for a reason the person must hear)."""
        row = self._one(
            "SELECT zoom_email, since, problem_code, problem_message FROM zoom_connections"
            " WHERE account_id = ?",
            (account_id,),
        )
        if row is None:
            return ZoomSummary(None, None, None)
        return _summary(row)

    def zoom_connection(self, account_id: str) -> ZoomConnection | None:
        row = self._one(
            f"SELECT {_ZOOM_COLUMNS} FROM zoom_connections WHERE account_id = ?",
            (account_id,),
        )
        return None if row is None else _zoom(row)

    def zoom_by_user(self, zoom_user_id: str) -> ZoomConnection | None:
        """The connection linked to this Zoom user id, matched in any case (a field
        report says Zoom's webhooks carry the id lowercased)."""
        row = self._one(
            f"SELECT {_ZOOM_COLUMNS} FROM zoom_connections WHERE "
            + self._d.equals_any_case("zoom_user_id"),
            (zoom_user_id,),
        )
        return None if row is None else _zoom(row)

    def zoom_connected(self) -> list[ZoomConnection]:
        rows = self._all(
            f"SELECT {_ZOOM_COLUMNS} FROM zoom_connections"
            " WHERE state = 'connected' AND refresh_token IS NOT NULL ORDER BY account_id"
        )
        return [_zoom(row) for row in rows]

    def link_zoom(
        self,
        account_id: str,
        zoom_user_id: str,
        zoom_email: str,
        grant: SealedGrant,
        now: datetime,
    ) -> None:
        """Record a new connection (replacing the account's old one). The Zoom user
        must be free: end another account's link to it first."""
        other = self._one(
            "SELECT account_id FROM zoom_connections WHERE "
            + self._d.equals_any_case("zoom_user_id")
            + " AND account_id != ?",
            (zoom_user_id, account_id),
        )
        if other is not None:
            raise LinkConflict(zoom_user_id)
        self._run(
            f"INSERT INTO zoom_connections ({_ZOOM_COLUMNS}, since)"
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

    def replace_zoom_tokens(
        self, account_id: str, still_ours: Callable[[bytes], bool], grant: SealedGrant
    ) -> bool:
        """Store a refreshed pair, only if the row is still connected and
        ``still_ours(its sealed refresh token)`` (it may have been disconnected or
        reconnected during the refresh; a key rotation may have re-sealed it)."""
        row = self._one(
            "SELECT refresh_token FROM zoom_connections"
            " WHERE account_id = ? AND state = 'connected'" + self._d.for_update,
            (account_id,),
        )
        current = None if row is None else _bytes(row[0])
        if current is None or not still_ours(current):
            return False
        changed = self._run(
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
                current,
            ),
        )
        return changed == 1

    def end_zoom(
        self,
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
        self._run(
            "INSERT INTO zoom_connections (account_id, state, since, problem_code,"
            " problem_message) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(account_id) DO UPDATE SET access_token = NULL, refresh_token = NULL,"
            " access_expires_at = NULL, refresh_expires_at = NULL, api_url = NULL,"
            " zoom_user_id = NULL, connected_at_ms = NULL, state = excluded.state,"
            " since = excluded.since, problem_code = excluded.problem_code,"
            " problem_message = excluded.problem_message,"
            " zoom_email = CASE WHEN excluded.state = 'expired'"
            " THEN zoom_connections.zoom_email END",
            (account_id, state, iso(now), code, message),
        )

    # -- OAuth states and the start pages of pending connects -----------------------------

    def add_oauth_state(
        self,
        state_hash: str,
        account_id: str,
        sealed_verifier: bytes,
        expires_at: datetime,
        now: datetime,
    ) -> None:
        self._run("DELETE FROM oauth_states WHERE expires_at <= ?", (iso(now),))
        self._run(
            "INSERT INTO oauth_states (state_hash, account_id, code_verifier, expires_at)"
            " VALUES (?, ?, ?, ?)",
            (state_hash, account_id, sealed_verifier, iso(expires_at)),
        )

    def take_oauth_state(self, state_hash: str) -> tuple[str, bytes, datetime] | None:
        """Delete the state and return ``(account_id, sealed verifier, expires_at)``."""
        row = self._one(
            "DELETE FROM oauth_states WHERE state_hash = ?"
            " RETURNING account_id, code_verifier, expires_at",
            (state_hash,),
        )
        if row is None:
            return None
        verifier = _bytes(row[1])
        assert verifier is not None
        return row[0], verifier, parse_iso(row[2])

    def add_connect_start(
        self,
        ticket_hash: str,
        state_hash: str,
        sealed_url: bytes,
        account_id: str,
        keep: int,
        now: datetime,
    ) -> None:
        """Record the start page of a pending connect; keep only the account's
        ``keep`` newest pending connects, and drop any expired ones."""
        self._run(
            "INSERT INTO oauth_starts (ticket_hash, state_hash, authorize_url) VALUES (?, ?, ?)",
            (ticket_hash, state_hash, sealed_url),
        )
        made = self._d.made_column
        self._run(
            "DELETE FROM oauth_states WHERE account_id = ? AND state_hash NOT IN"
            " (SELECT state_hash FROM oauth_states WHERE account_id = ?"
            f"  ORDER BY expires_at DESC, {made} DESC LIMIT ?)",
            (account_id, account_id, keep),
        )
        self._run("DELETE FROM oauth_states WHERE expires_at <= ?", (iso(now),))

    def connect_start(self, ticket_hash: str) -> ConnectStart | None:
        row = self._one(
            "SELECT s.authorize_url, s.binding_hash, o.expires_at, a.email FROM oauth_starts s"
            " JOIN oauth_states o ON o.state_hash = s.state_hash"
            " JOIN accounts a ON a.id = o.account_id WHERE s.ticket_hash = ?",
            (ticket_hash,),
        )
        if row is None:
            return None
        url = _bytes(row[0])
        assert url is not None
        return ConnectStart(url, row[1], parse_iso(row[2]), row[3])

    def bind_connect_start(self, ticket_hash: str, binding_hash: str) -> bool:
        """Bind the start page to a browser, if no browser is bound to it yet."""
        bound = self._run(
            "UPDATE oauth_starts SET binding_hash = ?"
            " WHERE ticket_hash = ? AND binding_hash IS NULL",
            (binding_hash, ticket_hash),
        )
        return bound == 1

    def connect_binding(self, state_hash: str) -> tuple[str | None] | None:
        """``None`` for an unknown OAuth state, else ``(binding hash or None,)``."""
        row = self._one(
            "SELECT s.binding_hash FROM oauth_states o"
            " LEFT JOIN oauth_starts s ON s.state_hash = o.state_hash WHERE o.state_hash = ?",
            (state_hash,),
        )
        return None if row is None else (row[0],)

    def purge_oauth_states(self, now: datetime) -> int:
        return self._run("DELETE FROM oauth_states WHERE expires_at <= ?", (iso(now),))

    def next_oauth_expiry(self) -> datetime | None:
        row = self._one("SELECT MIN(expires_at) FROM oauth_states")
        return None if row is None or row[0] is None else parse_iso(row[0])

    # -- claims: who does a piece of work, until when ----------------------------------------

    def take_claim(self, name: str, holder: str, now_ms: int, until_ms: int) -> bool:
        """Claim ``name`` for ``holder`` until ``until_ms`` if nobody holds it, its
        claim has run out, or ``holder`` holds it already; whether it did."""
        row = self._one(
            "INSERT INTO claims (name, holder, until_ms) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
            " until_ms = excluded.until_ms"
            " WHERE claims.until_ms <= ? OR claims.holder = excluded.holder"
            " RETURNING holder",
            (name, holder, until_ms, now_ms),
        )
        return row is not None

    def claim_of(self, name: str) -> tuple[str, int] | None:
        """``(holder, until_ms)`` of the claim on ``name``, if there is one."""
        row = self._one("SELECT holder, until_ms FROM claims WHERE name = ?", (name,))
        return None if row is None else (str(row[0]), int(row[1]))

    def release_claim(self, name: str, holder: str) -> None:
        self._run("DELETE FROM claims WHERE name = ? AND holder = ?", (name, holder))

    def purge_claims(self, now_ms: int) -> int:
        return self._run("DELETE FROM claims WHERE until_ms <= ?", (now_ms,))

    # -- sign-in failures (throttle.py) ---------------------------------------------------

    def signin_failures(self, keys: list[str], since_ms: int) -> dict[str, tuple[int, int]]:
        """``key -> (failures, window start)`` of the counters among ``keys`` whose
        window started after ``since_ms``."""
        marks = ", ".join("?" for _ in keys)
        rows = self._all(
            f"SELECT key, failures, started_ms FROM signin_failures"
            f" WHERE key IN ({marks}) AND started_ms > ?",
            (*keys, since_ms),
        )
        return {str(row[0]): (int(row[1]), int(row[2])) for row in rows}

    def add_signin_failure(self, key: str, account: str | None, now_ms: int, since_ms: int) -> None:
        """One more failure on ``key``; a counter whose window started at or before
        ``since_ms`` starts a new window at ``now_ms``."""
        self._run(
            "INSERT INTO signin_failures (key, account, started_ms, last_ms, failures)"
            " VALUES (?, ?, ?, ?, 1)"
            " ON CONFLICT (key) DO UPDATE SET"
            " failures = CASE WHEN signin_failures.started_ms <= ? THEN 1"
            " ELSE signin_failures.failures + 1 END,"
            " started_ms = CASE WHEN signin_failures.started_ms <= ? THEN excluded.started_ms"
            " ELSE signin_failures.started_ms END,"
            " last_ms = excluded.last_ms",
            (key, account, now_ms, now_ms, since_ms, since_ms),
        )

    def forget_signin_failures(self, key: str) -> None:
        self._run("DELETE FROM signin_failures WHERE key = ?", (key,))

    def forget_account_signin_failures(self, account: str) -> int:
        return self._run("DELETE FROM signin_failures WHERE account = ?", (account,))

    def count_signin_failures(self) -> int:
        row = self._one("SELECT count(*) FROM signin_failures")
        return 0 if row is None else int(row[0])

    def purge_signin_failures(self, since_ms: int, keep: int) -> int:
        """Delete the counters whose window started at or before ``since_ms``, then
        all but the ``keep`` most recently failed; how many were deleted."""
        deleted = self._run("DELETE FROM signin_failures WHERE started_ms <= ?", (since_ms,))
        return deleted + self._run(
            "DELETE FROM signin_failures WHERE last_ms < (SELECT last_ms FROM signin_failures"
            " ORDER BY last_ms DESC LIMIT 1 OFFSET ?)",
            (max(0, keep - 1),),
        )

    # -- sealed secrets, for a key rotation ------------------------------------------------

    def reseal_all(self, reseal: Callable[[bytes], bytes | None]) -> int:
        """Re-seal every stored secret with ``reseal`` (``None``: leave it as it is);
        how many values it re-sealed. The rows are locked until the transaction ends."""
        count = 0
        rows = self._all(
            "SELECT account_id, access_token, refresh_token FROM zoom_connections"
            " WHERE access_token IS NOT NULL OR refresh_token IS NOT NULL ORDER BY account_id"
            + self._d.for_update
        )
        for account_id, access_raw, refresh_raw in rows:
            access_old, refresh_old = _bytes(access_raw), _bytes(refresh_raw)
            access = None if access_old is None else reseal(access_old)
            refresh = None if refresh_old is None else reseal(refresh_old)
            if access is None and refresh is None:
                continue
            self._run(
                "UPDATE zoom_connections SET access_token = ?, refresh_token = ?"
                " WHERE account_id = ?",
                (access or access_old, refresh or refresh_old, account_id),
            )
            count += (access is not None) + (refresh is not None)
        for state_hash, verifier in self._all(
            "SELECT state_hash, code_verifier FROM oauth_states ORDER BY state_hash"
            + self._d.for_update
        ):
            sealed = _bytes(verifier)
            assert sealed is not None
            resealed = reseal(sealed)
            if resealed is None:
                continue
            self._run(
                "UPDATE oauth_states SET code_verifier = ? WHERE state_hash = ?",
                (resealed, state_hash),
            )
            count += 1
        for ticket_hash, url in self._all(
            "SELECT ticket_hash, authorize_url FROM oauth_starts ORDER BY ticket_hash"
            + self._d.for_update
        ):
            sealed = _bytes(url)
            assert sealed is not None
            resealed = reseal(sealed)
            if resealed is None:
                continue
            self._run(
                "UPDATE oauth_starts SET authorize_url = ? WHERE ticket_hash = ?",
                (resealed, ticket_hash),
            )
            count += 1
        return count

    # -- whole tables, for an import (storage/transfer.py; names from its constant list) --

    def count_rows(self, table: str) -> int:
        row = self._one(f"SELECT COUNT(*) FROM {table}")
        return 0 if row is None else int(row[0])

    def all_rows(self, table: str, columns: str, order: str) -> list[Row]:
        order = order.format(made=self._d.made_column)
        return self._all(f"SELECT {columns} FROM {table} ORDER BY {order}")

    def delete_all(self, table: str) -> None:
        self._run(f"DELETE FROM {table}")

    def insert_rows(self, table: str, columns: str, rows: list[Row]) -> None:
        marks = ", ".join("?" * len(columns.split(",")))
        sql = self._sql(f"INSERT INTO {table} ({columns}) VALUES ({marks})")
        for row in rows:
            self._q.run(sql, row)

    def after_import(self) -> None:
        """Let new sessions be numbered after the imported ones."""
        if self._d.name == "postgresql":
            self._one(
                "SELECT setval(pg_get_serial_sequence('sessions', 'id'),"
                " COALESCE((SELECT MAX(id) FROM sessions), 0) + 1, false)"
            )


#: An account's state with its Zoom summary (read by :func:`_stored_state`).
_STATE_WITH_ZOOM = (
    "SELECT a.id, a.email, a.seq, a.state,"
    " z.account_id, z.zoom_email, z.since, z.problem_code, z.problem_message"
    " FROM accounts a LEFT JOIN zoom_connections z ON z.account_id = a.id"
)


class Transaction(Queries):
    """The open transaction of ``Store.transaction()``: everything done through it
    commits together when the block ends, or not at all."""

    def load_state_for_update(self, account_id: str) -> StoredState | None:
        """The account's state and its Zoom summary, the account's row locked until
        the transaction ends (so a read-modify-write on another relay waits for
        this one). One statement: on PostgreSQL every round trip counts."""
        row = self._one(
            _STATE_WITH_ZOOM + " WHERE a.id = ?" + self._d.for_update_of("a"),
            (account_id,),
        )
        return None if row is None else _stored_state(row)

    def load_states_for_update(self, account_ids: Collection[str]) -> dict[str, StoredState]:
        """:meth:`load_state_for_update` for several accounts in one statement (a
        group commit's), their rows locked in id order, so two relays locking
        overlapping groups never deadlock. Accounts that are gone are left out."""
        ids = sorted(set(account_ids))
        if not ids:
            return {}
        rows = self._all(
            _STATE_WITH_ZOOM
            + f" WHERE a.id IN ({', '.join('?' * len(ids))}) ORDER BY a.id"
            + self._d.for_update_of("a"),
            tuple(ids),
        )
        return {str(row[0]): _stored_state(row) for row in rows}

    def save_states(self, states: Mapping[str, tuple[AccountAvailability, int]]) -> None:
        """Write each account's state and seq in one statement (a group commit's),
        the rows already locked by :meth:`load_states_for_update`, which read the
        seq each new one follows."""
        if not states:
            return
        params: list[object] = []
        for account_id, (state, seq) in states.items():
            params += (account_id, state_to_json(state), seq)
        # VALUES columns are column1, column2… on both engines.
        changed = self._run(
            "UPDATE accounts SET state = v.column2, seq = v.column3"
            f" FROM (VALUES {', '.join(['(?, ?, ?)'] * len(states))}) AS v"
            " WHERE accounts.id = v.column1",
            tuple(params),
        )
        if changed != len(states):
            raise LookupError(f"{len(states) - changed} of {len(states)} accounts are gone")


def _stored_state(row: Row) -> StoredState:
    zoom = _summary(row[5:]) if row[4] is not None else ZoomSummary(None, None, None)
    return StoredState(row[0], row[1], int(row[2]), state_from_json(row[3]), zoom)
