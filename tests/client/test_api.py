"""The REST client: against the real relay, and MockTransport for narrow failures."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from desktop.client.api import (
    BAD_RESPONSE,
    UNREACHABLE,
    RelayClient,
    RelayError,
    live_url,
    normalize_backend_url,
    plain_http_risk,
    redact_url,
)
from desktop.core.wire import now_utc
from tests.client.documents import raw_document


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def mock(
    handler: Callable[[httpx.Request], httpx.Response],
    token: str | None = "t",  # noqa: S107
) -> RelayClient:
    return RelayClient("http://relay.test", token, transport=httpx.MockTransport(handler))


class TestAgainstTheRelay:
    def test_sign_in_state_and_changes(self, relay: Any) -> None:
        relay.add_user("ada@example.com", "correct horse")
        client = RelayClient(relay.url)

        async def scenario() -> None:
            token, account = await client.sign_in("ada@example.com", "correct horse", "pytest")
            assert token
            # Read into a name: asserting on client.token itself would make mypy
            # take it for a str for good, past the sign_out() that clears it.
            remembered = client.token
            assert remembered == token
            assert account.email == "ada@example.com"
            state = await client.get_state()
            assert (state.availability, state.reason) == ("available", "preferred")
            state = await client.set_preferred("unavailable")
            assert state.preferred == "unavailable"
            assert state.cause == "preferred_changed"
            state = await client.set_ringer(False)
            assert state.reason == "ringer_off"
            state = await client.set_ringer(True)
            state = await client.set_override("available", now_utc() + timedelta(minutes=30))
            assert state.reason == "override"
            assert state.override is not None
            assert state.override.until == "time"
            state = await client.set_override("unavailable", "manual")
            assert state.override is not None
            assert state.override.until == "manual"
            state = await client.clear_override()
            assert state.override is None
            await client.sign_out()
            assert client.token is None
            client.token = token
            with pytest.raises(RelayError) as gone:
                await client.get_state()
            assert gone.value.session_gone

        run(scenario())

    def test_wrong_password_is_said_plainly(self, relay: Any) -> None:
        relay.add_user("ada@example.com", "correct horse")
        with pytest.raises(RelayError) as refused:
            run(RelayClient(relay.url).sign_in("ada@example.com", "wrong", "pytest"))
        assert refused.value.code == "invalid_credentials"
        assert refused.value.status == 401
        assert not refused.value.session_gone
        assert "password" in refused.value.message

    def test_override_until_meeting_end_needs_a_meeting(self, relay: Any) -> None:
        relay.add_user("ada@example.com", "pw")
        client = RelayClient(relay.url)

        async def scenario() -> None:
            await client.sign_in("ada@example.com", "pw", "pytest")
            with pytest.raises(RelayError) as refused:
                await client.set_override("available", "meeting_end")
            assert refused.value.status == 409
            assert "meeting" in refused.value.message

        run(scenario())

    def test_unreachable_backend(self, relay: Any) -> None:
        url = relay.url
        relay.stop()
        with pytest.raises(RelayError) as failed:
            run(RelayClient(url, timeout=2).sign_in("a@b.c", "pw", "pytest"))
        assert failed.value.unreachable
        assert url in failed.value.message
        relay.start()


def test_refused_sign_in_is_passed_on() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            429,
            json={"error": {"code": "too_many_attempts", "message": "Too many failed sign-ins."}},
        )

    with pytest.raises(RelayError) as refused:
        run(mock(handler, None).sign_in("a@b.c", "pw", "d"))
    assert (refused.value.code, refused.value.status) == ("too_many_attempts", 429)
    assert refused.value.message == "Too many failed sign-ins."


@pytest.mark.parametrize(
    ("response", "code"),
    [
        (httpx.Response(200, text="<html>hello</html>"), BAD_RESPONSE),
        (httpx.Response(200, json=[1, 2]), BAD_RESPONSE),
        (httpx.Response(200, json={"seq": "x"}), BAD_RESPONSE),
        (httpx.Response(502, text="bad gateway"), BAD_RESPONSE),
        (httpx.Response(404, text="nothing"), BAD_RESPONSE),
        (httpx.Response(401, text=""), "session_expired"),
    ],
)
def test_unexpected_answers_become_readable_errors(response: httpx.Response, code: str) -> None:
    with pytest.raises(RelayError) as failed:
        run(mock(lambda request: response).get_state())
    assert failed.value.code == code
    assert failed.value.message.endswith((".", "?"))


def test_timeout_and_connection_errors_are_unreachable() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    for handler in (slow, refused):
        with pytest.raises(RelayError) as failed:
            run(mock(handler).get_state())
        assert failed.value.code == UNREACHABLE


def test_requests_carry_the_token_in_the_header_only() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=raw_document())

    run(mock(handler, token="secret-token").set_ringer(True))
    assert seen[0].headers["authorization"] == "Bearer secret-token"
    assert "secret-token" not in str(seen[0].url)
    assert seen[0].method == "PUT"
    assert seen[0].url.path == "/api/v1/ringer"


def test_signed_out_client_does_not_send() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    with pytest.raises(RelayError) as failed:
        run(mock(handler, token=None).get_state())
    assert failed.value.session_gone


def test_zoom_and_meeting_calls() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/integrations/zoom/connect":
            return httpx.Response(200, json={"authorize_url": "http://zoom.test/authorize?x=1"})
        if request.url.path == "/api/v1/integrations/zoom":
            return httpx.Response(200, json=raw_document(zoom_state="disconnected"))
        if request.url.path == "/api/v1/meetings":
            return httpx.Response(
                201, json={"join_url": "http://zoom.test/j/1", "id": 1, "topic": "Chat"}
            )
        return httpx.Response(404)

    client = mock(handler)
    assert run(client.connect_zoom()) == "http://zoom.test/authorize?x=1"
    assert run(client.disconnect_zoom()).zoom_state == "disconnected"
    link = run(client.create_meeting("Chat", duration_minutes=15))
    assert (link.join_url, link.id, link.topic) == ("http://zoom.test/j/1", "1", "Chat")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://127.0.0.1:8765/", "http://127.0.0.1:8765"),
        (" 127.0.0.1:8765 ", "http://127.0.0.1:8765"),
        ("https://relay.example.com", "https://relay.example.com"),
        # typed without a scheme: https, because the password travels over it
        ("relay.example.com", "https://relay.example.com"),
        ("relay.example.com:8443/", "https://relay.example.com:8443"),
        ("localhost:8765", "http://localhost:8765"),
        ("[::1]:8765", "http://[::1]:8765"),
        # the scheme in any case
        ("HTTPS://Relay.Example.com", "https://Relay.Example.com"),
        ("Http://127.0.0.1:8765", "http://127.0.0.1:8765"),
    ],
)
def test_backend_urls(given: str, expected: str) -> None:
    assert normalize_backend_url(given) == expected


@pytest.mark.parametrize("bad", ["", "   ", "ftp://x.example", "http://"])
def test_bad_backend_urls(bad: str) -> None:
    with pytest.raises(ValueError, match=r"\."):
        normalize_backend_url(bad)


def test_live_urls() -> None:
    assert live_url("http://127.0.0.1:1") == "ws://127.0.0.1:1/api/v1/live"
    assert live_url("https://r.example") == "wss://r.example/api/v1/live"
    # an upper-case scheme must not give ws://HTTPS://… (a host called "https")
    assert live_url("HTTPS://r.example") == "wss://r.example/api/v1/live"
    assert RelayClient("HTTPS://r.example").live_url == "wss://r.example/api/v1/live"


@pytest.mark.parametrize(
    ("url", "risky"),
    [
        ("http://relay.example.com", True),
        ("http://10.0.0.5:8765", True),
        ("relay.example.com", False),  # becomes https
        ("https://relay.example.com", False),
        ("http://127.0.0.1:8765", False),
        ("http://127.5.5.5:8765", False),
        ("http://localhost:8765", False),
        ("http://[::1]:8765", False),
    ],
)
def test_plain_http_is_only_quiet_on_loopback(url: str, risky: bool) -> None:
    risk = plain_http_risk(url)
    assert (risk is not None) == risky
    if risk is not None:
        assert "password" in risk
        assert "session token" in risk
        assert "https://" in risk


def test_user_and_password_in_a_url_are_redacted() -> None:
    url = "https://ada:s3cret@relay.example.com"
    assert redact_url(url) == "https://***@relay.example.com"
    assert redact_url(f"cannot reach {url} now; HTTP://x:y@h too") == (
        "cannot reach https://***@relay.example.com now; HTTP://***@h too"
    )
    assert "s3cret" not in plain_http_risk("http://ada:s3cret@relay.example.com")  # type: ignore[operator]
    with pytest.raises(ValueError, match="not a web address") as refused:
        normalize_backend_url("ftp://ada:s3cret@x.example")
    assert "s3cret" not in str(refused.value)


def test_errors_name_the_backend_without_its_password() -> None:
    client = RelayClient("http://ada:s3cret@127.0.0.1:9")
    with pytest.raises(RelayError) as failed:
        run(client.sign_in("a@b.c", "pw", "dev"))
    assert "s3cret" not in failed.value.message
    assert "http://***@127.0.0.1:9" in failed.value.message
