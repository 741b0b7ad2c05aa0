"""The Zoom endpoints and the installer that adds them to a relay app.

- ``POST /api/v1/integrations/zoom/connect`` → ``{authorize_url}``: the relay's
  start page (``GET /oauth/zoom/start``, start_page.py), which leads on to Zoom
- ``DELETE /api/v1/integrations/zoom`` → the state document
- ``POST /api/v1/meetings`` ``{topic, start_time?, duration_minutes?}`` → 201
  ``{id, topic, join_url, start_time}``
- ``GET /oauth/zoom/callback`` → a small HTML page
- ``POST /webhooks/zoom`` → see webhooks.py

Errors (the relay's usual body): 503 ``zoom_not_configured`` when the relay has
no Zoom app credentials (the operator's to fix, not the caller's); 409
``zoom_not_connected``; 429 ``zoom_rate_limited``; 502 ``zoom_error`` when
Zoom failed or could not be reached. ``DELETE /api/v1/integrations/zoom``
always works (without Zoom configured it deletes tokens and revokes nothing).

The callback's pages: 200 connected (naming the Zoom user and the account;
a Zoom user linked to another account moves here, since Zoom's code exchange
has just killed that account's grant, and that account's state says why);
400 a state that is unknown, expired (10 minutes) or already used, a missing
parameter, or a code Zoom refused; 403 a browser that did not open the start
page, consent denied, a Zoom user the link policy refuses, or Zoom did not
grant ``user:read:presence_status`` / ``meeting:write:meeting`` (the page
names them and what the operator must fix, and the account's state carries
``zoom.problem`` ``zoom_scopes_missing``); 409 a race with another connect of
the same Zoom user; 502 Zoom unreachable; 503 Zoom not configured. A state is
used up by its first use, whatever the outcome.
"""

from __future__ import annotations

import html
import logging
from typing import Annotated, Any, Final

import httpx
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, StrictInt, StrictStr

from desktop.core.wire import StateJson, WireError, parse_iso
from desktop.relay.app import WEBHOOK_PATH, add_front_route
from desktop.relay.errors import ApiError
from desktop.relay.relay import Relay
from desktop.relay.routes import SessionDep, StateOut, Strict
from desktop.relay.service import AccountGone
from desktop.relay.zoom import start_page
from desktop.relay.zoom.client import ZoomApi, ZoomError, ZoomRateLimited
from desktop.relay.zoom.integration import (
    CALLBACK_PATH,
    ConnectFailed,
    ZoomIntegration,
    ZoomNotConfigured,
    ZoomNotConnected,
)
from desktop.relay.zoom.vault import open_vault
from desktop.relay.zoom.webhooks import WebhookRoute, ZoomWebhooks

log = logging.getLogger(__name__)

MAX_QUERY_VALUE: Final = 2048


async def get_integration(request: Request) -> ZoomIntegration:
    integration: ZoomIntegration = request.app.state.zoom
    return integration


IntegrationDep = Annotated[ZoomIntegration, Depends(get_integration)]

# A new error per raise: one module-level instance re-raised would carry the
# traceback (and the chained cause) of one request into the next.


def not_configured() -> ApiError:
    return ApiError(
        503,
        "zoom_not_configured",
        "Zoom is not configured on this relay. The operator must set "
        "PROFITRINGER_ZOOM_CLIENT_ID and PROFITRINGER_ZOOM_CLIENT_SECRET.",
    )


def not_connected() -> ApiError:
    return ApiError(
        409, "zoom_not_connected", "Zoom is not connected to this account; connect Zoom first."
    )


def account_gone() -> ApiError:
    return ApiError(401, "session_expired", "This account no longer exists.")


class ConnectOut(BaseModel):
    authorize_url: str = Field(
        description="The relay's start page for this connect: open it in the person's "
        "browser, which it binds to the connect before leading on to Zoom."
    )


