"""Relay configuration: environment variables first, so a deployment, the demo
and the tests all set the relay up the same way. Flags may override them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8765
ENV_PREFIX: Final = "PROFITRINGER_"


def default_data_dir() -> Path:
    """Where the relay keeps its database and key file unless told otherwise."""
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "profitringer" / "relay"


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(ENV_PREFIX + name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{ENV_PREFIX}{name} must be a number, not {raw!r}") from exc


@dataclass
class RelaySettings:
    """Everything a relay needs to start. Durations are in seconds."""

    data_dir: Path = field(default_factory=default_data_dir)
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
    #: Sign-in throttling, per email and per client address.
    signin_window: float = 15 * 60
    signin_slow_after: int = 3
    signin_delay_step: float = 0.25
    signin_max_delay: float = 2.0
    signin_refuse_after: int = 10
    #: Live-socket heartbeat (WebSocket ping) interval and its answer timeout.
    ws_ping_interval: float = 20.0
    ws_ping_timeout: float = 20.0
    #: Seconds a browser client has to send its first-frame auth.
    ws_auth_timeout: float = 10.0
    #: How often the relay checks that the sessions of open live sockets still
    #: exist (``relay user passwd`` run beside it ends them in the database).
    session_sweep_interval: float = 30.0

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

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
        settings.zoom_reconcile_after = _float(
            env, "RECONCILE_AFTER", settings.zoom_reconcile_after
        )
        settings.zoom_retry_delay = _float(env, "ZOOM_RETRY_DELAY", settings.zoom_retry_delay)
        settings.zoom_http_timeout = _float(env, "ZOOM_HTTP_TIMEOUT", settings.zoom_http_timeout)
        settings.session_lifetime = _float(env, "SESSION_LIFETIME", settings.session_lifetime)
        settings.header_timeout = _float(env, "HEADER_TIMEOUT", settings.header_timeout)
        settings.body_read_timeout = _float(env, "BODY_READ_TIMEOUT", settings.body_read_timeout)
        settings.ws_ping_interval = _float(env, "WS_PING_INTERVAL", settings.ws_ping_interval)
        settings.ws_ping_timeout = _float(env, "WS_PING_TIMEOUT", settings.ws_ping_timeout)
        settings.signin_delay_step = _float(env, "SIGNIN_DELAY_STEP", settings.signin_delay_step)
        settings.session_sweep_interval = _float(
            env, "SESSION_SWEEP_INTERVAL", settings.session_sweep_interval
        )
        return settings
