"""``POST /webhooks/zoom``: verify, then parse, then apply, then acknowledge.

Order matters (DESIGN.md): the signature and timestamp are checked over the raw
body before any JSON is parsed; an event is acknowledged only after its
effect is committed, so a crash before the commit makes Zoom retry. Nothing
here calls out to Zoom, so an answer always comes well within Zoom's 3 s.

Answers (ZOOM.md "verifying a request"): **200 to every correctly signed
delivery** — handled, stale, repeated, future-dated, for an unknown user, an
event this relay does not handle, or one it cannot read — since Zoom never
retries a 4xx and may switch deliveries off after repeated failures. The body
says what happened: ``{"status": "applied" | "ignored" | "unknown"}``, with
``"detail"`` when a delivery was ignored for its content. 401
``invalid_signature`` for anything unsigned, tampered, more than 2 hours old
or more than 5 minutes ahead; 503 ``zoom_webhooks_not_configured`` when the
relay has no ``PROFITRINGER_ZOOM_WEBHOOK_SECRET``; a 5xx only when the effect
was not committed (Zoom retries it).

An ``app_deauthorized`` that fails verification is still refused, but it is a
hint (a developer could not verify one, ZOOM.md): the relay checks that Zoom
user's grant with a refresh at once, and only Zoom's answer can end it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from desktop.core.wire import error_body, parse_iso
from desktop.relay.app import WEBHOOK_PATH, access_logged, read_body
from desktop.relay.errors import ApiError
from desktop.relay.logs import describe_exception
from desktop.relay.zoom.integration import ZoomIntegration
from desktop.relay.zoom.signatures import (
    WebhookVerificationError,
    url_validation_answer,
    verify,
)

log = logging.getLogger(__name__)

MAX_FIELD: Final = 256


class Unreadable(Exception):
    """A signed delivery whose content cannot be used; the message says why."""


def _text(container: Mapping[str, Any], name: str, where: str) -> str:
    value = container.get(name)
    if not isinstance(value, str) or not value or len(value) > MAX_FIELD:
        raise Unreadable(f"the field '{where}' is missing or has the wrong type")
    return value


def _object(container: Mapping[str, Any], name: str, where: str) -> Mapping[str, Any]:
    value = container.get(name)
    if not isinstance(value, dict):
        raise Unreadable(f"the field '{where}' is missing or has the wrong type")
    return value


def _millis(value: object) -> int | None:
    """Milliseconds since the epoch from what Zoom puts in a time field: an int of
    milliseconds, an ISO date-time, or "2024-09-08 15:58:40" (UTC, as its
    deauthorization example has it); ``None`` when it is none of these."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value > 0 else None
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return int(text)
    try:
        moment = parse_iso(text)
    except ValueError:
        try:
            moment = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        except ValueError:
            return None
    return int(moment.timestamp() * 1000)


def _event_ts(event: Mapping[str, Any], subject: Mapping[str, Any]) -> int:
    """Milliseconds that order presence events: ``event_ts``, else ``date_time``."""
    value = event.get("event_ts")
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if value is None:
        for key in ("date_time", "date-time"):  # Zoom's own example spells it with a hyphen
            moment = _millis(subject.get(key))
            if moment is not None:
                return moment
    raise Unreadable("the field 'event_ts' is missing or has the wrong type")


def _deauthorized_at(event: Mapping[str, Any], payload: Mapping[str, Any]) -> int | None:
    """When the app was removed: ``deauthorization_time``, else an ``event_ts``."""
    for value in (
        payload.get("deauthorization_time"),
        event.get("event_ts"),
        payload.get("event_ts"),
    ):
        moment = _millis(value)
        if moment is not None:
            return moment
    return None