class MeetingBody(Strict):
    topic: StrictStr = Field(min_length=1, max_length=200)
    start_time: StrictStr | None = Field(
        default=None, max_length=64, description="ISO-8601 with a time zone"
    )
    duration_minutes: StrictInt | None = Field(default=None, ge=1, le=1440)


class MeetingOut(BaseModel):
    id: str
    topic: str
    join_url: str
    start_time: str | None


api_router = APIRouter(prefix="/api/v1")
zoom_router = APIRouter()


@api_router.post("/integrations/zoom/connect", response_model=ConnectOut)
async def connect(request: Request, session: SessionDep, zoom: IntegrationDep) -> dict[str, Any]:
    try:
        authorize_url = zoom.begin_connect(session.account_id)
    except ZoomNotConfigured as exc:
        raise not_configured() from exc
    # Not Zoom's URL but the relay's start page, which binds the browser (start_page.py).
    starts = start_page.get_starts(request)
    return {"authorize_url": starts.link(session.account_id, authorize_url)}


@api_router.delete("/integrations/zoom", response_model=StateOut)
async def disconnect(session: SessionDep, zoom: IntegrationDep) -> StateJson:
    try:
        return await zoom.disconnect(session.account_id)
    except AccountGone as exc:
        raise account_gone() from exc


@api_router.post("/meetings", status_code=201, response_model=MeetingOut)
async def create_meeting(
    body: MeetingBody, session: SessionDep, zoom: IntegrationDep
) -> dict[str, Any]:
    topic = body.topic.strip()
    if not topic:
        raise ApiError(422, "invalid_value", "The field 'topic' must not be blank.")
    start = None
    if body.start_time is not None:
        try:
            start = parse_iso(body.start_time)
        except WireError as exc:
            raise ApiError(
                422, "invalid_value", "The field 'start_time' must be an ISO-8601 time with a zone."
            ) from exc
    try:
        link = await zoom.create_meeting(session.account_id, topic, start, body.duration_minutes)
    except ZoomNotConfigured as exc:
        raise not_configured() from exc
    except ZoomNotConnected as exc:
        raise not_connected() from exc
    except ZoomRateLimited as exc:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        raise ApiError(
            429,
            "zoom_rate_limited",
            "Zoom is limiting how many meetings this account can create right now; "
            "try again later.",
            headers,
        ) from exc
    except ZoomError as exc:
        log.warning("creating a Zoom meeting failed: %s", exc)
        raise ApiError(
            502, "zoom_error", "Zoom could not create the meeting just now; try again shortly."
        ) from exc
    return link.as_json()


_PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:34em;margin:4em auto;padding:0 1em}}
</style></head><body><h1>{title}</h1><p>{message}</p></body></html>
"""


def page(status: int, title: str, message: str) -> HTMLResponse:
    return HTMLResponse(
        _PAGE.format(title=html.escape(title), message=html.escape(message)),
        status_code=status,
        # The callback's URL carries a code: keep it out of caches and referrers.
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


@zoom_router.get(CALLBACK_PATH, response_class=HTMLResponse, include_in_schema=True)
async def callback(request: Request, zoom: IntegrationDep) -> HTMLResponse:
    """Zoom's redirect target after consent."""
    params = request.query_params
    state = params.get("state", "")[:MAX_QUERY_VALUE]
    code = params.get("code", "")[:MAX_QUERY_VALUE]
    error = params.get("error", "")[:MAX_QUERY_VALUE]
    if not zoom.configured:
        return page(503, "Zoom is not configured", "The relay's operator must set up Zoom first.")
    if state:
        cookie = request.cookies.get(start_page.COOKIE_NAME)
        refusal = start_page.get_starts(request).binding_refusal(state, cookie)
        if refusal is not None:
            zoom.deny_connect(state)  # used up: it was seen outside its browser
            return page(refusal.status, refusal.title, refusal.message)
    if error:
        zoom.deny_connect(state)
        if error == "access_denied":
            return page(
                403,
                "Zoom was not connected",
                "You chose not to allow access at Zoom, so nothing was changed. "
                "You can connect again from ProfitRinger at any time.",
            )
        return page(
            400,
            "Zoom was not connected",
            "Zoom did not grant access, so nothing was changed. "
            "Start again from ProfitRinger with Connect Zoom.",
        )
    if not state or not code:
        return page(
            400,
            "This Zoom sign-in link is incomplete",
            "Nothing was changed. Start again from ProfitRinger with Connect Zoom.",
        )
    try:
        connected = await zoom.complete_connect(state, code)
    except ConnectFailed as exc:
        return page(exc.status, exc.title, exc.message)
    message = (
        f"Zoom {connected.zoom_email} is now connected to ProfitRinger "
        f"{connected.account_email} — you can close this tab."
    )
    if connected.taken_from_another_account:
        message += (
            " It was connected to another ProfitRinger account until now; Zoom keeps one "
            "connection per Zoom user, so that account no longer follows your meetings "
            "and has been told."
        )
    return page(200, "Zoom is connected", message)


