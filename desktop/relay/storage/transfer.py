"""Copy one relay's data into another store: moving a SQLite relay to PostgreSQL
(``profitringer relay import-sqlite``). Both stores are at the same schema
version (each was migrated when opened); sealed secrets are copied as they are,
so the target's relays need the same token keys."""

from __future__ import annotations

from typing import Final

from desktop.relay.storage.model import StorageError
from desktop.relay.storage.store import Store

#: Each table and its columns, parents before children. ``oauth_states`` is read
#: in the order its rows were made, so the target keeps that order.
TABLES: Final[tuple[tuple[str, str, str], ...]] = (
    ("accounts", "id, email, password_hash, created_at, seq, state", "id"),
    (
        "sessions",
        "id, account_id, token_hash, device_name, created_at, expires_at, last_seen_at",
        "id",
    ),
    (
        "zoom_connections",
        "account_id, zoom_user_id, zoom_email, state, since, api_url, access_token,"
        " refresh_token, access_expires_at, refresh_expires_at, connected_at_ms,"
        " problem_code, problem_message",
        "account_id",
    ),
    ("oauth_states", "state_hash, account_id, code_verifier, expires_at", "{made}"),
    ("oauth_starts", "ticket_hash, state_hash, authorize_url, binding_hash", "ticket_hash"),
    ("relay_meta", "key, value", "key"),
)


def copy_store(source: Store, target: Store, *, replace: bool = False) -> dict[str, int]:
    """Copy every row of ``source`` into ``target`` in one transaction; how many
    rows per table. A target that holds data is refused unless ``replace``, which
    deletes its data first (in the same transaction)."""
    copied: dict[str, int] = {}
    with source._reading() as read, target.transaction() as write:
        held = sum(write.count_rows(table) for table, _, _ in TABLES)
        if held and not replace:
            raise StorageError(
                f"the {target.where} already holds data ({held} row(s)); import only into "
                "an empty database, or pass --replace to delete what it holds first"
            )
        if held:
            for table, _, _ in reversed(TABLES):
                write.delete_all(table)
        for table, columns, order in TABLES:
            rows = read.all_rows(table, columns, order)
            write.insert_rows(table, columns, rows)
            copied[table] = len(rows)
        write.after_import()
    return copied
