"""The relay's store: the one place that speaks SQL.

Everything the relay persists goes through :class:`Store`; nothing else opens
the database. Two backends share the statements (``queries.py``) and the
schema version (``schema.py``): SQLite, the embedded default, and PostgreSQL,
for several relays on one database.
"""

from desktop.relay.storage.backend import Dialect, Duplicate
from desktop.relay.storage.model import (
    Account,
    ConnectStart,
    Device,
    LinkConflict,
    SealedGrant,
    Session,
    StorageError,
    StoredState,
    ZoomConnection,
    ZoomSummary,
    durable_replace,
    private_dir,
    private_file,
    state_from_json,
    state_to_json,
)
from desktop.relay.storage.queries import Queries, Transaction
from desktop.relay.storage.schema import MIGRATIONS, POSTGRES_MIGRATIONS
from desktop.relay.storage.store import DB_FILENAME, Store, parse_database_url

__all__ = [
    "DB_FILENAME",
    "MIGRATIONS",
    "POSTGRES_MIGRATIONS",
    "Account",
    "ConnectStart",
    "Device",
    "Dialect",
    "Duplicate",
    "LinkConflict",
    "Queries",
    "SealedGrant",
    "Session",
    "StorageError",
    "Store",
    "StoredState",
    "Transaction",
    "ZoomConnection",
    "ZoomSummary",
    "durable_replace",
    "parse_database_url",
    "private_dir",
    "private_file",
    "state_from_json",
    "state_to_json",
]
