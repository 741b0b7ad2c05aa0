"""A request leaves no reference cycle behind: every object it made is freed by
reference counting when it ends, not later by the garbage collector, whose
passes over a busy relay's cycles stopped it for 20 to 65 ms every few seconds
(tests/bench, 1,000 webhooks/s)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import httpx
import pytest
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from tests.support.relay import RunningRelay

REQUESTS = 40


@pytest.fixture
def collector_paused() -> Iterator[None]:
    """No automatic collection while requests run (it would free the cycles
    before they are counted); the one after them keeps what it finds."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def cycles_left_by(kind: type) -> int:
    gc.set_debug(gc.DEBUG_SAVEALL)
    gc.collect()
    found = sum(1 for obj in gc.garbage if isinstance(obj, kind))
    gc.set_debug(0)
    gc.garbage.clear()
    return found


@pytest.mark.usefixtures("collector_paused")
def test_requests_on_a_kept_alive_connection_leave_no_cycle(relay: RunningRelay) -> None:
    with httpx.Client(base_url=relay.url) as client:
        for _ in range(REQUESTS):
            assert client.get("/healthz").status_code == 200
            assert client.post("/api/v1/sessions", json={}).status_code == 422
    assert cycles_left_by(RequestResponseCycle) == 0
