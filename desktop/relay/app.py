"""The relay's ASGI application: routes, error bodies, body limit, lifespan."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from desktop import __version__
from desktop.core.wire import error_body
from desktop.relay import api, live
from desktop.relay.errors import install_error_handlers
from desktop.relay.relay import Relay

log = logging.getLogger(__name__)


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413 before anyone reads them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.limit
                except ValueError:
                    too_big = False
                if too_big:
                    await self._refuse(send)
                    return
        received = 0
        refused = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    refused = True
                    raise _BodyTooLarge
            return message

        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not response_started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            error_body("body_too_large", f"The request body is larger than {self.limit} bytes.")
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(Exception):
    pass


class AccessLog:
    """One line per request: method, path (never the query, which can carry an
    OAuth code), status and time. Replaces uvicorn's access log for that reason."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = logging.getLogger("desktop.relay.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            if self.log.isEnabledFor(logging.INFO):
                self.log.info(
                    "%s %s %d %.1fms",
                    scope["method"],
                    scope["path"],
                    status,
                    (time.perf_counter() - started) * 1000,
                )


#: Extra parts (the Zoom integration) install themselves through these.
Installer = Callable[[FastAPI, Relay], None]
StartHook = Callable[[Relay], Awaitable[None]]


def create_app(relay: Relay, installers: list[Installer] | None = None) -> FastAPI:
    """Build the ASGI app around an opened :class:`Relay`."""
    start_hooks: list[StartHook] = []
    stop_hooks: list[StartHook] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        relay.service.arm_all()
        for hook in start_hooks:
            await hook(relay)
        try:
            yield
        finally:
            for hook in stop_hooks:
                await hook(relay)
            relay.service.stop()

    app = FastAPI(
        title="ProfitRinger relay",
        version=__version__,
        description="Accounts, availability, Zoom integration and live updates.",
        lifespan=lifespan,
    )
    app.state.relay = relay
    app.state.start_hooks = start_hooks
    app.state.stop_hooks = stop_hooks
    install_error_handlers(app)
    app.include_router(api.router)
    app.include_router(live.router)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    for install in installers or []:
        install(app, relay)
    app.add_middleware(BodyLimit, limit=relay.settings.max_body_bytes)
    app.add_middleware(AccessLog)
    return app
