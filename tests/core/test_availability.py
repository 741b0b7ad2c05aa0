"""The rules table of DESIGN.md and every consequence it lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from desktop.core.availability import (
    AccountAvailability,
    Effective,
    Override,
    apply_presence,
    effective_availability,
    rest_presence,
    set_override,
    set_preferred,
    set_ringer,
    set_zoom_state,
    settle,
    webhook_presence,
)

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
AVAILABLE_OVERRIDE = Override("available", "manual")


@pytest.mark.parametrize(
    ("ringer_on", "override", "auto_pause", "in_meeting", "preferred", "expected"),
    [
        # row 1: ringer off beats everything
        (False, AVAILABLE_OVERRIDE, True, True, "available", ("unavailable", "ringer_off")),
        (False, None, False, False, "available", ("unavailable", "ringer_off")),
        # row 2: an override beats meetings and preference
        (True, AVAILABLE_OVERRIDE, True, True, "unavailable", ("available", "override")),
        (True, Override("unavailable", "manual"), True, False, "available",
         ("unavailable", "override")),
        # row 3: a meeting pauses only with auto_pause on
        (True, None, True, True, "available", ("unavailable", "in_meeting")),
        (True, None, False, True, "available", ("available", "preferred")),
        # row 4: otherwise what the person chose
        (True, None, True, False, "available", ("available", "preferred")),
        (True, None, True, False, "unavailable", ("unavailable", "preferred")),
    ],
)  # fmt: skip
def test_rules_table(
    ringer_on: bool,
    override: Override | None,
    auto_pause: bool,
    in_meeting: bool,
    preferred: str,
    expected: tuple[str, str],
) -> None:
    result = effective_availability(
        ringer_on=ringer_on,
        preferred=preferred,  # type: ignore[arg-type]
        auto_pause=auto_pause,
        in_meeting=in_meeting,
        override=override,
    )
    assert result == Effective(*expected)  # type: ignore[arg-type]


def connected(**fields: object) -> AccountAvailability:
    state = AccountAvailability(zoom_state="connected", effective_since=T0, **fields)  # type: ignore[arg-type]
    return settle(state, T0)


def meeting(state: AccountAvailability, status: str, ts: int) -> AccountAvailability:
    result = apply_presence(state, status, ts, T0 + timedelta(milliseconds=ts))
    assert result is not None
    return result


def test_meeting_pauses_and_end_restores_available() -> None:
    state = meeting(connected(), "In_Meeting", 1)
    assert state.effective == Effective("unavailable", "in_meeting")
    assert state.in_meeting
    state = meeting(state, "Available", 2)
    assert state.effective == Effective("available", "preferred")
    assert not state.in_meeting


def test_unavailable_before_meeting_stays_unavailable_after() -> None:
    state = connected(preferred="unavailable")
    state = meeting(state, "In_Meeting", 1)
    assert state.effective.availability == "unavailable"
    state = meeting(state, "Available", 2)
    assert state.effective == Effective("unavailable", "preferred")


def test_preferred_change_during_meeting_applies_at_its_end() -> None:
    state = meeting(connected(), "In_Meeting", 1)
    state = set_preferred(state, "unavailable", T0)
    assert state.effective == Effective("unavailable", "in_meeting")
    state = meeting(state, "Away", 2)
    assert state.effective == Effective("unavailable", "preferred")


def test_override_until_meeting_end_clears_at_the_end() -> None:
    state = meeting(connected(), "Presenting", 1)
    state = set_override(state, Override("available", "meeting_end"), T0)
    assert state.effective == Effective("available", "override")
    state = meeting(state, "Available", 2)
    assert state.override is None
    assert state.effective == Effective("available", "preferred")


def test_manual_override_survives_the_meeting_end() -> None:
    state = meeting(connected(), "In_Meeting", 1)
    state = set_override(state, Override("unavailable", "manual"), T0)
    state = meeting(state, "Available", 2)
    assert state.effective == Effective("unavailable", "override")


def test_time_bound_override_clears_at_its_time() -> None:
    ends = T0 + timedelta(minutes=30)
    state = set_override(connected(), Override("unavailable", "time", ends), T0)
    assert settle(state, ends - timedelta(seconds=1)).effective.reason == "override"
    later = settle(state, ends)
    assert later.override is None
    assert later.effective == Effective("available", "preferred")
    assert later.effective_since == ends


@pytest.mark.parametrize("zoom_state", ["disconnected", "expired"])
def test_lost_zoom_connection_clears_in_meeting(zoom_state: str) -> None:
    state = meeting(connected(), "In_Meeting", 1)
    state = set_zoom_state(state, zoom_state, T0)  # type: ignore[arg-type]
    assert not state.in_meeting
    assert state.effective == Effective("available", "preferred")


def test_stale_and_repeated_presence_are_no_ops() -> None:
    state = meeting(connected(), "In_Meeting", 10)
    assert apply_presence(state, "In_Meeting", 10, T0) is None  # a repeat
    assert apply_presence(state, "Available", 9, T0) is None  # older than applied
    assert state.effective.reason == "in_meeting"


def test_presence_ignored_while_zoom_is_not_connected() -> None:
    assert apply_presence(AccountAvailability(), "In_Meeting", 1, T0) is None


@pytest.mark.parametrize(
    ("status", "paused"),
    [
        ("In_Meeting", True),
        ("Presenting", True),
        ("On_Phone_Call", True),
        ("in_meeting", True),  # any case
        ("Available", False),
        ("Away", False),
        ("Do_Not_Disturb", False),
        ("In_Calendar_Event", False),
        ("Offline", False),
        ("Busy", False),
        ("Mobile_signed_in", False),
        ("Out_of_Office", False),
    ],
)
def test_which_statuses_mean_in_a_meeting(status: str, paused: bool) -> None:
    state = meeting(connected(), status, 1)
    assert state.in_meeting is paused


def test_ringer_off_then_on_returns_to_the_meeting_pause() -> None:
    state = meeting(connected(), "In_Meeting", 1)
    state = set_ringer(state, False, T0)
    assert state.effective.reason == "ringer_off"
    state = set_ringer(state, True, T0)
    assert state.effective == Effective("unavailable", "in_meeting")


def test_since_moves_only_when_effective_changes() -> None:
    state = connected()
    later = T0 + timedelta(minutes=5)
    same = set_preferred(state, "available", later)
    assert same.effective_since == T0
    changed = set_preferred(state, "unavailable", later)
    assert changed.effective_since == later


@pytest.mark.parametrize(
    ("rest", "webhook"),
    [
        # ZOOM.md "REST": the OpenAPI enum, the page's prose, a misspelled branch,
        # a live account's answer, in any case.
        ("In_A_Zoom_Meeting", "In_Meeting"),
        ("In_A_Meeting", "In_Meeting"),
        ("in_a_meeting", "In_Meeting"),
        ("On_A_Call", "On_Phone_Call"),
        ("In_A_Call", "On_Phone_Call"),
        ("In_A_Calendar_Event", "In_Calendar_Event"),
        ("In_Calendar_Event", "In_Calendar_Event"),
        ("Do_No_Disturb", "Do_Not_Disturb"),
        ("Do_Not_Disturb", "Do_Not_Disturb"),
        ("Out_of_Office", "Away"),
        ("Presenting", "Presenting"),
        ("PRESENTING", "Presenting"),
        ("Offline", "Offline"),
        ("Available", "Available"),
        ("Busy", "Busy"),
        ("In_A_Huddle", None),
        ("", None),
    ],
)
def test_rest_presence_maps_every_documented_spelling(rest: str, webhook: str | None) -> None:
    assert rest_presence(rest) == webhook


def test_webhook_presence_matches_in_any_case() -> None:
    assert webhook_presence("in_meeting") == "In_Meeting"
    assert webhook_presence("Something_New") == "Something_New"


def test_override_needs_consistent_end() -> None:
    with pytest.raises(ValueError, match="needs ends_at"):
        Override("available", "time")
    with pytest.raises(ValueError, match="only a time-bound"):
        Override("available", "manual", T0)
