"""Browser sessions: an HttpOnly cookie backed by the same hashed session tokens.

The page never holds a token: the relay sets it as an HttpOnly cookie at sign-in
(``Secure`` when the public URL is https, ``SameSite=Lax``), and
:class:`CookieSessions` turns that cookie into the ``Authorization: Bearer``
header the API already understands, at the edge, under three rules:

- A safe request (GET, HEAD) with the cookie is let through.
- A change (any other method) also needs the header ``X-CSRF-Token`` with the
  session's CSRF token, and an ``Origin``, when the browser sends one, equal to
  the public URL's. The token is an HMAC of the session token's hash under a
  key only the relay knows, so it is bound to that session and useless
  without it; the page gets it from ``GET /web/session``, which another origin
  cannot read. A refusal is 403 ``csrf_failed`` and changes nothing.
- The live socket takes the cookie only when its ``Origin`` equals the public
  URL's. From anywhere else the cookie is ignored, so the socket falls back to
  first-frame auth and, without a token, closes with 4401.

A request that carries its own ``Authorization`` header is left alone: a bearer
token is not sent by the browser on its own, so it needs no CSRF defence.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from http.cookies import SimpleCookie
from typing import Final
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from desktop.core.wire import error_body
from desktop.relay.passwords import token_hash
from desktop.relay.relay import Relay

CSRF_HEADER: Final = "x-csrf-token"
_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_CSRF_KEY_META: Final = "web_csrf_key"


def cookie_name(relay: Relay) -> str:
    """``__Host-`` (Secure, whole host, path /) when the relay is served over https."""
    return "__Host-profitringer" if is_https(relay) else "profitringer_session"


def is_https(relay: Relay) -> bool:
    return relay.settings.base_url.lower().startswith("https://")


def public_origin(relay: Relay) -> str:
    """``scheme://host[:port]`` of the public URL, as a browser writes ``Origin``."""
    parts = urlsplit(relay.settings.base_url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def csrf_token(relay: Relay, session_token: str) -> str:
    """The CSRF token of one session: HMAC-SHA256 of its token hash under the relay's key."""
    key = relay.store.get_meta(_CSRF_KEY_META)
    if key is None:
        relay.store.set_meta(_CSRF_KEY_META, secrets.token_hex(32))
        key = relay.store.get_meta(_CSRF_KEY_META)
        assert key is not None
    return hmac.new(
        bytes.fromhex(key), token_hash(session_token).encode(), hashlib.sha256
    ).hexdigest()


def session_cookie(relay: Relay, headers: list[tuple[bytes, bytes]]) -> str | None:
    """The session token in the request's cookie, if any."""
    name = cookie_name(relay)
    for key, value in headers:
        if key == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed Cookie header is no cookie  # noqa: S112
                continue
            morsel = jar.get(name)
            if morsel is not None and morsel.value:
                return morsel.value
    return None


def set_cookie_header(relay: Relay, token: str | None, max_age: int) -> str:
    """A ``Set-Cookie`` value; ``token=None`` clears the cookie."""
    parts = [
        f"{cookie_name(relay)}={token or ''}",
        "Path=/",
        "HttpOnly",
        "SameSite=Lax",
        f"Max-Age={max_age if token else 0}",
    ]
    if is_https(relay):
        parts.append("Secure")
    return "; ".join(parts)


def header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


def origin_allowed(relay: Relay, origin: str | None, *, required: bool) -> bool:
    if origin is None:
        return not required
    return origin.lower().rstrip("/") == public_origin(relay)


def change_allowed(relay: Relay, token: str, origin: str | None, sent: str | None) -> bool:
    """Whether a cookie-authenticated change may go ahead: the right CSRF token,
    and the page's own origin when the browser names one."""
    return (
        origin_allowed(relay, origin, required=False)
        and bool(sent)
        and hmac.compare_digest(sent or "", csrf_token(relay, token))
    )


class CookieSessions:
    """ASGI middleware: a browser's cookie becomes the API's bearer token (see above)."""

    def __init__(self, app: ASGIApp, relay: Relay) -> None:
        self.app = app
        self.relay = relay

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket") or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers", ()))
        token = session_cookie(self.relay, headers)
        if token is None or header(headers, b"authorization") is not None:
            await self.app(scope, receive, send)
            return
        origin = header(headers, b"origin")
        if kind == "websocket":
            # Browsers always send Origin on a WebSocket; without the right one
            # the cookie is not used (cross-site WebSocket hijacking).
            if not origin_allowed(self.relay, origin, required=True):
                await self.app(scope, receive, send)
                return
        elif scope["method"] not in _SAFE_METHODS and not change_allowed(
            self.relay, token, origin, header(headers, CSRF_HEADER.encode())
        ):
            await _refuse_csrf(send)
            return
        headers.append((b"authorization", f"Bearer {token}".encode()))
        await self.app({**scope, "headers": headers}, receive, send)


async def _refuse_csrf(send: Send) -> None:
    body = json.dumps(
        error_body(
            "csrf_failed",
            "This change did not come from the ProfitRinger page (its CSRF token or origin "
            "is missing or wrong); reload the page and try again.",
        )
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
