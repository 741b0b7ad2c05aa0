"""``POST /webhooks/zoom``: verify, then parse, then apply, then acknowledge.

Order matters (DESIGN.md): the signature and timestamp are checked over the raw
body before any JSON is parsed; an event is acknowledged (200) only after its
effect is committed, so a crash before the commit makes Zoom retry. Nothing
here calls out to Zoom, so an answer always comes well within Zoom's 3 s.

Answers: 200 for a handled, stale, repeated or unknown-user event (nothing is
kept for an unknown user); 401 ``invalid_signature`` for anything unsigned,
tampered, stale or future-dated; 400 ``malformed_json``; 422
``invalid_event`` for missing or wrong fields and ``unsupported_event`` for an
event this relay does not subscribe to; 503 ``zoom_webhooks_not_configured``
when the relay has no ``PROFITRINGER_ZOOM_WEBHOOK_SECRET``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from desktop.core.wire import parse_iso
from desktop.relay.errors import ApiError
from desktop.relay.zoom.integration import ZoomIntegration
from desktop.relay.zoom.signatures import (
    WebhookVerificationError,
    url_validation_answer,
    verify,
)

log = logging.getLogger(__name__)

MAX_FIELD: Final = 256


def _invalid(where: str) -> ApiError:
    return ApiError(422, "invalid_event", f"The field '{where}' is missing or has the wrong type.")


def _text(container: Mapping[str, Any], name: str, where: str) -> str:
    value = container.get(name)
    if not isinstance(value, str) or not value or len(value) > MAX_FIELD:
        raise _invalid(where)
    return value


def _object(container: Mapping[str, Any], name: str, where: str) -> Mapping[str, Any]:
    value = container.get(name)
    if not isinstance(value, dict):
        raise _invalid(where)
    return value


def _event_ts(event: Mapping[str, Any], subject: Mapping[str, Any]) -> int:
    """Milliseconds that order presence events: ``event_ts``, else ``date_time``."""
    value = event.get("event_ts")
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if value is None and isinstance(subject.get("date_time"), str):
        try:
            moment: datetime = parse_iso(subject["date_time"])
        except ValueError:
            raise _invalid("payload.object.date_time") from None
        return int(moment.timestamp() * 1000)
    raise _invalid("event_ts")


class ZoomWebhooks:
    def __init__(self, integration: ZoomIntegration, secret: str | None) -> None:
        self.integration = integration
        self._secret = secret

    def handle(self, headers: Mapping[str, str], body: bytes, now: float) -> dict[str, Any]:
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
            # Not parsed (it is not trusted); a byte search only makes the log useful
            # for deauthorizations, which ZOOM.md says may fail verification.
            kind = " (it looks like app_deauthorized)" if b'"app_deauthorized"' in body else ""
            log.warning("refused a Zoom webhook%s: %s", kind, exc)
            raise ApiError(
                401,
                "invalid_signature",
                "The webhook is not signed with this app's Secret Token, or its timestamp "
                "is more than 5 minutes from now.",
            ) from exc
        try:
            event = json.loads(body)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            raise ApiError(400, "malformed_json", "The request body must be a JSON object.")
        name = _text(event, "event", "event")
        payload = _object(event, "payload", "payload")
        if name == "endpoint.url_validation":
            plain = _text(payload, "plainToken", "payload.plainToken")
            return url_validation_answer(self._secret, plain)
        if name == "user.presence_status_updated":
            subject = _object(payload, "object", "payload.object")
            user_id = _text(subject, "id", "payload.object.id")
            status = _text(subject, "presence_status", "payload.object.presence_status")
            outcome = self.integration.presence_event(user_id, status, _event_ts(event, subject))
            return {"status": outcome}
        if name == "app_deauthorized":
            user_id = _text(payload, "user_id", "payload.user_id")
            known = self.integration.deauthorized(user_id)
            return {"status": "applied" if known else "unknown"}
        raise ApiError(422, "unsupported_event", "This relay does not handle that Zoom event.")
