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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="profitringer relay",
        description=(
            "Serve the ProfitRinger relay. Zoom settings come from the PROFITRINGER_* "
            "environment variables described in the README."
        ),
    )
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8765)")
    parser.add_argument(
        "--data-dir", type=Path, help="database and key file location (PROFITRINGER_DATA_DIR)"
    )
    parser.add_argument(
        "--public-url", help="the relay's public base URL (PROFITRINGER_PUBLIC_URL)"
    )
    parser.add_argument("--debug", action="store_true", help="log debug detail (never secrets)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    user = sub.add_parser("user", help="manage accounts")
    user_sub = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    add = user_sub.add_parser("add", help="create an account (password from stdin or a prompt)")
    add.add_argument("email")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input instead of prompting",
    )
    passwd = user_sub.add_parser("passwd", help="set an account's password")
    passwd.add_argument("email")
    passwd.add_argument("--password-stdin", action="store_true")
    rotate = sub.add_parser(
        "rotate-key",
        help="make a new key for Zoom tokens at rest and re-encrypt them under it",
        description=(
            "Put a new encryption key first. With the key file in the data dir, every "
            "stored Zoom token is re-encrypted at once; with PROFITRINGER_TOKEN_KEYS, the "
            "new value to set is printed and the relay re-encrypts at its next start. "
            "Run it while the relay is stopped."
        ),
    )
    rotate.add_argument(
        "--retire-old",
        action="store_true",
        help="with the key file: remove the old keys once everything is re-encrypted",
    )
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
    return settings


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
    store = Store.open(settings.data_dir)
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

    lock = _lock_data_dir(settings.data_dir)  # refuses while a relay runs on this dir
    try:
        store = Store.open(settings.data_dir)
        try:
            rotation = rotate_key(settings, store, retire_old=args.retire_old)
        finally:
            store.close()
    finally:
        lock.close()
    print(rotation.message)
    if rotation.env_value is not None:
        print(f"PROFITRINGER_TOKEN_KEYS={rotation.env_value}")
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
        return serve(settings)
    except (StorageError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