def _parse(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except ValueError:  # orjson's own error is one, and so is nesting past its limit
        return None


class ZoomWebhooks:
    def __init__(self, integration: ZoomIntegration, secret: str | None) -> None:
        self.integration = integration
        self._secret = secret

    async def handle(self, headers: Mapping[str, str], body: bytes, now: float) -> dict[str, Any]:
        """Handle one delivery; returns the 200 body or raises :class:`ApiError`."""
        if not self._secret:
            log.warning("refused a Zoom webhook: PROFITRINGER_ZOOM_WEBHOOK_SECRET is not set")
            raise ApiError(
                503,
                "zoom_webhooks_not_configured",
                "This relay has no Zoom webhook secret configured, so it cannot accept "
                "Zoom events. The operator must set PROFITRINGER_ZOOM_WEBHOOK_SECRET.",
            )
        try:
            verify(self._secret, headers, body, now)
        except WebhookVerificationError as exc:
            self._refused(body, exc)
            raise ApiError(
                401,
                "invalid_signature",
                "The webhook is not signed with this app's Secret Token, or its timestamp "
                "is more than 2 hours old or more than 5 minutes ahead.",
            ) from exc
        event = _parse(body)
        try:
            if not isinstance(event, dict):
                raise Unreadable("the body is not a JSON object")
            return await self._apply(event)
        except Unreadable as exc:
            name = event.get("event") if isinstance(event, dict) else None
            kind = name if isinstance(name, str) and len(name) <= MAX_FIELD else "?"
            log.warning("acknowledged a signed Zoom webhook (%r) it cannot use: %s", kind, exc)
            return {"status": "ignored", "detail": str(exc)}

    async def _apply(self, event: Mapping[str, Any]) -> dict[str, Any]:
        name = _text(event, "event", "event")
        payload = _object(event, "payload", "payload")
        if name == "endpoint.url_validation":
            assert self._secret is not None
            plain = _text(payload, "plainToken", "payload.plainToken")
            return url_validation_answer(self._secret, plain)
        if name == "user.presence_status_updated":
            subject = _object(payload, "object", "payload.object")
            user_id = _text(subject, "id", "payload.object.id")
            status = _text(subject, "presence_status", "payload.object.presence_status")
            outcome = await self.integration.presence_event(
                user_id, status, _event_ts(event, subject)
            )
            return {"status": outcome}
        if name == "app_deauthorized":
            user_id = _text(payload, "user_id", "payload.user_id")
            outcome = self.integration.deauthorized(user_id, _deauthorized_at(event, payload))
            return {"status": outcome}
        return {"status": "ignored", "detail": "this relay does not handle that event"}

    def _refused(self, body: bytes, problem: WebhookVerificationError) -> None:
        """Log a refused delivery; an unverified app removal starts a grant check."""
        if b'"app_deauthorized"' not in body:
            log.warning("refused a Zoom webhook: %s", problem)
            return
        # Parsed only to learn whose grant to check; nothing in it is acted on.
        event = _parse(body)
        if not isinstance(event, dict):
            event = {}
        payload = event.get("payload")
        user_id = payload.get("user_id") if isinstance(payload, dict) else None
        if event.get("event") != "app_deauthorized" or not isinstance(user_id, str):
            log.warning("refused a Zoom webhook that mentions app_deauthorized: %s", problem)
            return
        log.warning(
            "refused an app_deauthorized webhook: %s; checking that Zoom user's grant with "
            "Zoom instead",
            problem,
        )
        if 0 < len(user_id) <= MAX_FIELD:
            self.integration.check_grant_soon(user_id)


class WebhookRoute:
    """``POST /webhooks/zoom`` as a plain ASGI route ahead of the whole app: a
    front route (``RelayApp``) that sees the request before FastAPI's middleware,
    the relay's own and the routing, the way Starlette's pure-ASGI middlewares
    are written, so the hot path's cost is the work rather than the framework.
    It applies the same body limit and writes the same access-log line as every
    other request, and answers an unexpected failure with the 500 the app would
    (Zoom retries it). Any other method or path goes on to the app (which
    answers 405 for a GET here, and documents the route in its OpenAPI schema)."""

    def __init__(
        self,
        app: ASGIApp,
        receiver: ZoomWebhooks,
        now: Callable[[], float],
        limit: int,
        read_timeout: float,
    ) -> None:
        self.app = app
        self.receiver = receiver
        self.now = now
        self.limit = limit
        self.read_timeout = read_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != WEBHOOK_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        try:
            body = await read_body(scope, receive, send, self.limit, self.read_timeout)
            if isinstance(body, int):
                status = body
                return
            status, payload, response_headers = await self._answer(scope, body)
            await send(
                {"type": "http.response.start", "status": status, "headers": response_headers}
            )
            await send({"type": "http.response.body", "body": payload})
        finally:
            access_logged(scope, status, started)

    async def _answer(
        self, scope: Scope, body: bytes
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            # As Starlette's Headers.get: the first of a repeated header counts.
            headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
        extra: dict[str, str] = {}
        try:
            answer: Mapping[str, Any] = await self.receiver.handle(headers, body, self.now())
            status = 200
        except ApiError as exc:
            answer, status, extra = error_body(exc.code, exc.message), exc.status, exc.headers or {}
        except Exception as exc:
            # As the app's last-resort handler: a 500 (Zoom retries it), logged with
            # the type and frames only, since an exception's text may quote the request.
            log.error("internal error on POST %s: %s", WEBHOOK_PATH, describe_exception(exc))
            answer = error_body(
                "internal_error", "The relay failed to handle this request; try again."
            )
            status = 500
        payload = orjson.dumps(answer)
        response_headers = _json_headers(payload)
        for name, value in extra.items():
            response_headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        return status, payload, response_headers


def _json_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
