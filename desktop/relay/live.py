"""The live socket ``GET /api/v1/live``: a snapshot on connect, then one update
per committed change, until the client leaves or its session ends (4401).

It is served by :class:`LiveRoute`, a plain ASGI route ahead of FastAPI's
routing (as the webhook is): a socket lives for hours, and every layer it
passes through keeps a frame, an exit stack or a scope copy alive as long as
it does. An idle socket holds one task, the one reading it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from desktop.core.wire import CLOSE_SESSION_GONE, live_message
from desktop.relay.hub import QueuedSubscriber
from desktop.relay.relay import Relay
from desktop.relay.routes import bearer_token
from desktop.relay.service import AccountGone
from desktop.relay.throttle import address_key

log = logging.getLogger(__name__)

LIVE_PATH = "/api/v1/live"
#: Standard "try again later": the socket was refused for a limit, not a session.
CLOSE_TRY_LATER = 1013


class LiveAdmission:
    """How many live sockets each address has that are not yet authenticated;
    past ``limit`` a new one is refused before its handshake completes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._pending: collections.Counter[str] = collections.Counter()

    def enter(self, address: str) -> bool:
        if self._pending[address] >= self.limit:
            return False
        self._pending[address] += 1
        return True

    def leave(self, address: str) -> None:
        self._pending[address] -= 1
        if self._pending[address] <= 0:
            del self._pending[address]


async def _first_frame_token(websocket: WebSocket, wait_seconds: float) -> str | None:
    """A browser cannot set headers on a WebSocket: it sends
    ``{"type": "auth", "token": ...}`` as its first frame instead."""
    try:
        raw = await asyncio.wait_for(websocket.receive_text(), wait_seconds)
        message = json.loads(raw)
    except (TimeoutError, WebSocketDisconnect, ValueError, KeyError, RuntimeError):
        return None
    if isinstance(message, dict) and message.get("type") == "auth":
        token = message.get("token")
        if isinstance(token, str) and token:
            return token
    return None


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends until it goes away."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return


class LiveRoute:
    """``GET /api/v1/live`` as a plain ASGI route (see the module's docstring).
    Installed inside the cookie middleware, which turns a browser's cookie into
    the bearer token; any other path goes on to the app."""

    def __init__(self, app: ASGIApp, relay: Relay, admission: LiveAdmission) -> None:
        self.app = app
        self.relay = relay
        self.admission = admission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket" or scope["path"] != LIVE_PATH:
            await self.app(scope, receive, send)
            return
        await live(self.relay, self.admission, WebSocket(scope, receive, send))


async def live(relay: Relay, admission: LiveAdmission, websocket: WebSocket) -> None:
    address = address_key(websocket.client.host if websocket.client else "unknown")
    if not admission.enter(address):
        log.info("refused a live socket: too many unauthenticated ones from one address")
        await websocket.close(CLOSE_TRY_LATER)  # before accepting: an HTTP 403
        return
    try:
        token = bearer_token(websocket.headers.get("authorization"))
        await websocket.accept()
        if token is None:
            token = await _first_frame_token(websocket, relay.settings.ws_auth_timeout)
        session = relay.session_for(token) if token else None
    finally:
        admission.leave(address)
    if session is None:
        with contextlib.suppress(Exception):
            await websocket.close(CLOSE_SESSION_GONE, "sign in again")
        return
    if relay.hub.count(session.account_id) >= relay.settings.max_sockets_per_account:
        with contextlib.suppress(Exception):
            await websocket.close(CLOSE_TRY_LATER, "too many live sockets for this account")
        return

    async def close(code: int, reason: str) -> None:
        await websocket.close(code, reason)

    subscriber = QueuedSubscriber(session.account_id, session.id, websocket.send_text, close)
    relay.hub.add(subscriber)
    loop = asyncio.get_running_loop()
    expiry = loop.call_later(
        max(0.0, (session.expires_at - relay.clock()).total_seconds()),
        subscriber.close,
        CLOSE_SESSION_GONE,
        "session expired",
    )
    try:
        try:
            snapshot = relay.service.document(session.account_id)
        except AccountGone:
            subscriber.close(CLOSE_SESSION_GONE, "account deleted")
        else:
            subscriber.deliver(orjson.dumps(live_message("snapshot", snapshot)).decode())
        # Until the peer leaves; a close of ours (4401, a session that ended)
        # ends the read too, as the server queues the disconnect when it sends it.
        await _drain(websocket)
    finally:
        expiry.cancel()
        relay.hub.remove(subscriber)
        await subscriber.stop()
