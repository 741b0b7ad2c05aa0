"""What the tray shows, and how the model follows snapshots, updates and own actions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from desktop.client.presentation import TrayModel, format_time, present
from tests.client.documents import document

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
SINCE = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
HHMM = format_time(SINCE, NOW)
LINKED_ELSEWHERE = {
    "code": "zoom_linked_elsewhere",
    "message": "Zoom z@zoom.example was connected to another ProfitRinger account.",
}
SCOPES_MISSING = {
    "code": "zoom_scopes_missing",
    "message": "Zoom did not grant user:read:presence_status.",
}


@pytest.mark.parametrize(
    ("fields", "kind", "icon", "title"),
    [
        ({}, "available", "available", f"Available since {HHMM}"),
        ({"preferred": "unavailable"}, "unavailable", "unavailable", f"Unavailable since {HHMM}"),
        ({"in_meeting": True}, "paused", "paused", f"Paused — in a Zoom meeting since {HHMM}"),
        ({"ringer_on": False}, "ringer_off", "ringer-off", f"Ringer off since {HHMM}"),
        (
            {"in_meeting": True, "override": {"value": "available", "until": "meeting_end"}},
            "overridden",
            "overridden",
            "Available (override) until this meeting ends",
        ),
        (
            {"override": {"value": "unavailable", "until": "manual"}},
            "overridden",
            "overridden",
            "Unavailable (override) until you resume",
        ),
        (
            {"override": {"value": "unavailable", "until": "2026-11-24T10:00:00Z"}},
            "overridden",
            "overridden",
            "Unavailable (override) until "
            + format_time(datetime(2026, 11, 24, 10, tzinfo=UTC), NOW),
        ),
        # a Zoom problem changes the icon; the first line still gives the availability
        (
            {"zoom_state": "expired"},
            "zoom_action",
            "zoom-action",
            f"Available since {HHMM}",
        ),
        (
            {"zoom_state": "disconnected", "preferred": "unavailable"},
            "zoom_action",
            "zoom-action",
            f"Unavailable since {HHMM}",
        ),
        # ringer off outranks a Zoom problem: nothing rings anyway
        (
            {"zoom_state": "expired", "ringer_on": False},
            "ringer_off",
            "ringer-off",
            f"Ringer off since {HHMM}",
        ),
    ],
)
def test_online_states(fields: dict[str, Any], kind: str, icon: str, title: str) -> None:
    status = present(document(**fields), "online", None, NOW)
    assert (status.kind, status.icon, status.title) == (kind, icon, title)
    assert status.tooltip.startswith("ProfitRinger: ")
    assert "Zoom:" in status.tooltip


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"zoom_state": "expired"}, "Zoom connection expired — reconnect"),
        ({"zoom_state": "disconnected"}, "Zoom not connected — connect"),
        ({"zoom_state": "expired", "ringer_on": False}, "Zoom connection expired — reconnect"),
        ({}, None),
        # the relay says why (zoom.problem): the menu line names it
        (
            {"zoom_state": "disconnected", "zoom_problem": LINKED_ELSEWHERE},
            "Zoom now connected to another account — connect",
        ),
        (
            {"zoom_state": "disconnected", "zoom_problem": SCOPES_MISSING},
            "Zoom app lacks permissions — ask your admin",
        ),
        (
            {"zoom_state": "disconnected", "zoom_problem": {"code": "new_kind", "message": "Why."}},
            "Zoom not connected — connect",
        ),
    ],
)
def test_a_zoom_problem_has_its_own_line(fields: dict[str, Any], problem: str | None) -> None:
    assert present(document(**fields), "online", None, NOW).zoom_problem == problem


def test_the_tooltip_carries_the_relays_sentence_about_the_problem() -> None:
    status = present(
        document(zoom_state="disconnected", zoom_problem=SCOPES_MISSING), "online", None, NOW
    )
    assert f"Zoom: not connected. {SCOPES_MISSING['message']}" in status.tooltip
    assert status.tooltip.startswith(f"ProfitRinger: Available since {HHMM}")
    # a malformed problem is no problem: the usual words
    plain = present(
        document(zoom_state="disconnected", zoom_problem={"code": "", "message": 5}),
        "online",
        None,
        NOW,
    )
    assert "meetings will not pause your ringer" in plain.tooltip


def test_zoom_action_tooltip_still_says_the_availability() -> None:
    status = present(document(zoom_state="expired"), "online", None, NOW)
    assert f"Available since {HHMM}" in status.tooltip
    assert "expired" in status.tooltip


def test_offline_never_shows_a_stale_availability() -> None:
    offline_since = datetime(2026, 11, 24, 9, 20, tzinfo=UTC)
    status = present(document(), "offline", offline_since, NOW)
    assert status.kind == "offline"
    assert status.title == f"Offline since {format_time(offline_since, NOW)} — reconnecting"
    assert "vailable" not in status.title + status.tooltip.replace("unavailable", "")
    assert status.since == offline_since


def test_signed_out_and_connecting() -> None:
    assert present(None, "signed_out", None, NOW).kind == "signed_out"
    connecting = present(None, "connecting", None, NOW)
    assert (connecting.kind, connecting.title) == ("offline", "Connecting…")


def test_socket_open_before_the_snapshot_says_connecting_not_offline() -> None:
    status = present(None, "online", None, NOW)
    assert status.title == "Connecting…"
    assert "Offline" not in status.title


def test_other_days_show_the_date() -> None:
    yesterday = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert format_time(yesterday, NOW) != format_time(SINCE, NOW)
    assert len(format_time(yesterday, NOW)) > 5


class TestModel:
    def model(self) -> TrayModel:
        model = TrayModel(clock=lambda: NOW)
        model.signed_in()
        return model

    def test_stale_and_repeated_updates_are_ignored(self) -> None:
        model = self.model()
        model.apply_live("snapshot", document(seq=5))
        model.went_online()
        assert (
            model.apply_live("update", document(seq=4, in_meeting=True, cause="meeting_started"))
            is None
        )
        assert model.document is not None
        assert model.document.seq == 5
        assert model.apply_live("update", document(seq=5, in_meeting=True)) is None
        assert model.status().kind == "available"

    def test_meeting_round_trip_notifies_twice(self) -> None:
        model = self.model()
        model.apply_live("snapshot", document(seq=1))
        model.went_online()
        paused = model.apply_live(
            "update", document(seq=2, in_meeting=True, cause="meeting_started")
        )
        assert paused is not None
        assert paused.kind == "paused"
        assert model.status().kind == "paused"
        resumed = model.apply_live("update", document(seq=3, cause="meeting_ended"))
        assert resumed is not None
        assert resumed.kind == "resumed"

    def test_snapshot_after_reconnect_is_quiet_and_replaces_state(self) -> None:
        model = self.model()
        model.apply_live("snapshot", document(seq=3))
        model.went_online()
        model.went_offline(NOW)
        assert model.status().kind == "offline"
        model.went_online()
        # the relay's seq may even restart lower after a data reset: take it
        assert model.apply_live("snapshot", document(seq=1, in_meeting=True)) is None
        assert model.status().kind == "paused"

    def test_own_rest_answer_wins_and_its_echo_is_ignored(self) -> None:
        model = self.model()
        model.apply_live("snapshot", document(seq=1, in_meeting=True))
        model.went_online()
        model.begin_own_action()
        model.end_own_action(document(seq=2, ringer_on=False, cause="ringer_changed"))
        assert model.status().kind == "ringer_off"
        assert model.apply_live("update", document(seq=2, ringer_on=False)) is None

    def test_own_zoom_disconnect_echo_before_the_answer_is_quiet(self) -> None:
        model = self.model()
        model.apply_live("snapshot", document(seq=1, in_meeting=True))
        model.went_online()
        model.begin_own_action()
        echo = document(seq=2, zoom_state="disconnected", cause="zoom_disconnected")
        assert model.apply_live("update", echo) is None
        model.end_own_action(echo)
        assert model.status().kind == "zoom_action"

    def test_signed_out_model_ignores_late_messages(self) -> None:
        model = self.model()
        model.signed_out()
        assert model.apply_live("snapshot", document()) is None
        assert model.status().kind == "signed_out"
        model.went_offline(NOW)
        assert model.status().kind == "signed_out"
