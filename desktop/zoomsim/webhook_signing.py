"""Signing Zoom webhook deliveries, the sender's side of ZOOM.md's scheme.

Pure functions: no clock, no I/O. The relay verifies with its own code; these
exist so the local Zoom (and tests) can produce exactly what Zoom sends.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["encrypted_token", "sign", "signed_message"]


def signed_message(timestamp: int, body: bytes) -> bytes:
    """The bytes Zoom signs: ``v0:<timestamp>:<body>``."""
    return b"v0:" + str(int(timestamp)).encode("ascii") + b":" + body


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``x-zm-signature`` header value for ``body`` sent at ``timestamp`` (seconds)."""
    digest = hmac.new(
        secret.encode("utf-8"), signed_message(timestamp, body), hashlib.sha256
    ).hexdigest()
    return f"v0={digest}"


def encrypted_token(secret: str, plain_token: str) -> str:
    """The ``encryptedToken`` an endpoint must answer to ``endpoint.url_validation``."""
    return hmac.new(secret.encode("utf-8"), plain_token.encode("utf-8"), hashlib.sha256).hexdigest()
