"""``profitringer relay``: serve, and the admin commands (accounts, keys)."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from desktop.core.wire import now_utc
from desktop.relay.config import RelaySettings
from desktop.relay.passwords import hash_password
from desktop.relay.storage import StorageError, Store

log = logging.getLogger(__name__)


def _add_relay_options(parser: argparse.ArgumentParser, *, after_command: bool = False) -> None:
    """The relay's options. People type them before or after a command
    (``relay --data-dir D user add …`` and ``relay user add … --data-dir D``),
    so every command takes them too; there their default is to leave unset,
    so a value given before the command is not overwritten."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if after_command else value

    parser.add_argument(
        "--host", default=default(None), help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=default(None), help="port to listen on (default 8765)"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=default(None),
        help="database and key file location (PROFITRINGER_DATA_DIR)",
    )
    parser.add_argument(
        "--database-url",
        default=default(None),
        help="sqlite:///abs/path or postgresql://... (PROFITRINGER_DATABASE_URL;"
        " default the SQLite file in the data dir)",
    )
    parser.add_argument(
        "--public-url",
        default=default(None),
        help="the relay's public base URL (PROFITRINGER_PUBLIC_URL)",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=default(False),
        help="log debug detail (never secrets)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="profitringer relay",
        description=(
            "Serve the ProfitRinger relay. Zoom settings come from the PROFITRINGER_* "
            "environment variables described in the README."
        ),
    )
    _add_relay_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    user = sub.add_parser("user", help="manage accounts")
    user_sub = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    add = user_sub.add_parser("add", help="create an account (password from stdin or a prompt)")
    _add_relay_options(user, after_command=True)
    add.add_argument("email")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input instead of prompting",
    )
    passwd = user_sub.add_parser("passwd", help="set an account's password")
    passwd.add_argument("email")
    passwd.add_argument("--password-stdin", action="store_true")
    for command in (add, passwd):
        _add_relay_options(command, after_command=True)
    rotate = sub.add_parser(
        "rotate-key",
        help="make a new key for Zoom tokens at rest and re-encrypt them under it",
        description=(
            "Put a new encryption key first. With the key file in the data dir, every "
            "stored Zoom token is re-encrypted at once; with PROFITRINGER_TOKEN_KEYS, the "
            "new value to set is printed and the relay re-encrypts at its next start. "
            "Run it while the relay is stopped. With PostgreSQL it runs while the relays "
            "do: it prints the steps to roll a new key out, and --retire-old re-encrypts "
            "every stored token under the first key of PROFITRINGER_TOKEN_KEYS."
        ),
    )
    _add_relay_options(rotate, after_command=True)
    rotate.add_argument(
        "--retire-old",
        action="store_true",
        help="with the key file: remove the old keys once everything is re-encrypted;"
        " with PostgreSQL: re-encrypt everything under the first key now",
    )
    migrate = sub.add_parser(
        "migrate",
        help="bring the database to this relay's schema version, then exit",
    )
    _add_relay_options(migrate, after_command=True)
    importer = sub.add_parser(
        "import-sqlite",
        help="copy a SQLite relay's data into the configured (PostgreSQL) database",
        description=(
            "Copy every account, session, Zoom connection and pending connect of a "
            "stopped SQLite relay into the database PROFITRINGER_DATABASE_URL names. "
            "PATH is the old relay's data dir or its relay.sqlite3 file (migrated to "
            "this relay's schema first). The target must be empty unless --replace. "
            "Zoom tokens are copied sealed: give the new relays the old relay's token "
            "keys (its zoom-token-keys file, newest first) in PROFITRINGER_TOKEN_KEYS."
        ),
    )
    importer.add_argument("path", type=Path, metavar="PATH")
    importer.add_argument(
        "--replace",
        action="store_true",
        help="delete what the target database holds before copying",
    )
    _add_relay_options(importer, after_command=True)
    return parser


def settings_from(args: argparse.Namespace) -> RelaySettings:
    settings = RelaySettings.from_env()
    if args.host:
        settings.host = args.host
    if args.port is not None:
        settings.port = args.port
    if args.data_dir:
        settings.data_dir = args.data_dir
    if args.public_url:
        settings.public_url = args.public_url
    if args.database_url:
        settings.database_url = args.database_url
    return settings


