"""Property-based tests of webhook verification and parsing (hypothesis).

Pure: any body or header set that is not correctly signed within the window is
refused. Over HTTP against a real relay: such requests get 401, correctly
signed but malformed payloads get a 4xx, and neither changes any state.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.relay.zoom.signatures import (
    MAX_AGE_SECONDS,
    MAX_AHEAD_SECONDS,
    WebhookVerificationError,
    signature,
    verify,
)
from tests.support.relay import RunningRelay, start_relay

SECRET = "zoom-secret-token-for-tests"
NOW = 1_700_000_000

bodies = st.binary(max_size=2048)
ASCII = st.characters(min_codepoint=33, max_codepoint=126)
# A signature timestamp this many seconds from now is inside the window.
offsets = st.integers(min_value=-MAX_AGE_SECONDS, max_value=MAX_AHEAD_SECONDS)


def headers_for(body: bytes, timestamp: int, secret: str = SECRET) -> dict[str, str]:
    return {
        "x-zm-signature": signature(secret, str(timestamp), body),
        "x-zm-request-timestamp": str(timestamp),
    }


def test_the_zoom_md_vector() -> None:
    body = (
        b'{"event":"user.presence_status_updated","event_ts":1626230691572,"payload":'
        b'{"account_id":"AAAAAABBBB","object":{"date_time":"2021-07-13T21:44:51Z",'
        b'"email":"jchill@example.com","id":"z8yCxjabcdEFGHfp8uQ","presence_status":"In_Meeting"}}}'
    )
    headers = {
        "x-zm-signature": "v0=728d4a350e5761f76e9dc0f128a2fab6782f9b157d63f02bcd35e3cc721357c9",
        "x-zm-request-timestamp": "1626230692",
    }
    verify(SECRET, headers, body, now=1626230692)


@given(body=bodies, offset=offsets)
def test_correctly_signed_within_the_window_is_accepted(body: bytes, offset: int) -> None:
    verify(SECRET, headers_for(body, NOW + offset), body, now=NOW)


@given(body=bodies, other=bodies, offset=offsets)
def test_any_other_body_is_refused(body: bytes, other: bytes, offset: int) -> None:
    if other == body:
        return
    with pytest.raises(WebhookVerificationError):
        verify(SECRET, headers_for(body, NOW + offset), other, now=NOW)


@given(
    body=bodies,
    offset=st.one_of(
        st.integers(min_value=MAX_AHEAD_SECONDS + 1, max_value=10**9),
        st.integers(min_value=-(10**9), max_value=-MAX_AGE_SECONDS - 1),
    ),
)
def test_outside_the_window_is_refused_even_when_signed(body: bytes, offset: int) -> None:
    with pytest.raises(WebhookVerificationError):
        verify(SECRET, headers_for(body, NOW + offset), body, now=NOW)


@given(body=bodies, secret=st.text(min_size=1, max_size=40))
def test_signed_with_another_secret_is_refused(body: bytes, secret: str) -> None:
    if secret == SECRET:
        return
    with pytest.raises(WebhookVerificationError):
        verify(SECRET, headers_for(body, NOW, secret), body, now=NOW)


@given(
    headers=st.dictionaries(
        st.sampled_from(["x-zm-signature", "x-zm-request-timestamp", "x-other"]),
        st.text(max_size=80),
    ),
    body=bodies,
)
def test_arbitrary_headers_are_refused(headers: dict[str, str], body: bytes) -> None:
    with pytest.raises(WebhookVerificationError):
        verify(SECRET, headers, body, now=NOW)


# -- over HTTP, against a real relay ----------------------------------------------------


@pytest.fixture(scope="module")
def hooked_relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningRelay, str]]:
    data: Path = tmp_path_factory.mktemp("relay")
    with start_relay(data, zoom_webhook_secret=SECRET) as relay:
        relay.add_user("ada@example.com", "correct horse battery")
        token = relay.sign_in("ada@example.com", "correct horse battery")
        yield relay, token


def state_of(relay: RunningRelay, token: str) -> dict[str, Any]:
    state: dict[str, Any] = httpx.get(
        relay.url + "/api/v1/state", headers={"Authorization": f"Bearer {token}"}
    ).json()
    return state


PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@PROPERTY_SETTINGS
@given(
    body=bodies,
    signature_header=st.one_of(st.none(), st.text(ASCII, max_size=80)),
    timestamp_header=st.one_of(
        st.none(), st.text(ASCII, max_size=20), st.integers(0, 2**40).map(str)
    ),
)
def test_unsigned_or_badly_signed_posts_get_401_and_change_nothing(
    hooked_relay: tuple[RunningRelay, str],
    body: bytes,
    signature_header: str | None,
    timestamp_header: str | None,
) -> None:
    relay, token = hooked_relay
    before = state_of(relay, token)
    headers = {"content-type": "application/json"}
    if signature_header is not None:
        headers["x-zm-signature"] = signature_header.strip()
    if timestamp_header is not None:
        headers["x-zm-request-timestamp"] = timestamp_header.strip()
    response = httpx.post(relay.url + "/webhooks/zoom", content=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"]
    assert state_of(relay, token) == before


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
payloads = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"event": st.sampled_from(["user.presence_status_updated", "app_deauthorized", "x.y"])},
        optional={
            "event_ts": json_values,
            "payload": st.one_of(
                json_values,
                st.fixed_dictionaries(
                    {},
                    optional={
                        "account_id": json_values,
                        "object": st.fixed_dictionaries(
                            {},
                            optional={
                                "id": json_values,
                                "presence_status": st.one_of(
                                    json_values, st.sampled_from(["In_Meeting", "Available"])
                                ),
                                "date_time": json_values,
                            },
                        ),
                        "user_id": json_values,
                    },
                ),
            ),
        },
    ),
)


@PROPERTY_SETTINGS
@given(payload=payloads)
def test_signed_but_malformed_payloads_get_a_4xx_or_an_ack_and_change_nothing(
    hooked_relay: tuple[RunningRelay, str], payload: Any
) -> None:
    relay, token = hooked_relay
    before = state_of(relay, token)
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {"content-type": "application/json", **headers_for(body, int(time.time()))}
    response = httpx.post(relay.url + "/webhooks/zoom", content=body, headers=headers)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["error"]["code"]
    assert state_of(relay, token) == before
