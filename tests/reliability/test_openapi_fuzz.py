"""Schemathesis against the relay's own OpenAPI document (``/openapi.json``).

Every operation is fuzzed with schema-valid and schema-invalid requests, signed
in (``Authorization: Bearer``) and with Zoom configured against a running local
Zoom, so the Zoom endpoints do real work instead of answering 503. Two checks:
no answer is a 5xx (``not_a_server_error``), and every answer matches the
document (``response_schema_conformance``). The operations that end the
session (sign out, sign a device out, change the password, delete the
account) get a fresh account or session per example, so they cannot cut the
rest of the run short.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import response_schema_conformance

from desktop.zoomsim.server import RunningZoomSim, run_in_thread
from tests.support.relay import RunningRelay, start_relay
from tests.support.zoom import PASSWORD, Wire, connect_zoom, sim_config, zoom_settings

#: One operation of the relay's document, as Schemathesis reads it.
Operation = schemathesis.APIOperation[Any, Any, Any, Any]

#: Examples per operation and generation mode: small enough for CI on 2 cores.
EXAMPLES = 25
SESSION_ENDERS = {
    ("DELETE", "/api/v1/account"),
    ("DELETE", "/api/v1/sessions/current"),
    ("DELETE", "/api/v1/sessions/{session_id}"),
    ("PUT", "/api/v1/account/password"),
}
#: Disconnecting Zoom would leave the meeting endpoint nothing to do: it gets
#: a fresh account connected to its own local-Zoom user per example.
ZOOM_ENDERS = {("DELETE", "/api/v1/integrations/zoom")}
CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.fixture
def zoom() -> Iterator[RunningZoomSim]:
    with run_in_thread(sim_config()) as running:
        yield running


@pytest.fixture
def zrelay(tmp_path: Path, zoom: RunningZoomSim) -> Iterator[RunningRelay]:
    with start_relay(
        tmp_path / "relay",
        **zoom_settings(zoom),
        signin_refuse_after=10_000,
        signin_address_refuse_after=10_000,
        signin_account_alarm=10_000,
    ) as running:
        zoom.sim.set_webhook_url(running.url + "/webhooks/zoom")
        yield running


def fuzz(
    operation: Operation,
    mode: GenerationMode,
    headers: Callable[[], dict[str, str]],
    base_url: str,
    failures: list[str],
    statuses: Counter[int],
) -> int:
    calls = itertools.count()
    recorded = len(failures)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case[Operation]) -> None:
        next(calls)
        response = case.call(base_url=base_url, headers=headers(), timeout=15)
        statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except Exception as exc:
            failures.append(f"{operation.label} [{mode.value}]: {exc}")
            raise

    try:
        run()
    except Unsatisfiable:
        # An operation without parameters or body has no invalid form to send.
        assert mode is GenerationMode.NEGATIVE
    except Exception:
        if len(failures) == recorded:
            raise  # not a check failure (already recorded): a broken test setup
    return next(calls)


def test_no_5xx_and_every_answer_matches_the_document(
    zrelay: RunningRelay, zoom: RunningZoomSim
) -> None:
    wire = Wire()
    zrelay.add_user("fuzz@example.com", PASSWORD)
    token = zrelay.sign_in("fuzz@example.com", PASSWORD)
    assert connect_zoom(zrelay.url, wire, token).status_code == 200
    schema = schemathesis.openapi.from_url(zrelay.url + "/openapi.json")
    fresh = itertools.count()

    def signed_in() -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def fresh_session() -> dict[str, str]:
        email = f"fresh{next(fresh)}@example.com"
        zrelay.add_user(email, PASSWORD)
        return {"Authorization": f"Bearer {zrelay.sign_in(email, PASSWORD)}"}

    def fresh_zoom_session() -> dict[str, str]:
        email = f"fresh{next(fresh)}@example.com"
        zrelay.add_user(email, PASSWORD)
        fresh_token = zrelay.sign_in(email, PASSWORD)
        zoom.sim.add_user("zoom-" + email)
        answer = connect_zoom(zrelay.url, wire, fresh_token, login_hint="zoom-" + email)
        assert answer.status_code == 200
        return {"Authorization": f"Bearer {fresh_token}"}

    failures: list[str] = []
    statuses: Counter[int] = Counter()
    tried = 0
    operations = 0
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # the relay's document describes an operation badly
        operation = result.ok()
        operations += 1
        key = (operation.method.upper(), operation.path)
        headers = signed_in
        if key in SESSION_ENDERS:
            headers = fresh_session
        elif key in ZOOM_ENDERS:
            headers = fresh_zoom_session
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            tried += fuzz(operation, mode, headers, zrelay.url, failures, statuses)
    print(
        f"\nschemathesis: {operations} operations, {tried} requests, "
        f"answers {dict(sorted(statuses.items()))}, {len(failures)} failures"
    )
    assert statuses[200] + statuses[201] + statuses[204] > 30  # really signed in
    assert operations >= 12
    assert tried >= 150
    assert not failures, "\n\n".join(failures)
