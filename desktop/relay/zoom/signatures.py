"""Verifying Zoom webhook deliveries (ZOOM.md), standard-webhooks style.

One short module, one exception type. :func:`verify` looks only at the raw
body bytes and two headers: the signature is checked with a constant-time
compare and the timestamp within :data:`TOLERANCE_SECONDS` either way, before
anyone parses the JSON. Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Final

SIGNATURE_HEADER: Final = "x-zm-signature"
TIMESTAMP_HEADER: Final = "x-zm-request-timestamp"
#: Zoom publishes no replay window; five minutes either way is the common choice.
TOLERANCE_SECONDS: Final = 300
_MAX_TIMESTAMP_DIGITS: Final = 12


class WebhookVerificationError(Exception):
    """The delivery is not provably from Zoom. The message names why (never a secret)."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``v0=`` + hex HMAC-SHA256 of ``v0:<timestamp>:<body>`` keyed with the Secret Token."""
    message = b"v0:" + timestamp.encode("ascii") + b":" + body
    return "v0=" + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    now: float,
    tolerance: float = TOLERANCE_SECONDS,
) -> None:
    """Raise :class:`WebhookVerificationError` unless ``body`` is signed with ``secret``
    and its timestamp is within ``tolerance`` seconds of ``now`` (Unix seconds)."""
    given = headers.get(SIGNATURE_HEADER)
    timestamp = headers.get(TIMESTAMP_HEADER)
    if not given:
        raise WebhookVerificationError("the x-zm-signature header is missing")
    if not timestamp:
        raise WebhookVerificationError("the x-zm-request-timestamp header is missing")
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > _MAX_TIMESTAMP_DIGITS:
        raise WebhookVerificationError("the x-zm-request-timestamp header is not Unix seconds")
    if abs(now - int(timestamp)) > tolerance:
        raise WebhookVerificationError(
            "the request timestamp is too far from now (a replay, or a clock out of sync)"
        )
    expected = signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", "replace")):
        raise WebhookVerificationError("the signature does not match the body")


def url_validation_answer(secret: str, plain_token: str) -> dict[str, str]:
    """The answer to ``endpoint.url_validation``: the plainToken and its HMAC."""
    encrypted = hmac.new(
        secret.encode("utf-8"), plain_token.encode("utf-8"), hashlib.sha256
    ).hexdigest()
    return {"plainToken": plain_token, "encryptedToken": encrypted}
