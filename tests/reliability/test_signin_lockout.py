"""Sign-in throttling bounds guessing, and strangers cannot keep a person out
(issue 12, "Sign-in"; the design is in desktop/relay/throttle.py).

Addresses come from X-Forwarded-For through a proxy the relay was told to
trust (127.0.0.1 here), which is how a test on loopback gets many addresses;
a relay that trusts no proxy ignores the header. The counts are in the store,
so relays on one database count together and a restart forgets nothing. Limits
are shortened so that each test stays at a few dozen Argon2 checks:

- one address: ``REFUSE_AFTER`` tries per account per window, then 429;
- one address over all accounts: ``ADDRESS_REFUSE_AFTER`` tries, then 429,
  even with another account's right password;
- one account over all addresses: past ``ACCOUNT_ALARM`` failures each address
  gets one try, and the owner's right password from a new address still gets in.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.relay import RunningRelay, start_relay, with_sibling

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery"
OTHER_EMAIL = "bob@example.com"
REFUSE_AFTER = 5
ADDRESS_REFUSE_AFTER = 12
ACCOUNT_ALARM = 20


def limits(**extra: object) -> dict[str, object]:
    return {
        "signin_refuse_after": REFUSE_AFTER,
        "signin_address_refuse_after": ADDRESS_REFUSE_AFTER,
        "signin_account_alarm": ACCOUNT_ALARM,
        **extra,
    }


@pytest.fixture
def relay(tmp_path: Path, relay_overrides: dict[str, Any]) -> Iterator[RunningRelay]:
    settings = {**relay_overrides, **limits(trusted_proxies=["127.0.0.1"])}
    with (
        start_relay(tmp_path / "relay", **settings) as running,
        with_sibling(tmp_path / "relay", **settings),
    ):
        running.add_user(EMAIL, PASSWORD)
        running.add_user(OTHER_EMAIL, PASSWORD)
        yield running


def attempt(relay: RunningRelay, email: str, password: str, address: str | None) -> int:
    headers = {"X-Forwarded-For": address} if address else {}
    response = httpx.post(
        relay.url + "/api/v1/sessions",
        json={"email": email, "password": password},
        headers=headers,
        timeout=30,
    )
    if response.status_code == 429:
        assert int(response.headers["Retry-After"]) >= 1
    return response.status_code


def test_one_address_gets_a_bounded_number_of_tries_at_an_account(relay: RunningRelay) -> None:
    statuses = [attempt(relay, EMAIL, f"wrong {i}", "203.0.113.7") for i in range(REFUSE_AFTER)]
    assert statuses == [401] * REFUSE_AFTER
    # Spellings of the email are the same account.
    for spelling in (EMAIL, EMAIL.upper(), f"  {EMAIL.title()} "):
        assert attempt(relay, spelling, PASSWORD, "203.0.113.7") == 429
    # The owner, elsewhere, is not held back by those failures.
    assert attempt(relay, EMAIL, PASSWORD, "198.51.100.20") == 201


def test_one_address_gets_a_bounded_number_of_tries_in_all(relay: RunningRelay) -> None:
    emails = [f"guess{i}@example.com" for i in range(ADDRESS_REFUSE_AFTER)]
    assert [attempt(relay, e, "wrong", "203.0.113.8") for e in emails] == [401] * len(emails)
    assert attempt(relay, OTHER_EMAIL, PASSWORD, "203.0.113.8") == 429
    assert attempt(relay, OTHER_EMAIL, PASSWORD, "203.0.113.9") == 201


def test_strangers_from_many_addresses_cannot_lock_the_owner_out(relay: RunningRelay) -> None:
    failures = 0
    address = 0
    while failures < ACCOUNT_ALARM:
        address += 1
        for _ in range(REFUSE_AFTER):
            assert attempt(relay, EMAIL.upper(), "guess", f"192.0.2.{address}") == 401
            failures += 1
    # The account is under attack: a new address gets one checked try ...
    assert attempt(relay, EMAIL, "guess", "192.0.2.200") == 401
    assert attempt(relay, EMAIL, "guess", "192.0.2.200") == 429
    # ... and the owner's right password from a new address is one such try.
    assert attempt(relay, EMAIL, PASSWORD, "198.51.100.1") == 201
    # Others' accounts are untouched by it.
    assert attempt(relay, OTHER_EMAIL, PASSWORD, "192.0.2.1") == 201


def test_ipv6_clients_count_by_their_64(relay: RunningRelay) -> None:
    for i in range(REFUSE_AFTER):
        assert attempt(relay, EMAIL, "wrong", f"2001:db8:1:2::{i + 1:x}") == 401
    assert attempt(relay, EMAIL, PASSWORD, "2001:db8:1:2:ffff::9") == 429
    assert attempt(relay, EMAIL, PASSWORD, "2001:db8:1:3::1") == 201


def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(tmp_path: Path) -> None:
    with start_relay(tmp_path / "relay", **limits()) as relay:
        relay.add_user(OTHER_EMAIL, PASSWORD)
        for i in range(ADDRESS_REFUSE_AFTER):
            assert attempt(relay, f"guess{i}@example.com", "wrong", f"203.0.113.{i}") == 401
        # Every attempt came from 127.0.0.1, whatever the header said.
        assert attempt(relay, OTHER_EMAIL, PASSWORD, "198.51.100.77") == 429


def test_a_restart_remembers_and_an_operators_new_password_lets_the_owner_in(
    relay: RunningRelay,
) -> None:
    for i in range(REFUSE_AFTER):
        assert attempt(relay, EMAIL, f"wrong {i}", "203.0.113.7") == 401
    relay.stop()
    relay.start()
    assert attempt(relay, EMAIL, PASSWORD, "203.0.113.7") == 429
    assert "signed out" in relay.set_password(EMAIL, "a new password")
    assert attempt(relay, EMAIL, "a new password", "203.0.113.7") == 201


def test_guesses_spread_over_two_relays_are_counted_together(
    tmp_path: Path, postgres_url: str
) -> None:
    settings = limits(trusted_proxies=["127.0.0.1"], database_url=postgres_url)
    with (
        start_relay(tmp_path / "a", **settings) as a,
        start_relay(tmp_path / "b", **settings) as b,
    ):
        a.add_user(EMAIL, PASSWORD)
        for i in range(REFUSE_AFTER):
            assert attempt(a if i % 2 else b, EMAIL, f"wrong {i}", "203.0.113.7") == 401
        assert attempt(a, EMAIL, PASSWORD, "203.0.113.7") == 429
        assert attempt(b, EMAIL, PASSWORD, "203.0.113.7") == 429
        assert attempt(b, EMAIL, PASSWORD, "198.51.100.20") == 201