def open_store(settings: RelaySettings) -> Store:
    return Store.open_url(settings.database_url, settings.data_dir, durability=settings.durability)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def _user_command(args: argparse.Namespace, settings: RelaySettings) -> int:
    password = _read_password(args.password_stdin)
    if len(password) < 8:
        print("error: the password must have at least 8 characters", file=sys.stderr)
        return 2
    store = open_store(settings)
    try:
        if args.user_command == "add":
            if "@" not in args.email:
                print(f"error: {args.email!r} is not an email address", file=sys.stderr)
                return 2
            try:
                account = store.add_account(args.email, hash_password(password), now_utc())
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            print(f"created account {account.email} ({account.id})")
        else:
            existing = store.account_by_email(args.email)
            if existing is None:
                print(f"error: no account for {args.email}", file=sys.stderr)
                return 1
            ended = store.set_password(existing.id, hash_password(password))
            # Its owner may have been throttled out: the new password lets them in.
            store.forget_account_signin_failures(existing.id)
            print(
                f"password changed for {existing.email}; {len(ended)} session(s) signed out"
                " (a running relay closes their live sockets within"
                " PROFITRINGER_SESSION_SWEEP_INTERVAL seconds)"
            )
    finally:
        store.close()
    return 0


def _rotate_key_command(args: argparse.Namespace, settings: RelaySettings) -> int:
    from desktop.relay.relay import _lock_data_dir
    from desktop.relay.zoom.vault import rotate_key

    # A SQLite file: refuses while a relay runs on this dir. PostgreSQL: rotates
    # beside the running relays (their row locks keep it consistent).
    lock = None if settings.shared_database else _lock_data_dir(settings.data_dir)
    try:
        store = open_store(settings)
        try:
            rotation = rotate_key(settings, store, retire_old=args.retire_old)
        finally:
            store.close()
    finally:
        if lock is not None:
            lock.close()
    print(rotation.message)
    if rotation.env_value is not None:
        print(f"PROFITRINGER_TOKEN_KEYS={rotation.env_value}")
    return 0


def _migrate_command(settings: RelaySettings) -> int:
    store = open_store(settings)
    try:
        print(f"the {store.where} is at schema version {store.schema_version}")
    finally:
        store.close()
    return 0


def _import_command(args: argparse.Namespace, settings: RelaySettings) -> int:
    from desktop.relay.relay import _lock_data_dir
    from desktop.relay.storage import DB_FILENAME
    from desktop.relay.storage.transfer import copy_store

    source_file: Path = args.path / DB_FILENAME if args.path.is_dir() else args.path
    if not source_file.is_file():
        print(f"error: there is no SQLite relay database at {args.path}", file=sys.stderr)
        return 1
    if not settings.shared_database:
        print(
            "error: set PROFITRINGER_DATABASE_URL (or --database-url) to the PostgreSQL "
            "database to import into",
            file=sys.stderr,
        )
        return 2
    lock = _lock_data_dir(source_file.parent)  # the old relay must be stopped
    try:
        source = Store.open_url(f"sqlite://{source_file.resolve()}", source_file.parent)
        try:
            target = open_store(settings)
            try:
                copied = copy_store(source, target, replace=args.replace)
            finally:
                target.close()
        finally:
            source.close()
    finally:
        lock.close()
    counts = ", ".join(f"{count} {table}" for table, count in copied.items())
    print(f"copied {source_file} into the database: {counts}")
    if copied.get("zoom_connections"):
        print(
            "The Zoom tokens were copied sealed: every relay needs the old relay's keys "
            f"(the file {source_file.parent / 'zoom-token-keys'}, newest first) in "
            "PROFITRINGER_TOKEN_KEYS."
        )
    return 0


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    from desktop.relay.server import configure_logging, serve

    configure_logging(logging.DEBUG if args.debug else logging.INFO)
    try:
        settings = settings_from(args)
        if args.command == "user":
            return _user_command(args, settings)
        if args.command == "rotate-key":
            return _rotate_key_command(args, settings)
        if args.command == "migrate":
            return _migrate_command(settings)
        if args.command == "import-sqlite":
            return _import_command(args, settings)
        return serve(settings)
    except (StorageError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
