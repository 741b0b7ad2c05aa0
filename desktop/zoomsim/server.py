"""The local Zoom over HTTP: Zoom's OAuth, REST and webhook wire format, plus a control API.

Zoom's side (shapes as in ZOOM.md):

- ``GET /oauth/authorize`` — consent page (Allow / Deny), or an immediate
  redirect when ``auto_approve`` is on. ``login_hint`` or ``user`` (an email or
  id) picks the consenting user; otherwise the first user, created as
  ``demo@zoom.example`` if there is none.
- ``POST /oauth/authorize/decision`` — the consent page's form.
- ``POST /oauth/token``, ``POST /oauth/revoke`` — Basic client auth, form body.
- ``GET /v2/users/me``, ``GET /v2/users/{id|me}/presence_status``,
  ``POST /v2/users/{id|me}/meetings`` — Bearer access token.
- ``GET /j/{meeting_id}`` — a join page whose buttons put the host in the
  meeting (``In_Meeting``) and take them out again (``Available``).

Control API (JSON; errors are ``{"error": "<sentence>"}``; no authentication,
so serve it on loopback only):

- ``GET /_sim/users`` → ``{"users": [...]}``; ``POST /_sim/users``
  ``{email, first_name?, last_name?, presence?}`` → 201 user.
- ``POST /_sim/users/{id_or_email}/presence`` ``{status}`` (webhook spelling)
  → ``{"user": ..., "delivery": attempt}`` once the first delivery attempt of
  ``user.presence_status_updated`` is done; failures retry in the background.
- ``POST /_sim/users/{id_or_email}/deauthorize`` → ``{"delivery": attempt}``;
  revokes the user's tokens and delivers ``app_deauthorized``.
- ``POST /_sim/users/{id_or_email}/invalidate_tokens`` → ``{"invalidated": n}``.
- ``POST /_sim/users/{id_or_email}/expire_access_tokens`` → ``{"expired": n}``.
- ``POST /_sim/validate_endpoint`` → ``{"ok", "status", "detail"}``.
- ``GET /_sim/deliveries`` → ``{"deliveries": [attempt, ...]}`` where an attempt
  is ``{delivery_id, event, attempt, url, status, error, ok, at, will_retry}``;
  ``GET /_sim/deliveries/pending`` → ``{"pending": n}``.
- ``GET /_sim/issued_tokens`` → ``{"access_tokens", "refresh_tokens", "codes"}``.
- ``GET /_sim/meetings`` → ``{"meetings": [...]}``.
- ``POST /_sim/users/{id_or_email}/rest_presence`` ``{dialect?, status?}``:
  how REST spells the user's presence (``openapi``, ``prose``, ``self_dnd``,
  ``webhook``), or an exact word to answer (``""`` clears it).
- ``POST /_sim/deliveries/hold`` keeps new deliveries back;
  ``POST /_sim/deliveries/release`` ``{order: oldest_first|newest_first}``
  sends them → ``{"deliveries": [first attempt, ...]}``.
- ``POST /_sim/fail`` ``{endpoint: token|revoke|meetings|presence|me,
  mode: 500|429|timeout|answer, count, status?, body?, headers?}`` →
  ``{"faults": {...}}``; count 0 clears; ``answer`` sends ``status`` with the
  JSON ``body`` and ``headers`` (for Zoom's published answers).
- ``GET /_sim/config``, ``PUT /_sim/config`` ``{webhook_url?, auto_approve?,
  app_scopes?, lowercase_webhook_ids?, presence_time_key?,
  deauthorization_shape?, deauthorization_secret?,
  revoke_deauthorization_delay?, retry_keeps_timestamp?, reported_api_url?,
  dead_grant_shape?}`` (see ``SimConfig``).

``run_in_thread`` serves all this from a background thread for tests and the
demo (through ``desktop/serving.py``, which serves any ASGI app so).
"""

from __future__ import annotations

import contextlib
import html
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from desktop.serving import ThreadedServer as ThreadedServer  # also for tests/relay/zoom
from desktop.zoomsim.sim import (
    BEHAVIOURS,
    AuthorizeError,
    ControlError,
    OAuthError,
    SimConfig,
    ZoomRestError,
    ZoomSim,
)

__all__ = ["RunningZoomSim", "create_app", "run_in_thread"]

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:36em;margin:3em auto}}
button{{font-size:1.1em;margin-right:1em}}</style></head>
<body><h1>{title}</h1>{body}</body></html>
"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=html.escape(title), body=body), status_code=status)


async def _form(request: Request) -> dict[str, str]:
    """Query parameters overlaid with the urlencoded body (Zoom accepts both)."""
    fields = dict(request.query_params)
    raw = await request.body()
    try:
        fields.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise OAuthError(400, "invalid_request", "The body is not UTF-8 form data.") from None
    return fields


