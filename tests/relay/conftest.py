"""Fixtures shared by the relay's tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.relay import RunningRelay

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery"


@pytest.fixture
def api(relay: RunningRelay) -> Iterator[httpx.Client]:
    """An HTTP client signed in to a fresh account on a real relay."""
    relay.add_user(EMAIL, PASSWORD)
    token = relay.sign_in(EMAIL, PASSWORD)
    with httpx.Client(base_url=relay.url, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client
