"""The person's web page at ``/``: sign in, status, controls, Zoom, devices.

Plain HTML, CSS and JavaScript modules shipped in this package (``static/``)
and the tray's own icons (``resources/icons``), served under a strict
Content-Security-Policy with no inline script. The page talks to the same API
and live socket as the tray, through the cookie of :mod:`.auth`:

- ``GET /`` — the page
- ``GET /static/{file}``, ``GET /static/icons/{name}.svg`` — its files
- ``POST /web/session`` ``{email, password}`` → 201 ``{account, csrf_token}``
  and the HttpOnly session cookie (only from the page's own origin)
- ``GET /web/session`` → ``{signed_in: true, account, csrf_token}``, or
  ``{signed_in: false}``
- ``DELETE /web/session`` → 204: this browser signed out, the cookie cleared
  (needs the CSRF token like every change)
- one-time sign-in links for the tray and the demo: see :mod:`.links`
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any, Final

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from desktop.core.wire import AccountJson
from desktop.relay import routes
from desktop.relay.errors import ApiError
from desktop.relay.relay import Relay
from desktop.relay.web import links
from desktop.relay.web.auth import (
    CSRF_HEADER,
    CookieSessions,
    change_allowed,
    csrf_token,
    origin_allowed,
    session_cookie,
    set_cookie_header,
)
from desktop.relay.web.common import device_name, page_headers

router = APIRouter(include_in_schema=False)

#: The page's files and their types; nothing else under /static is served.
STATIC_FILES: Final[dict[str, str]] = {
    "app.js": "text/javascript; charset=utf-8",
    "live.js": "text/javascript; charset=utf-8",
    "link.js": "text/javascript; charset=utf-8",
    "status.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "zoom.svg": "image/svg+xml",
}
ICON_NAME: Final = re.compile(r"[a-z][a-z-]{0,30}")


def _relay(request: Request) -> Relay:
    relay: Relay = request.app.state.relay
    return relay


def _file(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


@router.get("/")
async def index(request: Request) -> Response:
    return Response(
        _file("index.html"),
        media_type="text/html; charset=utf-8",
        headers=page_headers(_relay(request)),
    )


@router.get("/favicon.ico")
async def favicon(request: Request) -> Response:
    """Browsers ask for this on every page of the relay (the Zoom callback too)."""
    return await icon("available", request)


@router.get("/static/icons/{name}.svg")
async def icon(name: str, request: Request) -> Response:
    if not ICON_NAME.fullmatch(name):
        raise ApiError(404, "not_found", f"There is no icon {name!r}.")
    source = resources.files("resources").joinpath("icons", f"{name}.svg")
    if not source.is_file():
        raise ApiError(404, "not_found", f"There is no icon {name!r}.")
    return Response(
        source.read_bytes(), media_type="image/svg+xml", headers=page_headers(_relay(request))
    )


@router.get("/static/{name}")
async def static(name: str, request: Request) -> Response:
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise ApiError(404, "not_found", f"There is nothing at /static/{name}.")
    return Response(_file(name), media_type=media_type, headers=page_headers(_relay(request)))


class WebSignIn(routes.SignInBody):
    """The API's sign-in body, with its limits; a ``device_name`` sent is ignored
    (the relay names the browser from its User-Agent)."""


def _session_answer(relay: Relay, token: str, account: AccountJson) -> dict[str, object]:
    return {"account": account, "csrf_token": csrf_token(relay, token)}


@router.post("/web/session", status_code=201)
async def web_sign_in(body: WebSignIn, request: Request) -> Response:
    relay = _relay(request)
    if not origin_allowed(relay, request.headers.get("origin"), required=True):
        raise ApiError(
            403,
            "wrong_origin",
            f"Sign in from the ProfitRinger page at {relay.settings.base_url}/.",
        )
    signed_in = await routes.sign_in(
        routes.SignInBody(
            email=body.email,
            password=body.password,
            device_name=device_name(request.headers.get("user-agent")),
        ),
        request,
        relay,
    )
    response = JSONResponse(
        _session_answer(relay, signed_in["token"], signed_in["account"]), status_code=201
    )
    response.headers["Set-Cookie"] = set_cookie_header(
        relay, signed_in["token"], int(relay.settings.session_lifetime)
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _cookie_session(request: Request) -> tuple[Relay, str, Any]:
    relay = _relay(request)
    token = session_cookie(relay, list(request.scope.get("headers", ())))
    session = relay.session_for(token) if token else None
    if token is None or session is None:
        raise ApiError(401, "session_expired", "You are signed out; sign in again.")
    return relay, token, session


@router.get("/web/session")
async def web_session(request: Request) -> Response:
    """Who this browser is signed in as. Signed out is an answer, not an error
    (200 ``{"signed_in": false}``), so a first visit logs nothing in red."""
    try:
        relay, token, session = _cookie_session(request)
    except ApiError:
        return JSONResponse({"signed_in": False}, headers={"Cache-Control": "no-store"})
    answer = _session_answer(relay, token, {"id": session.account_id, "email": session.email})
    return JSONResponse({"signed_in": True, **answer}, headers={"Cache-Control": "no-store"})


@router.delete("/web/session", status_code=204)
async def web_sign_out(request: Request) -> Response:
    relay, token, session = _cookie_session(request)
    if not change_allowed(
        relay, token, request.headers.get("origin"), request.headers.get(CSRF_HEADER)
    ):
        raise ApiError(403, "csrf_failed", "Reload the page and sign out again.")
    relay.end_session(session.id)
    return Response(status_code=204, headers={"Set-Cookie": set_cookie_header(relay, None, 0)})


def install(app: FastAPI, relay: Relay) -> None:
    app.state.web_sign_in_links = links.SignInLinks()
    app.include_router(router)
    app.include_router(links.page_router)
    app.include_router(links.api_router)
    app.add_middleware(CookieSessions, relay=relay)
