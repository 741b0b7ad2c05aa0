"""``profitringer zoom-sim``: serve the local Zoom, or drive a running one.

``serve`` (the default) runs the server in the foreground. Its secrets come
from ``ZOOMSIM_CLIENT_SECRET`` and ``ZOOMSIM_WEBHOOK_SECRET``, or from stdin
with ``--secrets-stdin`` (two lines), never from flags that ``ps`` shows. The other commands
call a running sim's control API (``--sim URL``, default ``$ZOOMSIM_URL`` or
http://127.0.0.1:9876) and print what happened.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import httpx

__all__ = ["main"]

DEFAULT_PORT = 9876
DEFAULT_SIM_URL = f"http://127.0.0.1:{DEFAULT_PORT}"
COMMANDS = (
    "serve",
    "presence",
    "deauthorize",
    "invalidate-tokens",
    "validate-endpoint",
    "users",
    "add-user",
    "deliveries",
    "webhook-url",
)


def _parser() -> argparse.ArgumentParser:
    from desktop.zoomsim.sim import PRESENCE_STATUSES

    parser = argparse.ArgumentParser(
        prog="profitringer zoom-sim",
        description=(
            "The local Zoom: Zoom's OAuth, REST and webhooks on your machine, for the demo "
            "and tests. With no command it serves; the other commands drive a running sim."
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="serve the local Zoom (the default)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default 9876)")
    serve.add_argument("--client-id", help="the app's OAuth client id [$ZOOMSIM_CLIENT_ID]")
    serve.add_argument(
        "--secrets-stdin",
        action="store_true",
        help="read the client secret (first line) and the webhook Secret Token (second "
        "line) from stdin instead of $ZOOMSIM_CLIENT_SECRET / $ZOOMSIM_WEBHOOK_SECRET",
    )
    # Refused with a clear error: a flag's value is visible to every user through ps.
    serve.add_argument("--client-secret", help=argparse.SUPPRESS)
    serve.add_argument("--webhook-secret", help=argparse.SUPPRESS)
    serve.add_argument("--webhook-url", help="where to deliver webhooks [$ZOOMSIM_WEBHOOK_URL]")
    serve.add_argument(
        "--auto-approve", action="store_true", help="skip the consent page and approve at once"
    )
    serve.add_argument(
        "--retry-time-scale",
        type=float,
        default=1.0,
        help="multiply Zoom's webhook retry delays (5/20/60 min); 0.001 makes them seconds",
    )
    serve.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="EMAIL",
        help="create this Zoom user at start (repeatable; default demo@zoom.example)",
    )
    serve.add_argument("--public-url", help="base URL to report in api_url and join links")

    def control(name: str, help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text)
        command.add_argument(
            "--sim",
            default=os.environ.get("ZOOMSIM_URL", DEFAULT_SIM_URL),
            help="the running sim's URL [$ZOOMSIM_URL, default %(default)s]",
        )
        command.add_argument("--json", action="store_true", help="print the raw JSON answer")
        return command

    presence = control("presence", "set a user's presence and deliver user.presence_status_updated")
    presence.add_argument("user", metavar="EMAIL_OR_ID")
    presence.add_argument("status", metavar="STATUS", help=", ".join(PRESENCE_STATUSES))
    control("deauthorize", "remove the app for a user and deliver app_deauthorized").add_argument(
        "user", metavar="EMAIL_OR_ID"
    )
    control(
        "invalidate-tokens", "kill a user's access and refresh tokens (next refresh fails)"
    ).add_argument("user", metavar="EMAIL_OR_ID")
    control("validate-endpoint", "send endpoint.url_validation and check the answer")
    control("users", "list the sim's users")
    add_user = control("add-user", "create a Zoom user")
    add_user.add_argument("email", metavar="EMAIL")
    add_user.add_argument("--first-name")
    add_user.add_argument("--last-name")
    control("deliveries", "list webhook delivery attempts")
    control("webhook-url", "set where the sim delivers webhooks").add_argument(
        "url", metavar="URL", help="e.g. http://127.0.0.1:8765/webhooks/zoom; 'none' to stop"
    )
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the ``zoom-sim`` subcommand; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or args_list[0] not in (*COMMANDS, "-h", "--help"):
        args_list.insert(0, "serve")
    args = _parser().parse_args(args_list)
    stream = out if out is not None else sys.stdout
    if args.command == "serve":
        return _serve(args, stream)
    try:
        return _control(args, stream)
    except httpx.HTTPError as exc:
        print(
            f"error: cannot reach the local Zoom at {args.sim} ({type(exc).__name__}); "
            "is 'profitringer zoom-sim serve' running there?",
            file=sys.stderr,
        )
        return 1


def _setting(value: str | None, env: str) -> str | None:
    return value if value else os.environ.get(env) or None


def _serve(args: argparse.Namespace, out: TextIO) -> int:
    import uvicorn

    from desktop.zoomsim.server import create_app
    from desktop.zoomsim.sim import ControlError, SimConfig, ZoomSim

    if args.client_secret or args.webhook_secret:
        print(
            "error: secrets are not taken as flags, since every user of this machine can "
            "read a command line with ps. Set ZOOMSIM_CLIENT_SECRET and "
            "ZOOMSIM_WEBHOOK_SECRET, or pass --secrets-stdin and write them on stdin.",
            file=sys.stderr,
        )
        return 2
    client_id = _setting(args.client_id, "ZOOMSIM_CLIENT_ID")
    if args.secrets_stdin:
        lines = sys.stdin.read(16384).splitlines()
        client_secret = lines[0].strip() if lines else None
        webhook_secret = lines[1].strip() if len(lines) > 1 else None
        where = ("the first line of stdin", "the second line of stdin")
    else:
        client_secret = os.environ.get("ZOOMSIM_CLIENT_SECRET") or None
        webhook_secret = os.environ.get("ZOOMSIM_WEBHOOK_SECRET") or None
        where = ("ZOOMSIM_CLIENT_SECRET (or --secrets-stdin)", "ZOOMSIM_WEBHOOK_SECRET")
    missing = [
        name
        for name, value in (
            ("--client-id / ZOOMSIM_CLIENT_ID", client_id),
            (f"the client secret in {where[0]}", client_secret),
            (f"the webhook Secret Token in {where[1]}", webhook_secret),
        )
        if not value
    ]
    if missing or client_id is None or client_secret is None or webhook_secret is None:
        print("error: the local Zoom needs " + ", ".join(missing) + ".", file=sys.stderr)
        return 2
    if args.retry_time_scale < 0:
        print("error: --retry-time-scale must not be negative.", file=sys.stderr)
        return 2
    config = SimConfig(
        client_id=client_id,
        client_secret=client_secret,
        webhook_secret=webhook_secret,
        webhook_url=_setting(args.webhook_url, "ZOOMSIM_WEBHOOK_URL"),
        auto_approve=args.auto_approve,
        retry_time_scale=args.retry_time_scale,
        public_url=args.public_url,
    )
    sim = ZoomSim(config)
    try:
        for email in args.user:
            sim.add_user(email)
    except ControlError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    sim.default_user()
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        print(
            f"warning: the control API (/_sim/) has no authentication and {args.host} is not "
            "loopback; anyone who can reach it can drive this local Zoom.",
            file=sys.stderr,
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(message)s")
    print(
        f"local Zoom serving on http://{args.host}:{args.port} (client id {client_id}); "
        f"webhooks to {config.webhook_url or 'nowhere yet (PUT /_sim/config)'}; "
        f"users: {', '.join(u['email'] for u in sim.users())}",
        file=out,
        flush=True,
    )
    uvicorn.run(
        create_app(sim),
        host=args.host,
        port=args.port,
        log_level="warning",
        server_header=False,
        timeout_graceful_shutdown=2,
    )
    return 0


def _control(args: argparse.Namespace, out: TextIO) -> int:
    from urllib.parse import quote

    base = args.sim.rstrip("/")
    with httpx.Client(base_url=base, timeout=30.0) as client:
        if args.command == "presence":
            response = client.post(
                f"/_sim/users/{quote(args.user, safe='')}/presence", json={"status": args.status}
            )
        elif args.command == "deauthorize":
            response = client.post(f"/_sim/users/{quote(args.user, safe='')}/deauthorize")
        elif args.command == "invalidate-tokens":
            response = client.post(f"/_sim/users/{quote(args.user, safe='')}/invalidate_tokens")
        elif args.command == "validate-endpoint":
            response = client.post("/_sim/validate_endpoint")
        elif args.command == "users":
            response = client.get("/_sim/users")
        elif args.command == "add-user":
            response = client.post(
                "/_sim/users",
                json={
                    "email": args.email,
                    "first_name": args.first_name,
                    "last_name": args.last_name,
                },
            )
        elif args.command == "webhook-url":
            url = None if args.url.lower() == "none" else args.url
            response = client.put("/_sim/config", json={"webhook_url": url})
        else:
            response = client.get("/_sim/deliveries")
    try:
        answer: Any = response.json()
    except ValueError:
        answer = None
    if response.status_code >= 400 or not isinstance(answer, dict):
        message = answer.get("error") if isinstance(answer, dict) else None
        print(
            f"error: the local Zoom answered HTTP {response.status_code}: "
            f"{message or response.text[:200]}",
            file=sys.stderr,
        )
        return 1
    if args.json:
        print(json.dumps(answer, indent=2), file=out)
        return 0 if answer.get("ok", True) else 1
    return _describe(args, answer, out)


def _delivery_text(delivery: dict[str, Any]) -> tuple[str, bool]:
    if delivery.get("attempt") == 0:
        return f"no webhook sent: {delivery.get('error')}", True
    if delivery.get("ok"):
        return f"webhook {delivery['event']} delivered (HTTP {delivery['status']})", True
    what = f"HTTP {delivery['status']}" if delivery.get("status") else delivery.get("error")
    retry = "; Zoom will retry later" if delivery.get("will_retry") else ""
    return f"webhook {delivery['event']} NOT delivered ({what}){retry}", False


def _describe(args: argparse.Namespace, answer: dict[str, Any], out: TextIO) -> int:
    if args.command == "presence":
        user = answer["user"]
        text, ok = _delivery_text(answer["delivery"])
        print(f"{user['email']} is now {user['presence_status']}; {text}", file=out)
        return 0 if ok else 1
    if args.command == "deauthorize":
        text, ok = _delivery_text(answer["delivery"])
        print(f"app removed for {args.user}, tokens revoked; {text}", file=out)
        return 0 if ok else 1
    if args.command == "invalidate-tokens":
        print(f"{answer['invalidated']} token(s) of {args.user} invalidated", file=out)
        return 0
    if args.command == "validate-endpoint":
        verdict = "OK" if answer["ok"] else "FAILED"
        print(f"endpoint validation {verdict}: {answer['detail']}", file=out)
        return 0 if answer["ok"] else 1
    if args.command == "users":
        for user in answer["users"]:
            authorized = "authorized" if user["authorized"] else "not authorized"
            print(
                f"{user['id']}  {user['email']}  {user['presence_status']}  {authorized}",
                file=out,
            )
        return 0
    if args.command == "webhook-url":
        print(f"webhooks now go to {answer['webhook_url'] or 'nowhere'}", file=out)
        return 0
    if args.command == "add-user":
        print(f"created {answer['email']} (id {answer['id']})", file=out)
        return 0
    for delivery in answer["deliveries"]:
        print(
            f"{delivery['delivery_id']} {delivery['event']} attempt {delivery['attempt']}: "
            f"{delivery['status'] or delivery['error']}",
            file=out,
        )
    return 0
