"""What differs between the backends, kept small: how a statement is run, how
a transaction begins, and a few words of SQL (the dialect).

Statements are written once, with ``?`` placeholders, in the SQL both engines
speak (``RETURNING``, ``ON CONFLICT … DO UPDATE``, ``IS DISTINCT FROM``); the
dialect turns the placeholders into the engine's and supplies the few phrases
that differ (matching in any case, the order rows were made in, row locks).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

Row = tuple[Any, ...]
Params = Sequence[object]


class Duplicate(Exception):
    """A row with that key (or that unique value) already exists."""


@dataclass(frozen=True)
class Dialect:
    name: str
    #: The placeholder of the engine's driver.
    placeholder: str
    #: The column holding the order ``oauth_states`` rows were made in.
    made_column: str
    #: Appended to a ``SELECT`` that reads a row about to be rewritten.
    for_update: str

    def equals_any_case(self, column: str) -> str:
        """``column`` equals the next parameter, in any letter case."""
        if self.name == "sqlite":
            return f"{column} = ? COLLATE NOCASE"
        return f"lower({column}) = lower(?)"

    def for_update_of(self, table: str) -> str:
        """:attr:`for_update` locking the rows of ``table`` only (the other side
        of an outer join cannot be locked)."""
        return f"{self.for_update} OF {table}" if self.for_update else ""

    def translate(self, sql: str) -> str:
        return _translate(sql, self.placeholder)


@lru_cache(maxsize=512)
def _translate(sql: str, placeholder: str) -> str:
    if placeholder == "?":
        return sql
    # No statement of ours has a literal '?' or '%' in it.
    return sql.replace("%", "%%").replace("?", placeholder)


SQLITE: Dialect = Dialect("sqlite", "?", "rowid", "")
POSTGRES: Dialect = Dialect("postgresql", "%s", "made", " FOR UPDATE")


class Executor(Protocol):
    """Runs statements on one connection (inside a transaction, or autocommit)."""

    dialect: Dialect

    def all(self, sql: str, params: Params = ()) -> list[Row]: ...

    def one(self, sql: str, params: Params = ()) -> Row | None: ...

    def run(self, sql: str, params: Params = ()) -> int:
        """Run a statement; how many rows it changed."""
        ...


class Backend(Protocol):
    dialect: Dialect
    #: Where the data is, for messages (never a password).
    where: str

    def reading(self) -> AbstractContextManager[Executor]: ...

    def writing(self) -> AbstractContextManager[Executor]: ...

    @property
    def schema_version(self) -> int: ...

    def migrate(self) -> None: ...

    def ping(self) -> None: ...

    def make_durable(self) -> None: ...

    def forget_old_pages(self) -> None: ...

    def close(self) -> None: ...


class SQLiteExecutor:
    dialect = SQLITE

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection

    def _execute(self, sql: str, params: Params) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, tuple(params))
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc) or "PRIMARY KEY" in str(exc):
                raise Duplicate(str(exc)) from exc
            raise

    def all(self, sql: str, params: Params = ()) -> list[Row]:
        return [tuple(row) for row in self._execute(sql, params).fetchall()]

    def one(self, sql: str, params: Params = ()) -> Row | None:
        rows = self.all(sql, params)
        return rows[0] if rows else None

    def run(self, sql: str, params: Params = ()) -> int:
        return self._execute(sql, params).rowcount
