"""Webhook verification and endpoint validation: ZOOM.md's vectors, then every refusal."""

from __future__ import annotations

import pytest

from desktop.relay.zoom.signatures import (
    WebhookVerificationError,
    signature,
    url_validation_answer,
    verify,
)

SECRET = "zoom-secret-token-for-tests"
TIMESTAMP = "1626230692"
BODY = (
    b'{"event":"user.presence_status_updated","event_ts":1626230691572,"payload":'
    b'{"account_id":"AAAAAABBBB","object":{"date_time":"2021-07-13T21:44:51Z",'
    b'"email":"jchill@example.com","id":"z8yCxjabcdEFGHfp8uQ","presence_status":"In_Meeting"}}}'
)
SIGNATURE = "v0=728d4a350e5761f76e9dc0f128a2fab6782f9b157d63f02bcd35e3cc721357c9"
NOW = 1626230692.0


def headers(sig: str = SIGNATURE, ts: str = TIMESTAMP) -> dict[str, str]:
    return {"x-zm-signature": sig, "x-zm-request-timestamp": ts}


def test_zoom_md_signature_vector() -> None:
    assert signature(SECRET, TIMESTAMP, BODY) == SIGNATURE
    verify(SECRET, headers(), BODY, NOW)
    verify(SECRET, headers(), BODY, NOW + 7200)  # a retry that kept its first timestamp
    verify(SECRET, headers(), BODY, NOW - 300)  # a sender clock 5 minutes ahead


def test_zoom_md_url_validation_vector() -> None:
    assert url_validation_answer(SECRET, "qgg8vlvZRS6UYooatFL8Aw") == {
        "plainToken": "qgg8vlvZRS6UYooatFL8Aw",
        "encryptedToken": "9d644a9fdedca2004fd16a8fa586497eb15eb3fc2fedf6dd3b0c4748fb78d655",
    }


@pytest.mark.parametrize(
    ("given", "body", "now", "secret"),
    [
        pytest.param({}, BODY, NOW, SECRET, id="unsigned"),
        pytest.param({"x-zm-signature": SIGNATURE}, BODY, NOW, SECRET, id="no timestamp"),
        pytest.param({"x-zm-request-timestamp": TIMESTAMP}, BODY, NOW, SECRET, id="no signature"),
        pytest.param(headers(), BODY + b" ", NOW, SECRET, id="tampered body"),
        pytest.param(headers(), BODY, NOW, "another secret", id="wrong secret"),
        pytest.param(headers(), BODY, NOW + 7201, SECRET, id="over 2 hours old"),
        pytest.param(headers(), BODY, NOW - 301, SECRET, id="over 5 minutes ahead"),
        pytest.param(headers(ts="1626230693"), BODY, NOW, SECRET, id="timestamp changed"),
        pytest.param(headers(ts="-1"), BODY, NOW, SECRET, id="negative timestamp"),
        pytest.param(headers(ts="1e9"), BODY, NOW, SECRET, id="not digits"),
        pytest.param(headers(ts="9" * 40), BODY, NOW, SECRET, id="huge timestamp"),
        pytest.param(headers(sig=SIGNATURE.upper()), BODY, NOW, SECRET, id="case changed"),
        pytest.param(headers(sig=SIGNATURE[3:]), BODY, NOW, SECRET, id="no v0 prefix"),
        pytest.param(headers(sig="v0=é"), BODY, NOW, SECRET, id="non-ascii"),
    ],
)
def test_refusals(given: dict[str, str], body: bytes, now: float, secret: str) -> None:
    with pytest.raises(WebhookVerificationError) as refused:
        verify(secret, given, body, now)
    assert secret not in str(refused.value)
