"""When the tray notifies: a pure decision, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from desktop.client.notifications import NotificationPrefs, decide_notification
from tests.client.documents import document

IDLE: dict[str, Any] = {}
MEETING: dict[str, Any] = {"in_meeting": True}


@pytest.mark.parametrize(
    ("before", "after", "kind", "own", "expected"),
    [
        # a meeting starts and ends: paused, then resumed
        (IDLE, {**MEETING, "cause": "meeting_started"}, "update", False, "paused"),
        ({**MEETING}, {"cause": "meeting_ended"}, "update", False, "resumed"),
        (
            {**MEETING, "preferred": "unavailable"},
            {"preferred": "unavailable", "cause": "meeting_ended"},
            "update",
            False,
            "resumed",
        ),
        # nothing on reconnect snapshots, whatever changed meanwhile
        (IDLE, {**MEETING, "cause": "snapshot"}, "snapshot", False, None),
        (MEETING, {"cause": "snapshot"}, "snapshot", False, None),
        # nothing for the person's own actions
        (IDLE, {**MEETING, "cause": "meeting_started"}, "update", True, None),
        (
            MEETING,
            {
                **MEETING,
                "override": {"value": "available", "until": "meeting_end"},
                "cause": "override_set",
            },
            "update",
            False,
            None,
        ),
        (
            {**MEETING, "override": {"value": "available", "until": "meeting_end"}},
            {**MEETING, "cause": "override_cleared"},
            "update",
            False,
            None,
        ),
        (
            MEETING,
            {**MEETING, "ringer_on": False, "cause": "ringer_changed"},
            "update",
            False,
            None,
        ),
        # Zoom expiry asks for a reconnect (and it also ends the pause)
        (
            MEETING,
            {"zoom_state": "expired", "cause": "zoom_expired"},
            "update",
            False,
            "zoom_reconnect",
        ),
        (
            IDLE,
            {"zoom_state": "expired", "cause": "zoom_expired"},
            "update",
            False,
            "zoom_reconnect",
        ),
        (
            {"zoom_state": "expired"},
            {"zoom_state": "expired", "cause": "preferred_changed"},
            "update",
            False,
            None,
        ),
        # removed at Zoom: tell the person, as for an expiry; their own
        # Disconnect (an own action) and an already disconnected Zoom stay quiet
        (
            IDLE,
            {"zoom_state": "disconnected", "cause": "zoom_disconnected"},
            "update",
            False,
            "zoom_reconnect",
        ),
        (
            IDLE,
            {"zoom_state": "disconnected", "cause": "zoom_disconnected"},
            "update",
            True,
            None,
        ),
        (
            {"zoom_state": "disconnected"},
            {"zoom_state": "disconnected", "cause": "zoom_disconnected"},
            "update",
            False,
            None,
        ),
        # unrelated updates are quiet
        (IDLE, {"cause": "presence_changed"}, "update", False, None),
        (MEETING, {**MEETING, "cause": "presence_changed"}, "update", False, None),
    ],
)
def test_decision_table(
    before: dict[str, Any], after: dict[str, Any], kind: str, own: bool, expected: str | None
) -> None:
    previous = document(seq=1, **before)
    new = document(seq=2, **after)
    decided = decide_notification(previous, new, kind, own)  # type: ignore[arg-type]
    assert (decided.kind if decided else None) == expected
    if decided is not None:
        assert decided.title
        assert decided.body


def test_first_document_never_notifies() -> None:
    assert decide_notification(None, document(in_meeting=True), "update", False) is None


@pytest.mark.parametrize(
    ("prefs", "before", "after", "expected"),
    [
        (NotificationPrefs(paused=False), IDLE, {**MEETING, "cause": "meeting_started"}, None),
        (NotificationPrefs(resumed=False), MEETING, {"cause": "meeting_ended"}, None),
        (
            NotificationPrefs(zoom_reconnect=False),
            IDLE,
            {"zoom_state": "expired", "cause": "zoom_expired"},
            None,
        ),
        (NotificationPrefs(resumed=False), IDLE, {**MEETING, "cause": "meeting_started"}, "paused"),
    ],
)
def test_each_kind_can_be_switched_off(
    prefs: NotificationPrefs, before: dict[str, Any], after: dict[str, Any], expected: str | None
) -> None:
    decided = decide_notification(
        document(seq=1, **before), document(seq=2, **after), "update", False, prefs
    )
    assert (decided.kind if decided else None) == expected


def test_resumed_words_say_what_it_was_restored_to() -> None:
    available = decide_notification(
        document(in_meeting=True), document(seq=2, cause="meeting_ended"), "update", False
    )
    unavailable = decide_notification(
        document(in_meeting=True, preferred="unavailable"),
        document(seq=2, preferred="unavailable", cause="meeting_ended"),
        "update",
        False,
    )
    assert available is not None
    assert "available for calls again" in available.body
    assert unavailable is not None
    assert "back to unavailable" in unavailable.body
