"""The relay's ASGI application: routes, error bodies, body limit, lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from desktop import __version__
from desktop.core.wire import error_body
from desktop.relay import live, routes
from desktop.relay.errors import install_error_handlers
from desktop.relay.logs import describe_exception, escape_control
from desktop.relay.relay import Relay

log = logging.getLogger(__name__)


class BodyLimit:
    """Read each request body whole before the app sees it, refusing one over
    ``limit`` bytes with 413 and one that trickles in slower than ``read_timeout``
    with 408. Bodies here are small JSON documents, so buffering costs nothing,
    and nothing downstream can swallow the refusal."""

    def __init__(self, app: ASGIApp, limit: int, read_timeout: float = 10.0) -> None:
        self.app = app
        self.limit = limit
        self.read_timeout = read_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = await read_body(scope, receive, send, self.limit, self.read_timeout)
        if isinstance(body, int):
            return
        # Not the webhook: its signature is checked over the raw bytes first (an
        # unsigned body gets 401), and a signed delivery it cannot use is
        # acknowledged, never 4xx'd, since Zoom never retries a 4xx (ZOOM.md);
        # its own parser copes with any depth.
        if scope.get("path") != WEBHOOK_PATH and json_too_deep(body):
            await _refuse(
                send,
                400,
                "json_too_deep",
                f"The request body nests deeper than {MAX_JSON_DEPTH} levels; send flatter JSON.",
            )
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def read_body(
    scope: Scope, receive: Receive, send: Send, limit: int, read_timeout: float
) -> bytes | int:
    """The request's whole body, or the status it was refused with (413 over
    ``limit`` bytes, 408 slower than ``read_timeout`` seconds), 0 if the client left."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            return await _refuse(send, 413, "body_too_large", _too_large(limit))
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(read_timeout):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return 0
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    return await _refuse(send, 413, "body_too_large", _too_large(limit))
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
    except TimeoutError:
        return await _refuse(
            send, 408, "request_timeout", "The request body arrived too slowly; send it again."
        )
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(limit: int) -> str:
    return f"The request body is larger than {limit} bytes."


#: Deeper JSON is refused before anything parses it: Python's parser raises
#: RecursionError (a 500) somewhere past a thousand levels, and no document
#: the relay accepts nests more than a few.
MAX_JSON_DEPTH: Final = 32
WEBHOOK_PATH: Final = "/webhooks/zoom"
_JSON_STRUCTURE: Final = re.compile(rb'[\[\]{}"\\]')


def json_too_deep(body: bytes) -> bool:
    """Whether ``body``, read as JSON, opens more than MAX_JSON_DEPTH arrays or
    objects at once. Cheap for ordinary bodies: they have too few brackets to
    need the scan."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return False
    depth = 0
    in_string = skip_next = False
    for match in _JSON_STRUCTURE.finditer(body):
        char = match.group()
        if skip_next:  # the byte a backslash escapes
            skip_next = False
        elif in_string:
            if char == b"\\":
                skip_next = body[match.end() : match.end() + 1] in (b'"', b"\\")
            elif char == b'"':
                in_string = False
        elif char == b'"':
            in_string = True
        elif char in (b"[", b"{"):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif char in (b"]", b"}"):
            depth -= 1
    return False


async def _refuse(send: Send, status: int, code: str, message: str) -> int:
    body = json.dumps(error_body(code, message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
    return status


class AccessLog:
    """One line per request: method, path (never the query, which can carry an
    OAuth code), status and time. Replaces uvicorn's access log for that reason."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

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
            access_logged(scope, status, started)


_access_log: Final = logging.getLogger("desktop.relay.access")


def access_logged(scope: Scope, status: int, started: float) -> None:
    """The access log's line for a request answered ``status`` (0: no answer),
    begun at ``started`` (``time.perf_counter()``)."""
    if _access_log.isEnabledFor(logging.INFO):
        _access_log.info(
            "%s %s %d %.1fms",
            escape_control(scope["method"]),
            escape_control(scope["path"]),
            status,
            (time.perf_counter() - started) * 1000,
        )


