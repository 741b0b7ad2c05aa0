"""The PostgreSQL backend: several relays on one database, through psycopg 3
and a small connection pool.

Statements stay synchronous and short, as with SQLite: a lone read borrows a
connection in autocommit mode, a change runs in one transaction on one
connection. Migrations run under an advisory lock, so relays started together
migrate once. Messages name the database by host, port and name, never with
the URL's password.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import psycopg
import psycopg.errors
from psycopg import conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

from desktop.relay.storage.backend import POSTGRES, Duplicate, Params, Row
from desktop.relay.storage.model import StorageError
from desktop.relay.storage.schema import POSTGRES_MIGRATIONS

log = logging.getLogger(__name__)

#: The advisory lock key held while migrating ("PRRINGER" in ASCII).
MIGRATION_LOCK: Final = 0x5052_5249_4E47_4552
#: Seconds to wait for a connection from the pool (or a new one) before failing.
CONNECT_TIMEOUT: Final = 10.0


def describe(url: str) -> str:
    """``database NAME on HOST:PORT``: the URL without its user or password."""
    try:
        parts = conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the PostgreSQL database (its URL cannot be read)"
    host = parts.get("host") or "localhost"
    port = parts.get("port") or "5432"
    name = parts.get("dbname") or parts.get("user") or "?"
    return f"PostgreSQL database {name} on {host}:{port}"


def _reason(exc: BaseException) -> str:
    """The driver's words for a failure, first line only, with no connection string."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class PostgresExecutor:
    dialect = POSTGRES

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._db = connection

    def _execute(self, sql: str, params: Params) -> psycopg.Cursor[Any]:
        try:
            return self._db.execute(sql, tuple(params))
        except psycopg.errors.UniqueViolation as exc:
            raise Duplicate(_reason(exc)) from exc

    def all(self, sql: str, params: Params = ()) -> list[Row]:
        cursor = self._execute(sql, params)
        if cursor.description is None:
            return []
        return [tuple(row) for row in cursor.fetchall()]

    def one(self, sql: str, params: Params = ()) -> Row | None:
        rows = self.all(sql, params)
        return rows[0] if rows else None

    def run(self, sql: str, params: Params = ()) -> int:
        return self._execute(sql, params).rowcount


class PostgresBackend:
    dialect = POSTGRES

    def __init__(self, url: str, pool: ConnectionPool[psycopg.Connection[Any]]) -> None:
        self.url = url
        self.where = describe(url)
        self._pool = pool

    @classmethod
    def open(
        cls, url: str, *, migrate: bool = True, max_size: int = 8, durability: str = "normal"
    ) -> PostgresBackend:
        where = describe(url)
        synchronous_commit = "on" if durability == "full" else "off"

        def configure(connection: psycopg.Connection[Any]) -> None:
            # off: a commit returns before the server has flushed its WAL (it
            # does within 3 x wal_writer_delay); nothing is lost if a relay dies.
            connection.execute(f"SET synchronous_commit = {synchronous_commit}")

        pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            kwargs={"autocommit": True},
            configure=configure,
            open=False,
            timeout=CONNECT_TIMEOUT,
            name="relay-store",
        )
        try:
            pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        except (PoolTimeout, psycopg.Error) as exc:
            pool.close()
            raise StorageError(
                f"cannot connect to the {where}: check PROFITRINGER_DATABASE_URL and that "
                "the server is running"
            ) from exc
        backend = cls(url, pool)
        try:
            if migrate:
                backend.migrate()
            else:
                backend.check_version()
        except BaseException:
            pool.close()
            raise
        return backend

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._pool.connection() as connection:
                yield connection
        except PoolTimeout as exc:
            raise StorageError(f"the {self.where} does not answer: {_reason(exc)}") from exc

    @contextmanager
    def reading(self) -> Iterator[PostgresExecutor]:
        with self._connection() as connection:
            yield PostgresExecutor(connection)

    @contextmanager
    def writing(self) -> Iterator[PostgresExecutor]:
        """One transaction on one connection: committed when the block ends,
        rolled back on error. Rows read ``FOR UPDATE`` in it stay locked until then."""
        with self._connection() as connection, connection.transaction():
            yield PostgresExecutor(connection)

    # -- schema ---------------------------------------------------------------------------

    def _version(self, connection: psycopg.Connection[Any]) -> int:
        row = connection.execute(
            "SELECT version FROM relay_schema WHERE only_row"
            if self._has_schema_table(connection)
            else "SELECT 0"
        ).fetchone()
        return 0 if row is None else int(row[0])

    @staticmethod
    def _has_schema_table(connection: psycopg.Connection[Any]) -> bool:
        row = connection.execute("SELECT to_regclass('relay_schema') IS NOT NULL").fetchone()
        return bool(row and row[0])

    @property
    def schema_version(self) -> int:
        with self._connection() as connection:
            return self._version(connection)

    def check_version(self) -> None:
        """Refuse a database this relay does not know the schema of."""
        version = self.schema_version
        if version != len(POSTGRES_MIGRATIONS):
            raise StorageError(
                f"the {self.where} has schema version {version}, this relay needs "
                f"{len(POSTGRES_MIGRATIONS)}; run: profitringer relay migrate"
            )

    def migrate(self) -> None:
        """Bring the schema up to date, once: the advisory lock makes relays started
        together wait for the first, which finds nothing left to do."""
        with self._connection() as connection:
            connection.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
            try:
                with connection.transaction():
                    connection.execute(
                        "CREATE TABLE IF NOT EXISTS relay_schema ("
                        " only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),"
                        " version INTEGER NOT NULL)"
                    )
                    connection.execute(
                        "INSERT INTO relay_schema (version) VALUES (0) ON CONFLICT DO NOTHING"
                    )
                version = self._version(connection)
                if version > len(POSTGRES_MIGRATIONS):
                    raise StorageError(
                        f"the {self.where} has schema version {version}, newer than this "
                        f"relay knows ({len(POSTGRES_MIGRATIONS)}); run a newer relay"
                    )
                for number in range(version, len(POSTGRES_MIGRATIONS)):
                    with connection.transaction():
                        connection.execute(POSTGRES_MIGRATIONS[number])
                        connection.execute("UPDATE relay_schema SET version = %s", (number + 1,))
                    log.info("database migrated to schema version %d", number + 1)
            finally:
                connection.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))

    def ping(self) -> None:
        try:
            with self._connection() as connection:
                connection.execute("SELECT 1").fetchone()
        except psycopg.Error as exc:
            raise StorageError(f"the {self.where} does not answer: {_reason(exc)}") from exc

    def make_durable(self) -> None:
        """Flush every committed change to the server's disk: a transaction that
        takes a transaction id commits with ``synchronous_commit = on``, and its
        commit waits for the WAL up to it (all earlier commits too) to be flushed."""
        with self._connection() as connection, connection.transaction():
            connection.execute("SET LOCAL synchronous_commit = on")
            connection.execute("SELECT pg_current_xact_id()")

    def forget_old_pages(self) -> None:
        """Deleted rows are the server's to vacuum; nothing to do from here."""