async def _json_object(request: Request, *, empty_ok: bool = True) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip() and empty_ok:
        return {}
    try:
        document = json.loads(raw)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise ControlError(400, "The body must be a JSON object.")
    return document


def create_app(sim: ZoomSim) -> Starlette:
    """The local Zoom's ASGI app; its lifespan starts and stops ``sim``'s webhooks."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await sim.start()
        try:
            yield
        finally:
            await sim.aclose()

    async def fault(endpoint: str, rest: bool) -> Response | None:
        taken = sim.take_fault(endpoint)
        if taken is None:
            return None
        mode = taken.mode
        if mode == "answer":
            return JSONResponse(taken.body, status_code=taken.status, headers=taken.headers)
        if mode == "timeout":
            await sim.stall()
            status = 504
        else:
            status = int(mode)
        if status == 429:
            if rest:
                body: dict[str, Any] = {
                    "code": 429,
                    "message": "You have exceeded the daily rate limit of requests (simulated).",
                }
            else:
                body = {"reason": "Too many requests (simulated)", "error": "too_many_requests"}
        elif rest:
            body = {"code": status, "message": "Internal error, please retry later (simulated)."}
        else:
            body = {"reason": "Internal error (simulated)", "error": "server_error"}
        return JSONResponse(body, status_code=status)

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    # -- OAuth -----------------------------------------------------------------

    async def authorize(request: Request) -> Response:
        pending = sim.start_authorization(dict(request.query_params))
        if sim.config.auto_approve:
            return RedirectResponse(sim.decide(pending.id, allow=True), status_code=302)
        user = sim.find_user(pending.user_id)
        scopes = "".join(f"<li><code>{html.escape(s)}</code></li>" for s in pending.scopes)
        body = (
            f"<p>The app <code>{html.escape(sim.config.client_id)}</code> asks to act as "
            f"<b>{html.escape(user.email)}</b> with these permissions:</p><ul>{scopes}</ul>"
            '<form method="post" action="/oauth/authorize/decision">'
            f'<input type="hidden" name="request_id" value="{html.escape(pending.id)}">'
            '<button type="submit" name="decision" value="allow">Allow</button>'
            '<button type="submit" name="decision" value="deny">Deny</button></form>'
        )
        return _page("Local Zoom: authorize app", body)

    async def decision(request: Request) -> Response:
        form = await _form(request)
        target = sim.decide(form.get("request_id", ""), allow=form.get("decision") == "allow")
        return RedirectResponse(target, status_code=302)

    async def token(request: Request) -> Response:
        failed = await fault("token", rest=False)
        if failed is not None:
            return failed
        sim.check_client(request.headers.get("authorization"))
        return JSONResponse(sim.token(await _form(request), base(request)))

    async def revoke(request: Request) -> Response:
        failed = await fault("revoke", rest=False)
        if failed is not None:
            return failed
        sim.check_client(request.headers.get("authorization"))
        return JSONResponse(sim.revoke(await _form(request)))

    # -- REST ------------------------------------------------------------------

    async def users_me(request: Request) -> Response:
        failed = await fault("me", rest=True)
        if failed is not None:
            return failed
        return JSONResponse(sim.me(request.headers.get("authorization")))

    async def presence_status(request: Request) -> Response:
        failed = await fault("presence", rest=True)
        if failed is not None:
            return failed
        answer = sim.presence_status(
            request.headers.get("authorization"), request.path_params["user_id"]
        )
        return JSONResponse(answer)

    async def create_meeting(request: Request) -> Response:
        failed = await fault("meetings", rest=True)
        if failed is not None:
            return failed
        authorization = request.headers.get("authorization")
        sim.authenticate(authorization)  # 401 before looking at the body
        raw = await request.body()
        body: Any = {}
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        if not isinstance(body, dict):
            raise ZoomRestError(400, 300, "Request Body should be a valid JSON object.")
        meeting = sim.create_meeting(
            authorization, request.path_params["user_id"], body, base(request)
        )
        return JSONResponse(meeting, status_code=201)

    # -- the join page ---------------------------------------------------------

    def find_meeting(request: Request) -> dict[str, Any]:
        wanted = str(request.path_params["meeting_id"])
        for meeting in sim.meetings():
            if str(meeting["id"]) == wanted:
                return meeting
        raise ControlError(404, f"There is no meeting {wanted} in the local Zoom.")

    async def join_page(request: Request) -> Response:
        meeting = find_meeting(request)
        mid = html.escape(str(meeting["id"]))
        body = (
            f"<p>{html.escape(str(meeting['topic']))}, hosted by "
            f"{html.escape(str(meeting['host_email']))}.</p>"
            f'<form method="post" action="/j/{mid}/join"><button>Join as host</button></form>'
            f'<form method="post" action="/j/{mid}/leave"><button>Leave</button></form>'
        )
        return _page(f"Local Zoom meeting {meeting['id']}", body)

    async def join_or_leave(request: Request) -> Response:
        meeting = find_meeting(request)
        joining = request.url.path.endswith("/join")
        status = "In_Meeting" if joining else "Available"
        attempt = await sim.set_presence_async(str(meeting["host_id"]), status)
        said = "You are in the meeting." if joining else "You left the meeting."
        sent = f"Webhook: {attempt.status or attempt.error}."
        return _page("Local Zoom", f"<p>{said}</p><p>{html.escape(sent)}</p>")

    # -- control API -----------------------------------------------------------

    async def list_users(request: Request) -> Response:
        return JSONResponse({"users": sim.users()})

    async def add_user(request: Request) -> Response:
        doc = await _json_object(request, empty_ok=False)
        email = doc.get("email")
        if not isinstance(email, str):
            raise ControlError(400, "email is required.")
        first, last = doc.get("first_name"), doc.get("last_name")
        presence = doc.get("presence", "Available")
        user_id = doc.get("id")
        if not all(isinstance(v, str | None) for v in (first, last, user_id)) or not isinstance(
            presence, str
        ):
            raise ControlError(400, "first_name, last_name, id and presence must be strings.")
        user = sim.add_user(email, first, last, presence, user_id)
        return JSONResponse({**user.profile(), "presence_status": user.presence}, status_code=201)

    async def set_presence(request: Request) -> Response:
        doc = await _json_object(request, empty_ok=False)
        status = doc.get("status")
        if not isinstance(status, str):
            raise ControlError(400, "status is required (a webhook spelling such as In_Meeting).")
        ref = request.path_params["ref"]
        attempt = await sim.set_presence_async(ref, status)
        user = sim.find_user(ref)
        return JSONResponse(
            {
                "user": {**user.profile(), "presence_status": user.presence},
                "delivery": attempt.as_json(),
            }
        )

    async def rest_presence(request: Request) -> Response:
        doc = await _json_object(request, empty_ok=False)
        dialect, status = doc.get("dialect"), doc.get("status")
        if not all(isinstance(v, str | None) for v in (dialect, status)):
            raise ControlError(400, "dialect and status must be strings.")
        user = sim.set_rest_presence(request.path_params["ref"], dialect, status)
        return JSONResponse({"rest_dialect": user.rest_dialect, "rest_status": user.rest_status})

    async def hold(request: Request) -> Response:
        sim.webhooks.hold()
        return JSONResponse({"holding": True})

    async def release(request: Request) -> Response:
        doc = await _json_object(request)
        order = doc.get("order", "oldest_first")
        if order not in ("oldest_first", "newest_first"):
            raise ControlError(400, "order must be oldest_first or newest_first.")
        attempts = await sim.webhooks.release(newest_first=order == "newest_first")
        return JSONResponse({"deliveries": [a.as_json() for a in attempts]})

    async def deauthorize(request: Request) -> Response:
        attempt = await sim.deauthorize_async(request.path_params["ref"])
        return JSONResponse({"delivery": attempt.as_json()})

    async def invalidate_tokens(request: Request) -> Response:
        return JSONResponse({"invalidated": sim.invalidate_tokens(request.path_params["ref"])})

    async def expire_access_tokens(request: Request) -> Response:
        return JSONResponse({"expired": sim.expire_access_tokens(request.path_params["ref"])})

    async def validate_endpoint(request: Request) -> Response:
        return JSONResponse(await sim.validate_endpoint_async())

    async def deliveries(request: Request) -> Response:
        return JSONResponse({"deliveries": sim.deliveries()})

    async def pending(request: Request) -> Response:
        return JSONResponse({"pending": sim.pending_deliveries()})

    async def issued_tokens(request: Request) -> Response:
        return JSONResponse(sim.issued_tokens())

    async def meetings(request: Request) -> Response:
        return JSONResponse({"meetings": sim.meetings()})

    async def fail(request: Request) -> Response:
        doc = await _json_object(request, empty_ok=False)
        count, status = doc.get("count", 1), doc.get("status", 200)
        headers = doc.get("headers") or {}
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (count, status)):
            raise ControlError(400, "count and status must be whole numbers.")
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise ControlError(400, "headers must be an object of strings.")
        sim.inject_fault(
            str(doc.get("endpoint")),
            str(doc.get("mode")),
            count,
            status=status,
            body=doc.get("body"),
            headers=headers,
        )
        return JSONResponse({"faults": sim.faults()})

    def config_view() -> dict[str, Any]:
        config = sim.config
        return {
            "webhook_url": config.webhook_url,
            "auto_approve": config.auto_approve,
            "client_id": config.client_id,
            **{name: getattr(config, name) for name in BEHAVIOURS},
            "app_scopes": list(config.app_scopes),
        }

    async def get_config(request: Request) -> Response:
        return JSONResponse(config_view())

    async def put_config(request: Request) -> Response:
        doc = await _json_object(request, empty_ok=False)
        if "webhook_url" in doc:
            url = doc["webhook_url"]
            if url is not None and not isinstance(url, str):
                raise ControlError(400, "webhook_url must be a string or null.")
            sim.set_webhook_url(url)
        if "auto_approve" in doc:
            if not isinstance(doc["auto_approve"], bool):
                raise ControlError(400, "auto_approve must be true or false.")
            sim.config.auto_approve = doc["auto_approve"]
        sim.configure({k: v for k, v in doc.items() if k not in ("webhook_url", "auto_approve")})
        return JSONResponse(config_view())

    async def index(request: Request) -> Response:
        return JSONResponse({"service": "local Zoom (ProfitRinger zoomsim)", **config_view()})

    # -- errors ----------------------------------------------------------------

    async def oauth_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OAuthError)
        return JSONResponse(exc.body(), status_code=exc.status)

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ZoomRestError)
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    async def control_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ControlError)
        if request.url.path.startswith("/v2/"):
            return JSONResponse({"code": 1001, "message": exc.message}, status_code=exc.status)
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    async def authorize_error(request: Request, exc: Exception) -> Response:
        return _page("Local Zoom: cannot authorize", f"<p>{html.escape(str(exc))}</p>", 400)

    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        OAuthError: oauth_error,
        ZoomRestError: api_error,
        ControlError: control_error,
        AuthorizeError: authorize_error,
    }
    routes = [
        Route("/", index),
        Route("/oauth/authorize", authorize, methods=["GET"]),
        Route("/oauth/authorize/decision", decision, methods=["POST"]),
        Route("/oauth/token", token, methods=["POST"]),
        Route("/oauth/revoke", revoke, methods=["POST"]),
        Route("/v2/users/me", users_me, methods=["GET"]),
        Route("/v2/users/{user_id}/presence_status", presence_status, methods=["GET"]),
        Route("/v2/users/{user_id}/meetings", create_meeting, methods=["POST"]),
        Route("/j/{meeting_id}", join_page, methods=["GET"]),
        Route("/j/{meeting_id}/join", join_or_leave, methods=["POST"]),
        Route("/j/{meeting_id}/leave", join_or_leave, methods=["POST"]),
        Route("/_sim/users", list_users, methods=["GET"]),
        Route("/_sim/users", add_user, methods=["POST"]),
        Route("/_sim/users/{ref}/presence", set_presence, methods=["POST"]),
        Route("/_sim/users/{ref}/deauthorize", deauthorize, methods=["POST"]),
        Route("/_sim/users/{ref}/rest_presence", rest_presence, methods=["POST"]),
        Route("/_sim/deliveries/hold", hold, methods=["POST"]),
        Route("/_sim/deliveries/release", release, methods=["POST"]),
        Route("/_sim/users/{ref}/invalidate_tokens", invalidate_tokens, methods=["POST"]),
        Route("/_sim/users/{ref}/expire_access_tokens", expire_access_tokens, methods=["POST"]),
        Route("/_sim/validate_endpoint", validate_endpoint, methods=["POST"]),
        Route("/_sim/deliveries", deliveries, methods=["GET"]),
        Route("/_sim/deliveries/pending", pending, methods=["GET"]),
        Route("/_sim/issued_tokens", issued_tokens, methods=["GET"]),
        Route("/_sim/meetings", meetings, methods=["GET"]),
        Route("/_sim/fail", fail, methods=["POST"]),
        Route("/_sim/config", get_config, methods=["GET"]),
        Route("/_sim/config", put_config, methods=["PUT"]),
    ]
    return Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan)


class RunningZoomSim(ThreadedServer):
    """A local Zoom serving from a background thread: ``url``, ``sim``, ``stop()``."""

    def __init__(self, sim: ZoomSim, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(create_app(sim), host, port)
        self.sim = sim
        self.before_stop = sim.wake_stalled_requests

    def __enter__(self) -> RunningZoomSim:
        super().__enter__()
        return self


def run_in_thread(
    config: SimConfig | ZoomSim, host: str = "127.0.0.1", port: int = 0
) -> RunningZoomSim:
    """Start a local Zoom on ``host:port`` (0: a free port) and return once it serves.

    Use as a context manager, or call ``.stop()``.
    """
    sim = config if isinstance(config, ZoomSim) else ZoomSim(config)
    running = RunningZoomSim(sim, host, port)
    running.start()
    return running