@zoom_router.post(WEBHOOK_PATH)
async def webhook(request: Request) -> dict[str, Any]:
    """Zoom's webhook target (signed; see ZOOM.md). A POST is answered by
    :class:`WebhookRoute` before routing; this route is its OpenAPI entry, and
    answers the same way should a request reach it."""
    receiver: ZoomWebhooks = request.app.state.zoom_webhooks
    relay: Relay = request.app.state.relay
    body = await request.body()
    return await receiver.handle(request.headers, body, relay.clock().timestamp())


def build_integration(
    relay: Relay, transport: httpx.AsyncBaseTransport | None = None
) -> ZoomIntegration:
    """The integration for ``relay``'s settings (no Zoom app: connect refuses)."""
    settings = relay.settings
    if not settings.zoom_configured:
        log.info(
            "Zoom is not configured (PROFITRINGER_ZOOM_CLIENT_ID/_CLIENT_SECRET unset): "
            "Zoom features answer 503 zoom_not_configured"
        )
        return ZoomIntegration(relay, api=None, vault=None)
    assert settings.zoom_client_id is not None
    assert settings.zoom_client_secret is not None
    vault = open_vault(settings)
    http = httpx.AsyncClient(
        timeout=settings.zoom_http_timeout, transport=transport, follow_redirects=False
    )
    api = ZoomApi(
        client_id=settings.zoom_client_id,
        client_secret=settings.zoom_client_secret,
        oauth_url=settings.zoom_oauth_url,
        api_url=settings.zoom_api_url,
        http=http,
        revoke_timeout=settings.zoom_revoke_timeout,
        clock=relay.clock,
    )
    return ZoomIntegration(relay, api=api, vault=vault, http=http)


def install(app: FastAPI, relay: Relay) -> None:
    """Installer (server.installers()): routes, hooks and the deletion hook."""
    integration = build_integration(relay)
    app.state.zoom = integration
    app.state.zoom_webhooks = ZoomWebhooks(integration, relay.settings.zoom_webhook_secret)
    if not relay.settings.zoom_webhook_secret:
        log.info("PROFITRINGER_ZOOM_WEBHOOK_SECRET is unset: Zoom webhooks are refused (503)")
    app.include_router(api_router)
    app.include_router(zoom_router)
    # Ahead of the whole app, middlewares included (its own body limit and log).
    receiver = app.state.zoom_webhooks
    add_front_route(
        app,
        lambda inner: WebhookRoute(
            inner,
            receiver=receiver,
            now=lambda: relay.clock().timestamp(),
            limit=relay.settings.max_body_bytes,
            read_timeout=relay.settings.body_read_timeout,
        ),
    )
    start_page.install(app, relay, integration.vault)

    async def start(_: Relay) -> None:
        await integration.start()

    async def stop(_: Relay) -> None:
        await integration.stop()

    app.state.start_hooks.append(start)
    app.state.stop_hooks.append(stop)
    relay.account_deletion_hooks.append(integration.on_account_deleted)
