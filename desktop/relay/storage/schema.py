"""The schema: one list of versioned migrations per backend, reaching the same
schema version with the same tables and meaning.

Append only; never edit a migration that has shipped. A change to the schema is
one new entry in *each* list (same index), proven by the store's tests, which
run against both backends.
"""

from __future__ import annotations

from typing import Final

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
    # 6: claims (desktop/relay/claims.py): which relay holds a piece of work (a
    # token refresh, a background job) until when, so that several relays on one
    # database do it once; a killed relay's claims run out by themselves.
    """
    CREATE TABLE claims (
        name     TEXT PRIMARY KEY,
        holder   TEXT NOT NULL,
        until_ms INTEGER NOT NULL
    );
    """,
    # 7: sign-in failures (desktop/relay/throttle.py), counted in the store so
    # that every relay on one database sees the same counts (and a restart does
    # not forget them): a counter's key, the account it counts against (none for
    # an address's counter), its window's start, its last failure, and how many.
    """
    CREATE TABLE signin_failures (
        key        TEXT PRIMARY KEY,
        account    TEXT,
        started_ms INTEGER NOT NULL,
        last_ms    INTEGER NOT NULL,
        failures   INTEGER NOT NULL
    );
    CREATE INDEX signin_failures_account ON signin_failures(account);
    CREATE INDEX signin_failures_last ON signin_failures(last_ms);
    """,
)


#: The PostgreSQL schema, version for version the same as :data:`MIGRATIONS`.
#: Times stay ISO-8601 text in UTC (compared as text, as on SQLite); emails and
#: Zoom user ids match in any case through ``lower()`` indexes; secrets are bytea.
POSTGRES_MIGRATIONS: Final[tuple[str, ...]] = (
    """
    CREATE TABLE accounts (
        id            TEXT PRIMARY KEY,
        email         TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        seq           BIGINT NOT NULL DEFAULT 0,
        state         TEXT NOT NULL
    );
    CREATE UNIQUE INDEX accounts_email_nocase ON accounts (lower(email));
    CREATE TABLE sessions (
        id           BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
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
        access_token       BYTEA,
        refresh_token      BYTEA,
        access_expires_at  TEXT,
        refresh_expires_at TEXT
    );
    CREATE TABLE oauth_states (
        state_hash    TEXT PRIMARY KEY,
        account_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        code_verifier BYTEA NOT NULL,
        expires_at    TEXT NOT NULL,
        -- the order states were made in (SQLite's rowid)
        made          BIGINT GENERATED ALWAYS AS IDENTITY
    );
    CREATE TABLE relay_meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    """
    ALTER TABLE sessions ADD COLUMN last_seen_at TEXT;
    """,
    """
    CREATE TABLE oauth_starts (
        ticket_hash   TEXT PRIMARY KEY,
        state_hash    TEXT NOT NULL UNIQUE
                      REFERENCES oauth_states(state_hash) ON DELETE CASCADE,
        authorize_url BYTEA NOT NULL,
        binding_hash  TEXT
    );
    CREATE INDEX oauth_states_account ON oauth_states(account_id, expires_at);
    """,
    """
    CREATE UNIQUE INDEX zoom_connections_user_nocase ON zoom_connections (lower(zoom_user_id));
    ALTER TABLE zoom_connections ADD COLUMN connected_at_ms BIGINT;
    ALTER TABLE zoom_connections ADD COLUMN problem_code TEXT;
    ALTER TABLE zoom_connections ADD COLUMN problem_message TEXT;
    """,
    """
    CREATE TABLE claims (
        name     TEXT PRIMARY KEY,
        holder   TEXT NOT NULL,
        until_ms BIGINT NOT NULL
    );
    """,
    """
    CREATE TABLE signin_failures (
        key        TEXT PRIMARY KEY,
        account    TEXT,
        started_ms BIGINT NOT NULL,
        last_ms    BIGINT NOT NULL,
        failures   INTEGER NOT NULL
    );
    CREATE INDEX signin_failures_account ON signin_failures(account);
    CREATE INDEX signin_failures_last ON signin_failures(last_ms);
    """,
)