#: Headers every HTML page carries: no scripts, no framing (clickjacking), no
#: sniffing a page into something else, and no Referer leaking an OAuth code.
HTML_SECURITY_HEADERS: Final[tuple[tuple[bytes, bytes], ...]] = (
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:;"
        b" base-uri 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)
#: /docs and /redoc, when turned on, load FastAPI's scripts from its CDN.
DOCS_POLICY: Final = (
    b"default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net;"
    b" style-src 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com;"
    b" font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com;"
    b" connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"
)


class HtmlSecurityHeaders:
    """Add :data:`HTML_SECURITY_HEADERS` to every ``text/html`` response, whichever
    route made it (the Zoom pages included), unless the route set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def secured_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                names = {name.lower() for name, _ in headers}
                content_type = next(
                    (value for name, value in headers if name.lower() == b"content-type"), b""
                )
                if content_type.lower().startswith(b"text/html"):
                    wanted = HTML_SECURITY_HEADERS
                    if scope["path"].startswith(("/docs", "/redoc")):
                        wanted = ((wanted[0][0], DOCS_POLICY), *wanted[1:])
                    headers += [h for h in wanted if h[0] not in names]
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, secured_send)


_ERROR_SCHEMA: dict[str, Any] = {
    "title": "ErrorBody",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "snake_case, stable"},
                "message": {"type": "string", "description": "a sentence for a person"},
            },
        }
    },
}


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Make the OpenAPI document say what the relay really answers on errors.

    FastAPI documents 422 as its own ``{"detail": [...]}``; the relay answers
    every error with ``{"error": {"code", "message"}}`` (errors.py), including
    4xx/5xx that routes do not list. JSON routes get that body for 422, 4XX and
    5XX; the OAuth callback answers HTML pages and is left as it is.
    """
    schema.setdefault("components", {}).setdefault("schemas", {})["ErrorBody"] = _ERROR_SCHEMA
    for path, item in schema.get("paths", {}).items():
        if not path.startswith(("/api/", "/webhooks/")):
            continue
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = _error_response("A field is missing or not valid.")
            responses.setdefault("4XX", _error_response("The request was refused."))
            responses.setdefault("5XX", _error_response("The relay or Zoom failed."))
    schemas = schema["components"]["schemas"]
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return schema


async def not_ready(relay: Relay) -> str | None:
    """Why the relay should get no traffic now, or ``None``: its database does
    not answer (``store.ping()``, plain or async), or its broker is not
    connected. Never a URL or a password."""
    ping = getattr(relay.store, "ping", None)
    if ping is not None:
        try:
            answer = ping()
            if inspect.isawaitable(answer):
                await answer
        except Exception as exc:
            return f"The database does not answer ({type(exc).__name__})."
    problem = relay.broker.problem()
    if problem is not None:
        return problem[:1].upper() + problem[1:] + "."
    return None


async def purge_sessions(relay: Relay) -> None:
    """Delete expired sessions at start and every ``purge_interval`` seconds: a
    session is otherwise deleted only when its token is used again."""
    while True:
        try:
            purged = relay.purge_expired_sessions()
        except Exception as exc:  # the next pass retries; the relay keeps serving
            log.warning("purging expired sessions failed: %s", describe_exception(exc))
        else:
            if purged:
                log.info("purged %d expired sessions", purged)
        await asyncio.sleep(relay.settings.purge_interval)


class RelayApp(FastAPI):
    """FastAPI with *front routes*: plain ASGI routes that see a request before
    any of the app's middleware (FastAPI's own error, telemetry and body-limit
    layers, and the relay's), for a path where that stack is most of the cost.
    A front route brings its own body limit, access-log line and last-resort
    answer, and passes every other request on."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.front_routes: list[Callable[[ASGIApp], ASGIApp]] = []

    def build_middleware_stack(self) -> ASGIApp:
        app = super().build_middleware_stack()
        for wrap in reversed(self.front_routes):  # the first added sees requests first
            app = wrap(app)
        return app


def add_front_route(app: FastAPI, wrap: Callable[[ASGIApp], ASGIApp]) -> None:
    """Put a front route (see :class:`RelayApp`) around ``app``'s whole stack."""
    if not isinstance(app, RelayApp):
        raise TypeError("front routes need an app made by create_app")
    if app.middleware_stack is not None:
        raise RuntimeError("front routes must be added before the app starts")
    app.front_routes.append(wrap)


#: Extra parts (the Zoom integration) install themselves through these.
Installer = Callable[[FastAPI, Relay], None]
StartHook = Callable[[Relay], Awaitable[None]]


def create_app(relay: Relay, installers: list[Installer] | None = None) -> FastAPI:
    """Build the ASGI app around an opened :class:`Relay`."""
    start_hooks: list[StartHook] = []
    stop_hooks: list[StartHook] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await relay.broker.start()
        relay.service.arm_all()
        for hook in start_hooks:
            await hook(relay)
        purger = asyncio.create_task(purge_sessions(relay), name="purge-sessions")
        try:
            yield
        finally:
            purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purger
            for hook in stop_hooks:
                await hook(relay)
            relay.service.stop()
            await relay.broker.stop()

    app = RelayApp(
        title="ProfitRinger relay",
        version=__version__,
        description="Accounts, availability, Zoom integration and live updates.",
        lifespan=lifespan,
        # Their pages load scripts and styles from a CDN: off unless asked for.
        docs_url="/docs" if relay.settings.api_docs else None,
        redoc_url="/redoc" if relay.settings.api_docs else None,
    )
    app.state.relay = relay
    # Added first, so it sits innermost of the middlewares: inside the cookie
    # sessions (web/auth.py), which a browser's socket needs, ahead of routing.
    app.add_middleware(
        live.LiveRoute,
        relay=relay,
        admission=live.LiveAdmission(relay.settings.max_unauthenticated_sockets_per_address),
    )
    app.state.start_hooks = start_hooks
    app.state.stop_hooks = stop_hooks
    install_error_handlers(app)
    app.include_router(routes.router)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        """Liveness: the process answers (its database and broker may not)."""
        return {"status": "ok", "version": __version__}

    @app.get(
        "/readyz",
        responses={503: {"description": "the database or the broker does not answer"}},
    )
    async def readyz() -> JSONResponse:
        """Readiness, for a load balancer: the database and the broker answer."""
        problem = await not_ready(relay)
        headers = {"Cache-Control": "no-store"}
        if problem is not None:
            return JSONResponse(error_body("not_ready", problem), status_code=503, headers=headers)
        return JSONResponse(
            {"status": "ready", "database": "ok", "broker": relay.broker.kind},
            headers=headers,
        )

    for install in installers or []:
        install(app, relay)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(
        BodyLimit,
        limit=relay.settings.max_body_bytes,
        read_timeout=relay.settings.body_read_timeout,
    )
    app.add_middleware(HtmlSecurityHeaders)
    app.add_middleware(AccessLog)
    return app
