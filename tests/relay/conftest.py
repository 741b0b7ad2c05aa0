"""Fixtures shared by the relay's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from desktop.relay.storage import Store
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


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    """A store on each backend in turn: a SQLite file, then a fresh PostgreSQL
    database (the ``database_url`` fixture)."""
    opened = Store.open_url(database_url, tmp_path / "data")
    try:
        yield opened
    finally:
        opened.close()
