"""Password hashing (Argon2id) and session tokens (random, stored only as a hash)."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from typing import Final

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

# OWASP's Argon2id recommendation (m=19 MiB, t=2, p=1), with a 16-byte salt.
ARGON2_MEMORY_KIB: Final = 19456
ARGON2_ITERATIONS: Final = 2
ARGON2_LANES: Final = 1

#: 32 random bytes: 256 bits, well above the 128 the design asks for.
SESSION_TOKEN_BYTES: Final = 32

# A hash computed once, so that signing in with an unknown email costs as much
# time as a wrong password and does not reveal which emails exist.
_DUMMY_HASH: str | None = None


def hash_password(password: str) -> str:
    """An Argon2id PHC string (``$argon2id$v=19$m=...``) for ``password``."""
    kdf = Argon2id(
        salt=os.urandom(16),
        length=32,
        iterations=ARGON2_ITERATIONS,
        lanes=ARGON2_LANES,
        memory_cost=ARGON2_MEMORY_KIB,
    )
    return kdf.derive_phc_encoded(password.encode("utf-8"))


def verify_password(password: str, phc: str | None) -> bool:
    """Check ``password`` against a stored hash; ``None`` burns the same time and fails."""
    global _DUMMY_HASH
    if phc is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
        phc = _DUMMY_HASH
        password = password + "\0never"
    try:
        Argon2id.verify_phc_encoded(password.encode("utf-8"), phc)
    except (InvalidKey, ValueError):
        return False
    return True


def new_session_token() -> str:
    return secrets.token_urlsafe(SESSION_TOKEN_BYTES)


def token_hash(token: str) -> str:
    """What the database keeps of a session token: its SHA-256, never the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
