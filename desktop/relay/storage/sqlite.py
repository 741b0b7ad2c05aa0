"""The SQLite backend: one file in the data directory, WAL, one connection
used from the event loop's thread (the embedded default)."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from desktop.relay.storage.backend import SQLITE, SQLiteExecutor
from desktop.relay.storage.model import StorageError, private_dir, private_file
from desktop.relay.storage.schema import MIGRATIONS

log = logging.getLogger(__name__)


class SQLiteBackend:
    dialect = SQLITE

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path
        self.where = str(path)
        self._executor = SQLiteExecutor(connection)

    @classmethod
    def open(cls, path: Path, *, durability: str = "normal") -> SQLiteBackend:
        """Open (creating if needed) the database file ``path`` and migrate it.

        A file that is not a database, or one another process holds locked,
        raises :class:`StorageError` naming the file: never a silent reset.
        """
        data_dir = path.parent
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
            # NORMAL: the WAL is fsynced at checkpoints only, so a power cut can
            # roll back the last commits; FULL fsyncs it at every commit.
            synchronous = "FULL" if durability == "full" else "NORMAL"
            connection.execute(f"PRAGMA synchronous={synchronous}")
            connection.execute("PRAGMA foreign_keys=ON")
            # Deleted rows are overwritten with zeros, not left in free space.
            connection.execute("PRAGMA secure_delete=ON")
            backend = cls(connection, path)
            backend.migrate()
        except sqlite3.DatabaseError as exc:
            raise StorageError(
                f"cannot use the relay database {path}: {exc}. If it is locked, stop the "
                "other relay using this data directory; if it is damaged, restore it from "
                "a backup or move it aside to start empty."
            ) from exc
        return backend

    @property
    def connection(self) -> sqlite3.Connection:
        return self._db

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def reading(self) -> Iterator[SQLiteExecutor]:
        yield self._executor

    @contextmanager
    def writing(self) -> Iterator[SQLiteExecutor]:
        """One atomic write: committed when the block ends, rolled back on error.
        ``BEGIN IMMEDIATE`` takes the write lock first, so a read-modify-write
        in the block is never interleaved with another writer's."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._executor
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def migrate(self) -> None:
        version = self.schema_version
        if version > len(MIGRATIONS):
            raise StorageError(
                f"the database {self.path} has schema version {version}, newer than this "
                f"relay knows ({len(MIGRATIONS)}); run a newer relay"
            )
        for number in range(version, len(MIGRATIONS)):
            with self.writing():
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={number + 1}")
            log.info("database migrated to schema version %d", number + 1)

    @property
    def schema_version(self) -> int:
        version: int = self._db.execute("PRAGMA user_version").fetchone()[0]
        return version

    def ping(self) -> None:
        try:
            self._db.execute("SELECT 1").fetchone()
        except sqlite3.Error as exc:
            raise StorageError(f"the relay database {self.path} does not answer: {exc}") from exc

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
