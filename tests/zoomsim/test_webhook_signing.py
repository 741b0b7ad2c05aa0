from __future__ import annotations

import hashlib
import hmac

from hypothesis import given, settings
from hypothesis import strategies as st

from desktop.zoomsim.webhook_signing import encrypted_token, sign

VECTOR_SECRET = "zoom-secret-token-for-tests"
VECTOR_BODY = (
    b'{"event":"user.presence_status_updated","event_ts":1626230691572,"payload":'
    b'{"account_id":"AAAAAABBBB","object":{"date_time":"2021-07-13T21:44:51Z",'
    b'"email":"jchill@example.com","id":"z8yCxjabcdEFGHfp8uQ","presence_status":"In_Meeting"}}}'
)


def test_signature_matches_zoom_md_vector() -> None:
    assert (
        sign(VECTOR_SECRET, 1626230692, VECTOR_BODY)
        == "v0=728d4a350e5761f76e9dc0f128a2fab6782f9b157d63f02bcd35e3cc721357c9"
    )


def test_encrypted_token_matches_zoom_md_vector() -> None:
    assert (
        encrypted_token(VECTOR_SECRET, "qgg8vlvZRS6UYooatFL8Aw")
        == "9d644a9fdedca2004fd16a8fa586497eb15eb3fc2fedf6dd3b0c4748fb78d655"
    )


@settings(max_examples=50, deadline=None)
@given(st.text(min_size=1), st.integers(0, 2**40), st.binary())
def test_signature_is_hmac_of_v0_timestamp_body(secret: str, timestamp: int, body: bytes) -> None:
    message = b"v0:" + str(timestamp).encode() + b":" + body
    expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    assert sign(secret, timestamp, body) == "v0=" + expected


def test_signature_changes_with_any_input() -> None:
    base = sign("s", 1, b"{}")
    assert sign("t", 1, b"{}") != base
    assert sign("s", 2, b"{}") != base
    assert sign("s", 1, b"{ }") != base
