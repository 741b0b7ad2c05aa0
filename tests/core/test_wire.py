from __future__ import annotations

from datetime import UTC, datetime

import pytest

from desktop.core.availability import AccountAvailability, Override, settle
from desktop.core.wire import (
    StateDocument,
    StateJson,
    WireError,
    error_body,
    live_message,
    parse_error_body,
    parse_live_message,
    parse_override,
    state_document,
)

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def document(**state_fields: object) -> StateJson:
    state = settle(AccountAvailability(**state_fields), T0)  # type: ignore[arg-type]
    return state_document(
        seq=7,
        account_id="acc",
        email="a@example.com",
        state=state,
        zoom_email="z@example.com",
        zoom_since=T0,
        cause="snapshot",
    )


def test_state_document_round_trips_through_the_client_parser() -> None:
    raw = document(override=Override("unavailable", "time", T0.replace(hour=10)))
    parsed = StateDocument.from_json(raw)
    assert parsed.seq == 7
    assert parsed.availability == "unavailable"
    assert parsed.reason == "override"
    assert parsed.override == Override("unavailable", "time", T0.replace(hour=10))
    assert raw["override"] == {"value": "unavailable", "until": "2026-11-24T10:00:00Z"}
    assert parsed.zoom_email == "z@example.com"


def test_live_messages_carry_seq_and_state() -> None:
    kind, parsed = parse_live_message(live_message("update", document()))
    assert kind == "update"
    assert parsed.seq == 7


@pytest.mark.parametrize(
    "broken",
    [
        None,
        [],
        {"seq": "7"},
        {**document(), "seq": True},
        {**document(), "effective": {"availability": "maybe", "reason": "preferred"}},
        {**document(), "zoom": {"state": "sideways", "in_meeting": False}},
    ],
)
def test_malformed_documents_are_refused(broken: object) -> None:
    with pytest.raises(WireError):
        StateDocument.from_json(broken)


@pytest.mark.parametrize(
    "raw",
    [
        {"value": "maybe", "until": "manual"},
        {"value": "available", "until": 5},
        {"value": "available", "until": "tomorrow"},
        {"value": "available", "until": "2026-11-24T10:00:00"},  # no zone
        "available",
    ],
)
def test_bad_overrides_are_refused(raw: object) -> None:
    with pytest.raises(WireError):
        parse_override(raw)


def test_error_body_round_trip() -> None:
    assert parse_error_body(error_body("bad", "Bad thing.")) == ("bad", "Bad thing.")
    assert parse_error_body({"detail": "x"}) is None
