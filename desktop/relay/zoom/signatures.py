"""Verifying Zoom webhook deliveries (ZOOM.md), standard-webhooks style.

One short module, one exception type. :func:`verify` looks only at the raw
body bytes and two headers: the signature is checked with a constant-time
compare and the timestamp at most :data:`MAX_AGE_SECONDS` old and at most
:data:`MAX_AHEAD_SECONDS` ahead, before anyone parses the JSON. Nothing here
reads a clock or does I/O.

The window is lopsided on purpose (ZOOM.md "verifying a request"): Zoom does
not say whether its retries (5, 20 and 60 minutes after a failed attempt) are
signed afresh, and a retry that keeps the first attempt's timestamp must still
count. Ordering by ``event_ts``, the dedupe of repeats and the
deauthorization-time check make a replay inside the window harmless.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Final

SIGNATURE_HEADER: Final = "x-zm-signature"
TIMESTAMP_HEADER: Final = "x-zm-request-timestamp"
#: How old a signature timestamp may be: Zoom's last retry comes ~85 minutes on.
MAX_AGE_SECONDS: Final = 2 * 3600
#: How far ahead of our clock a signature timestamp may be (clock skew).
MAX_AHEAD_SECONDS: Final = 300
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
    max_age: float = MAX_AGE_SECONDS,
    max_ahead: float = MAX_AHEAD_SECONDS,
) -> None:
    """Raise :class:`WebhookVerificationError` unless ``body`` is signed with ``secret``
    and its timestamp is at most ``max_age`` seconds before ``now`` and at most
    ``max_ahead`` after it (Unix seconds)."""
    given = headers.get(SIGNATURE_HEADER)
    timestamp = headers.get(TIMESTAMP_HEADER)
    if not given:
        raise WebhookVerificationError("the x-zm-signature header is missing")
    if not timestamp:
        raise WebhookVerificationError("the x-zm-request-timestamp header is missing")
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > _MAX_TIMESTAMP_DIGITS:
        raise WebhookVerificationError("the x-zm-request-timestamp header is not Unix seconds")
    age = now - int(timestamp)
    if age > max_age:
        raise WebhookVerificationError(
            "the request timestamp is more than 2 hours old (a replay, or a clock out of sync)"
        )
    if -age > max_ahead:
        raise WebhookVerificationError(
            "the request timestamp is more than 5 minutes ahead (a clock out of sync)"
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
