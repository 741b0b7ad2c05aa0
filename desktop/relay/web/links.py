"""One-time sign-in links: a signed-in client (the tray, the demo) opens the web
page signed in as its own account, without the password and without putting a
session token in a URL.

- ``POST /api/v1/web/sign-in-link`` → 201 ``{url, expires_at}``: a link with a
  one-time code, good for :data:`LINK_LIFETIME` seconds.
- ``GET /web/sign-in?code=…`` → a page that names the account and asks
  "Sign in as … in this browser?" (a link someone forwards cannot quietly sign
  the recipient in to the sender's account).
- ``POST /web/sign-in`` ``{code}`` (that page's button, from its own origin)
  → 204 with a new browser session's cookie; the page then goes to ``/``. The
  code is used up by its first use.

Codes live in this relay process's memory, hashed; at most
:data:`MAX_PENDING` per account.
"""

from __future__ import annotations

import hashlib
import html
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, StrictStr

from desktop.core.wire import iso
from desktop.relay.errors import ApiError
from desktop.relay.relay import Relay
from desktop.relay.routes import RelayDep, SessionDep, Strict
from desktop.relay.web.auth import origin_allowed, set_cookie_header
from desktop.relay.web.common import device_name, page_headers

LINK_LIFETIME: Final = 120.0
MAX_PENDING: Final = 5
MAX_CODE: Final = 128

api_router = APIRouter(prefix="/api/v1")
page_router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class _Pending:
    account_id: str
    expires: float


class SignInLinks:
    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._pending: dict[str, _Pending] = {}

    @staticmethod
    def _key(code: str) -> str:
        return hashlib.sha256(code.encode()).hexdigest()

    def _purge(self) -> None:
        now = self._clock()
        for key in [k for k, p in self._pending.items() if p.expires <= now]:
            del self._pending[key]

    def issue(self, account_id: str) -> str:
        self._purge()
        mine = [k for k, p in self._pending.items() if p.account_id == account_id]
        for key in mine[: max(0, len(mine) - MAX_PENDING + 1)]:
            del self._pending[key]  # oldest first (dicts keep insertion order)
        code = secrets.token_urlsafe(32)
        self._pending[self._key(code)] = _Pending(account_id, self._clock() + LINK_LIFETIME)
        return code

    def peek(self, code: str) -> str | None:
        self._purge()
        pending = self._pending.get(self._key(code))
        return None if pending is None else pending.account_id

    def redeem(self, code: str) -> str | None:
        self._purge()
        pending = self._pending.pop(self._key(code), None)
        return None if pending is None else pending.account_id


def _links(request: Request) -> SignInLinks:
    links: SignInLinks = request.app.state.web_sign_in_links
    return links


class LinkOut(BaseModel):
    url: str
    expires_at: str


@api_router.post("/web/sign-in-link", status_code=201, response_model=LinkOut)
async def make_link(request: Request, session: SessionDep, relay: RelayDep) -> dict[str, Any]:
    """A one-time link that opens the web page signed in as this account."""
    code = _links(request).issue(session.account_id)
    expires = relay.clock() + timedelta(seconds=LINK_LIFETIME)
    return {"url": f"{relay.settings.base_url}/web/sign-in?code={code}", "expires_at": iso(expires)}


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · ProfitRinger</title>
<link rel="stylesheet" href="/static/style.css"></head>
<body><header class="bar"><span class="brand">ProfitRinger</span></header>
<main><section class="card narrow"><h1>{title}</h1>{body}</section></main></body></html>
"""


def _page(relay: Relay, status: int, title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        _PAGE.format(title=html.escape(title), body=body),
        status_code=status,
        headers=page_headers(relay, cache="no-store"),
    )


def _used_up(relay: Relay) -> HTMLResponse:
    return _page(
        relay,
        400,
        "This sign-in link does not work",
        "<p>It has expired or has been used already. "
        '<a href="/">Sign in with your password</a>, or open a new link from the tray.</p>',
    )


@page_router.get("/web/sign-in")
async def confirm_page(request: Request) -> Response:
    relay: Relay = request.app.state.relay
    code = request.query_params.get("code", "")[:MAX_CODE]
    account_id = _links(request).peek(code) if code else None
    account = relay.store.account_by_id(account_id) if account_id else None
    if account is None:
        return _used_up(relay)
    who = html.escape(account.email)
    return _page(
        relay,
        200,
        "Sign in to ProfitRinger",
        f"<p>Sign in as <strong>{who}</strong> in this browser?</p>"
        "<p class='note'>Only continue if you opened this link yourself.</p>"
        '<button type="button" class="primary" id="confirm-sign-in"'
        f' data-code="{html.escape(code)}">Sign in as {who}</button>'
        '<p id="sign-in-error" class="error" role="alert" hidden></p>'
        '<script type="module" src="/static/link.js"></script>',
    )


class RedeemBody(Strict):
    code: StrictStr = Field(min_length=1, max_length=MAX_CODE)


@page_router.post("/web/sign-in", status_code=204)
async def redeem(body: RedeemBody, request: Request) -> Response:
    """The confirmation page's button (static/link.js): a JSON POST, so the
    browser names its Origin (a form post under no-referrer would say "null")."""
    relay: Relay = request.app.state.relay
    if not origin_allowed(relay, request.headers.get("origin"), required=True):
        raise ApiError(
            403, "wrong_origin", f"Open the sign-in link at {relay.settings.base_url} itself."
        )
    account_id = _links(request).redeem(body.code)
    if account_id is None or relay.store.account_by_id(account_id) is None:
        raise ApiError(
            400,
            "link_used_up",
            "This sign-in link has expired or has been used already; sign in with your password.",
        )
    token = relay.open_session(account_id, device_name(request.headers.get("user-agent")))
    response = Response(status_code=204)
    response.headers["Set-Cookie"] = set_cookie_header(
        relay, token, int(relay.settings.session_lifetime)
    )
    response.headers["Cache-Control"] = "no-store"
    return response
