"""Serving the relay with uvicorn: in the foreground (the CLI) or in a thread
(tests and benchmarks, through ``desktop/serving.py``), always through the same
configuration."""

from __future__ import annotations

import gc
import logging
import resource

import uvicorn
from fastapi import FastAPI

from desktop.relay.app import Installer, create_app
from desktop.relay.config import RelaySettings
from desktop.relay.http_protocol import LimitedHttpProtocol, ThrottledLog
from desktop.relay.logs import SafeFormatter
from desktop.relay.relay import Relay
from desktop.serving import ThreadedServer

# Kept importable from here for tests/relay/zoom (being rewritten elsewhere);
# new code imports desktop.serving.
from desktop.serving import free_port as free_port

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def installers() -> list[Installer]:
    """The optional parts every relay runs with."""
    from desktop.relay import sessions, web, zoom

    return [zoom.install, sessions.install, web.install]


def build_app(relay: Relay, extra: list[Installer] | None = None) -> FastAPI:
    return create_app(relay, installers() + (extra or []))


def connection_cap(settings: RelaySettings) -> int:
    """``max_connections``, but never more than three quarters of the descriptors
    the process may open: the rest stay for live sockets, the database and logs."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return settings.max_connections
    return max(1, min(settings.max_connections, soft * 3 // 4))


def protocol_for(settings: RelaySettings) -> type[LimitedHttpProtocol]:
    """The HTTP protocol class with ``settings``' limits and its own connection set."""
    attributes: dict[str, object] = {
        "header_timeout": settings.header_timeout,
        "max_header_bytes": settings.max_header_bytes,
        "max_header_count": settings.max_header_count,
        "max_connections": connection_cap(settings),
        "write_timeout": settings.write_timeout,
        "linger_timeout": settings.linger_timeout,
        "open_connections": set(),
        "refusals": ThrottledLog(),
        "drops": ThrottledLog(),
    }
    return type("RelayHttpProtocol", (LimitedHttpProtocol,), attributes)


def uvicorn_config(
    app: FastAPI, settings: RelaySettings, sock_port: int | None = None
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port if sock_port is None else sock_port,
        log_level="warning",
        access_log=False,  # our AccessLog leaves out query strings
        ws_ping_interval=settings.ws_ping_interval,
        ws_ping_timeout=settings.ws_ping_timeout,
        ws_max_size=settings.max_body_bytes,
        # A state document is a few hundred bytes: compressing it saves little,
        # while each socket's zlib streams cost memory and every push would
        # compress the same text once per socket.
        ws_per_message_deflate=False,
        # websockets' sans-I/O protocol: no task of its own per socket (pings on
        # a timer), and it queues the disconnect when the app closes a socket,
        # which is how live.py's one reading task learns of its own close.
        ws="websockets-sansio",
        timeout_keep_alive=5,
        http=protocol_for(settings),
        # uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise,
        # which let any local client pick its own address for the throttle.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies),
        lifespan="on",
        server_header=False,
    )


def configure_logging(level: int = logging.INFO) -> None:
    """Log to stderr, one escaped line per record (logs.py)."""
    handler = logging.StreamHandler()
    handler.setFormatter(SafeFormatter(LOG_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])


def serve(settings: RelaySettings) -> int:
    """Open the relay and serve until interrupted. Returns an exit status."""
    relay = Relay(settings)
    try:
        app = build_app(relay)
        log.info(
            "relay serving on http://%s:%d (store: %s; durability %s)",
            settings.host,
            settings.port,
            relay.store.where,
            settings.durability,
        )
        server = uvicorn.Server(uvicorn_config(app, settings))
        tune_garbage_collector()
        server.run()
    finally:
        relay.close()
    return 0


def tune_garbage_collector() -> None:
    """Each live socket is a few dozen long-lived objects; with Python's default
    thresholds, full collections over 10,000 sockets stalled the relay for up
    to 1.85 s at a time (tests/bench fan-out). Move what start-up made out of
    the collector's sight and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)


class ThreadedRelay(ThreadedServer):
    """A relay serving from a background thread, for tests and benchmarks.

    The port is bound when this is made (``settings.port`` 0 picks a free one,
    written back into ``settings``). ``start()`` returns once the server
    accepts connections; ``stop()`` returns once it has shut down and released
    its data dir. Start again to restart on the same port and data dir.
    """

    def __init__(self, settings: RelaySettings, extra: list[Installer] | None = None) -> None:
        super().__init__(host=settings.host, port=settings.port, name="relay")
        settings.port = self.port
        self.settings = settings
        #: More routes to install (tests that need a route the relay lacks).
        self.extra = extra or []
        self.relay: Relay | None = None
        self._protocol: type[LimitedHttpProtocol] | None = None

    def open_http_connections(self) -> int:
        """How many HTTP connections the server holds open (live sockets not counted)."""
        return 0 if self._protocol is None else len(self._protocol.open_connections)

    def config(self) -> uvicorn.Config:
        relay = Relay(self.settings)
        self.relay = relay
        config = uvicorn_config(build_app(relay, self.extra), self.settings)
        http = config.http
        self._protocol = (
            http if isinstance(http, type) and issubclass(http, LimitedHttpProtocol) else None
        )
        return config

    def stop(self) -> None:
        super().stop()
        if self.relay is not None:
            self.relay.close()
        self.relay = None

    def __enter__(self) -> ThreadedRelay:
        super().__enter__()
        return self
