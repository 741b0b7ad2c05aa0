"""Relay configuration: environment variables first, so a deployment, the demo
and the tests all set the relay up the same way. Flags may override them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from desktop import dirs
from desktop.relay.broker import check_broker_url

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8765
ENV_PREFIX: Final = "PROFITRINGER_"
#: Which Zoom user an account may be linked to (desktop/relay/zoom/link_policy.py).
ZOOM_LINK_POLICIES: Final = ("any", "email", "domain")
#: What a commit promises (PROFITRINGER_DURABILITY; desktop/relay/storage/store.py).
DURABILITIES: Final = ("normal", "full")


def default_data_dir() -> Path:
    """Where the relay keeps its database and key file unless told otherwise."""
    return dirs.user_data_dir() / "relay"


def default_password_workers() -> int:
    """One core fewer than the machine has (at least one, at most four), so the
    event loop keeps a core while passwords are checked."""
    return min(4, max(1, (os.cpu_count() or 1) - 1))


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(ENV_PREFIX + name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"{ENV_PREFIX}{name} must be a whole number, not {raw!r}") from exc
    if value < 0:
        raise ValueError(f"{ENV_PREFIX}{name} must not be negative, not {raw!r}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(ENV_PREFIX + name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{ENV_PREFIX}{name} must be a number, not {raw!r}") from exc


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    """One of ``choices`` (any case, spaces around ignored), or ``default`` when unset."""
    raw = env.get(ENV_PREFIX + name)
    if not raw:
        return default
    value = raw.strip().lower()
    if value not in choices:
        raise ValueError(f"{ENV_PREFIX}{name} must be one of {', '.join(choices)}, not {raw!r}")
    return value


@dataclass
class RelaySettings:
    """Everything a relay needs to start. Durations are in seconds."""

    data_dir: Path = field(default_factory=default_data_dir)
    #: ``sqlite:///abs/path`` or ``postgresql://…``; ``None``: the SQLite file in
    #: the data dir. With PostgreSQL several relays may share the database.
    database_url: str | None = None
    #: ``normal``: a commit survives the relay being killed, not a power cut or an
    #: OS crash; ``full``: it is on disk before anything is acknowledged.
    durability: str = "normal"
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    public_url: str | None = None

    zoom_client_id: str | None = None
    zoom_client_secret: str | None = None
    zoom_webhook_secret: str | None = None
    zoom_oauth_url: str = "https://zoom.us"
    zoom_api_url: str = "https://api.zoom.us"
    #: Encryption keys for Zoom tokens at rest, newest first; empty: a key file.
    token_keys: list[str] = field(default_factory=list)
    #: How long a Zoom refresh token lives (Zoom does not say for sure: 90 days
    #: in its SDK). The keep-alive refreshes once two thirds of it have passed.
    zoom_refresh_token_lifetime: float = 90 * 24 * 3600
    #: Re-read presence from Zoom when someone has looked "in meeting" this long.
    zoom_reconcile_after: float = 2 * 3600
    #: Wait before retrying a background refresh or presence read that failed.
    zoom_retry_delay: float = 300.0
    #: With a shared database, how often each relay re-reads the connections to
    #: plan the background jobs (another relay's, should it die, included).
    zoom_plan_interval: float = 60.0
    #: Timeout of each call to Zoom, and the shorter one of a revoke.
    zoom_http_timeout: float = 10.0
    zoom_revoke_timeout: float = 5.0

    session_lifetime: float = 30 * 24 * 3600
    max_body_bytes: int = 64 * 1024
    #: A request body that has not fully arrived this long after its headers: 408.
    body_read_timeout: float = 10.0
    #: Request headers not complete this long after the connection opened or the
    #: request began: the connection is closed (a slow-loris guard uvicorn lacks).
    header_timeout: float = 10.0
    #: The request line and headers of one request, in bytes and in headers:
    #: past either, 431 and the connection closed before more is read.
    max_header_bytes: int = 16 * 1024
    max_header_count: int = 100
    #: Open HTTP connections (live sockets not counted): past it, new ones get
    #: 503 and are closed at once.
    max_connections: int = 1000
    #: An answer the client has not read for this long: the connection is dropped.
    write_timeout: float = 10.0
    #: After refusing a request whose body is still arriving, keep reading (and
    #: discarding) for this long so the refusal reaches the client (RFC 9112 9.6).
    linger_timeout: float = 2.0
    #: Sign-in throttling (throttle.py): failures per account from one address,
    #: and failures from one address in all. IPv6 addresses count by /64.
    signin_window: float = 15 * 60
    signin_slow_after: int = 3
    signin_delay_step: float = 0.25
    signin_max_delay: float = 2.0
    signin_refuse_after: int = 10
    signin_address_refuse_after: int = 30
    #: Failures on one account from everywhere past which each address gets one
    #: try at it (a first try from a new address is always checked).
    signin_account_alarm: int = 100
    #: Failure counters kept at most (oldest dropped first).
    signin_max_tracked: int = 100_000
    #: Threads that check passwords (Argon2id, about 40 ms each), and sign-ins
    #: allowed to wait for one; past that, 503 with Retry-After.
    password_workers: int = field(default_factory=default_password_workers)
    password_queue: int = 64
    #: Addresses (or CIDR networks) of reverse proxies whose X-Forwarded-For is
    #: believed; empty: the header is ignored.
    trusted_proxies: list[str] = field(default_factory=list)
    #: Live sockets at most per account, and unauthenticated ones per address.
    max_sockets_per_account: int = 50
    max_unauthenticated_sockets_per_address: int = 10
    #: Expired sessions are deleted this often.
    purge_interval: float = 3600.0
    #: Serve /docs and /redoc (their scripts come from a CDN); off by default.
    api_docs: bool = False
    #: Live-socket heartbeat (WebSocket ping) interval and its answer timeout.
    ws_ping_interval: float = 20.0
    ws_ping_timeout: float = 20.0
    #: Seconds a live socket has to authenticate (a browser's first-frame auth).
    ws_auth_timeout: float = 5.0
    #: How often the relay checks that the sessions of open live sockets still
    #: exist (``relay user passwd`` run beside it ends them in the database).
    session_sweep_interval: float = 30.0

    #: Where relays meet: a ``redis://host:port/db`` URL for Redis pub/sub
    #: between several relays; ``None``: in-process, for one relay (broker.py).
    broker_url: str | None = field(default=None, repr=False)

    #: Which Zoom user an account may link to: any, email or domain (link_policy.py).
    zoom_link_policy: str = "any"
    #: Pending Zoom connect links kept per account; a newer one drops the oldest.
    zoom_pending_connects: int = 5

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def shared_database(self) -> bool:
        """Whether the database is PostgreSQL, which several relays may share."""
        return bool(self.database_url) and not str(self.database_url).startswith("sqlite:")

    @property
    def zoom_configured(self) -> bool:
        return bool(self.zoom_client_id and self.zoom_client_secret)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RelaySettings:
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(ENV_PREFIX + name)
            return value if value else None

        settings = cls()
        if data_dir := get("DATA_DIR"):
            settings.data_dir = Path(data_dir)
        settings.public_url = get("PUBLIC_URL")
        if url := get("DATABASE_URL"):
            if not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
                raise ValueError(
                    f"{ENV_PREFIX}DATABASE_URL must start with sqlite:/// (then an absolute "
                    "path) or postgresql://"
                )
            settings.database_url = url
        settings.durability = _choice(env, "DURABILITY", DURABILITIES, settings.durability)
        settings.zoom_client_id = get("ZOOM_CLIENT_ID")
        settings.zoom_client_secret = get("ZOOM_CLIENT_SECRET")
        settings.zoom_webhook_secret = get("ZOOM_WEBHOOK_SECRET")
        settings.zoom_oauth_url = (get("ZOOM_OAUTH_URL") or settings.zoom_oauth_url).rstrip("/")
        settings.zoom_api_url = (get("ZOOM_API_URL") or settings.zoom_api_url).rstrip("/")
        keys = get("TOKEN_KEYS")
        settings.token_keys = [k.strip() for k in keys.split(",") if k.strip()] if keys else []
        settings.zoom_refresh_token_lifetime = _float(
            env, "ZOOM_REFRESH_TOKEN_LIFETIME", settings.zoom_refresh_token_lifetime
        )
        # ZOOM_RECONCILE_AFTER is the documented name; RECONCILE_AFTER (the
        # first one, without ZOOM_) keeps working when the new one is unset.
        reconcile_name = (
            "ZOOM_RECONCILE_AFTER"
            if env.get(ENV_PREFIX + "ZOOM_RECONCILE_AFTER")
            else "RECONCILE_AFTER"
        )
        settings.zoom_reconcile_after = _float(env, reconcile_name, settings.zoom_reconcile_after)
        settings.zoom_retry_delay = _float(env, "ZOOM_RETRY_DELAY", settings.zoom_retry_delay)
        settings.zoom_plan_interval = _float(env, "ZOOM_PLAN_INTERVAL", settings.zoom_plan_interval)
        settings.zoom_http_timeout = _float(env, "ZOOM_HTTP_TIMEOUT", settings.zoom_http_timeout)
        settings.session_lifetime = _float(env, "SESSION_LIFETIME", settings.session_lifetime)
        settings.header_timeout = _float(env, "HEADER_TIMEOUT", settings.header_timeout)
        settings.body_read_timeout = _float(env, "BODY_READ_TIMEOUT", settings.body_read_timeout)
        settings.ws_ping_interval = _float(env, "WS_PING_INTERVAL", settings.ws_ping_interval)
        settings.ws_ping_timeout = _float(env, "WS_PING_TIMEOUT", settings.ws_ping_timeout)
        settings.signin_delay_step = _float(env, "SIGNIN_DELAY_STEP", settings.signin_delay_step)
        settings.ws_auth_timeout = _float(env, "WS_AUTH_TIMEOUT", settings.ws_auth_timeout)
        settings.max_header_bytes = _int(env, "MAX_HEADER_BYTES", settings.max_header_bytes)
        settings.max_header_count = _int(env, "MAX_HEADER_COUNT", settings.max_header_count)
        settings.max_connections = _int(env, "MAX_CONNECTIONS", settings.max_connections)
        settings.write_timeout = _float(env, "WRITE_TIMEOUT", settings.write_timeout)
        settings.linger_timeout = _float(env, "LINGER_TIMEOUT", settings.linger_timeout)
        settings.signin_window = _float(env, "SIGNIN_WINDOW", settings.signin_window)
        settings.signin_refuse_after = _int(
            env, "SIGNIN_REFUSE_AFTER", settings.signin_refuse_after
        )
        settings.signin_address_refuse_after = _int(
            env, "SIGNIN_ADDRESS_REFUSE_AFTER", settings.signin_address_refuse_after
        )
        settings.signin_account_alarm = _int(
            env, "SIGNIN_ACCOUNT_ALARM", settings.signin_account_alarm
        )
        settings.signin_max_tracked = _int(env, "SIGNIN_MAX_TRACKED", settings.signin_max_tracked)
        settings.password_workers = max(1, _int(env, "PASSWORD_WORKERS", settings.password_workers))
        settings.password_queue = _int(env, "PASSWORD_QUEUE", settings.password_queue)
        proxies = get("TRUSTED_PROXIES")
        settings.trusted_proxies = (
            [p.strip() for p in proxies.split(",") if p.strip()] if proxies else []
        )
        settings.max_sockets_per_account = _int(
            env, "MAX_SOCKETS_PER_ACCOUNT", settings.max_sockets_per_account
        )
        settings.max_unauthenticated_sockets_per_address = _int(
            env,
            "MAX_UNAUTHENTICATED_SOCKETS_PER_ADDRESS",
            settings.max_unauthenticated_sockets_per_address,
        )
        settings.purge_interval = _float(env, "PURGE_INTERVAL", settings.purge_interval)
        settings.api_docs = (get("API_DOCS") or "").lower() in ("1", "true", "yes", "on")
        settings.session_sweep_interval = _float(
            env, "SESSION_SWEEP_INTERVAL", settings.session_sweep_interval
        )
        if broker_url := get("BROKER_URL"):
            check_broker_url(broker_url.strip())
            settings.broker_url = broker_url.strip()
        settings.zoom_link_policy = _choice(
            env, "ZOOM_LINK_POLICY", ZOOM_LINK_POLICIES, settings.zoom_link_policy
        )
        pending = _float(env, "ZOOM_PENDING_CONNECTS", settings.zoom_pending_connects)
        if pending < 1 or pending != int(pending):
            raise ValueError(
                f"{ENV_PREFIX}ZOOM_PENDING_CONNECTS must be a whole number of at least 1, "
                f"not {pending!r}"
            )
        settings.zoom_pending_connects = int(pending)
        return settings
