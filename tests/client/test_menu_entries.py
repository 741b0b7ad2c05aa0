"""The tray menu's entries, their labels and their enabled/checked states,
decided without Qt (``desktop/app/menu.py`` only draws them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from desktop.client.presentation import (
    ConnectionState,
    MenuEntry,
    MenuState,
    menu_entries,
    present,
)
from tests.client.documents import document

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
EMAIL = "ada@example.com"


def state(signed_in: bool = True, online: bool = True, **fields: Any) -> MenuState:
    doc = document(**fields) if online else None
    connection: ConnectionState = ("online" if online else "offline") if signed_in else "signed_out"
    since = None if online else NOW
    status = present(doc, connection, since, NOW)
    return MenuState(status=status, signed_in=signed_in, email=EMAIL, document=doc)


def flat(entries: list[MenuEntry]) -> dict[str, MenuEntry]:
    out: dict[str, MenuEntry] = {}
    for entry in entries:
        if entry.separator:
            continue
        out[entry.id] = entry
        out.update(flat(list(entry.children)))
    return out


def ids(entries: list[MenuEntry]) -> list[str]:
    return [entry.id for entry in entries if not entry.separator]


def test_signed_out_menu() -> None:
    entries = menu_entries(state(signed_in=False, online=False))
    assert ids(entries) == ["status", "sign_in", "settings", "diagnostics", "quit"]
    assert entries[0] == MenuEntry("status", "Signed out", enabled=False)


def test_signed_in_menu_order() -> None:
    assert ids(menu_entries(state())) == [
        "status",
        "availability.heading",
        "availability.available",
        "availability.unavailable",
        "override",
        "ringer",
        "auto_pause",
        "zoom.disconnect",
        "meeting",
        "settings",
        "diagnostics",
        "sign_out",
        "quit",
    ]


@pytest.mark.parametrize(
    ("fields", "entry_id", "enabled", "checked"),
    [
        ({}, "availability.available", True, True),
        ({}, "availability.unavailable", True, False),
        ({"preferred": "unavailable"}, "availability.available", True, False),
        ({"preferred": "unavailable"}, "availability.unavailable", True, True),
        ({}, "ringer", True, True),
        ({"ringer_on": False}, "ringer", True, False),
        ({}, "auto_pause", True, True),
        ({}, "override", True, None),
        ({}, "override.meeting", False, None),
        ({"in_meeting": True}, "override.meeting", True, None),
        ({}, "override.clear", False, None),
        ({"override": {"value": "unavailable", "until": "manual"}}, "override.clear", True, None),
        ({}, "meeting", True, None),
        ({"zoom_state": "expired"}, "meeting", False, None),
        ({"zoom_state": "disconnected"}, "meeting", False, None),
        ({}, "status", False, None),
    ],
)
def test_enabled_and_checked(
    fields: dict[str, Any], entry_id: str, enabled: bool, checked: bool | None
) -> None:
    entry = flat(menu_entries(state(**fields)))[entry_id]
    assert (entry.enabled, entry.checked) == (enabled, checked)


@pytest.mark.parametrize(
    ("zoom_state", "present_ids", "absent_ids"),
    [
        ("connected", {"zoom.disconnect"}, {"zoom.connect", "zoom.reconnect", "zoom_status"}),
        ("expired", {"zoom.reconnect", "zoom.disconnect", "zoom_status"}, {"zoom.connect"}),
        ("disconnected", {"zoom.connect", "zoom_status"}, {"zoom.reconnect", "zoom.disconnect"}),
    ],
)
def test_zoom_entries_follow_the_zoom_state(
    zoom_state: str, present_ids: set[str], absent_ids: set[str]
) -> None:
    found = set(flat(menu_entries(state(zoom_state=zoom_state))))
    assert present_ids <= found
    assert not absent_ids & found


def test_offline_disables_what_needs_the_relay() -> None:
    entries = flat(menu_entries(state(online=False)))
    assert entries["status"].text.startswith("Offline since ")
    for entry_id in ("availability.available", "override", "ringer", "auto_pause", "meeting"):
        assert not entries[entry_id].enabled, entry_id
    assert entries["availability.available"].checked is False
    assert entries["ringer"].checked is False
    assert not {"zoom.connect", "zoom.reconnect", "zoom.disconnect"} & set(entries)
    for entry_id in ("settings", "diagnostics", "sign_out", "quit"):
        assert entries[entry_id].enabled, entry_id


def test_labels() -> None:
    entries = flat(menu_entries(state(zoom_state="expired")))
    assert entries["sign_out"].text == f"Sign out ({EMAIL})"
    assert entries["zoom_status"].text == "Zoom connection expired — reconnect"
    assert entries["zoom.reconnect"].text == "Reconnect Zoom…"
    assert entries["availability.heading"].text == "When not in a meeting:"


def test_availability_entries_share_one_group() -> None:
    entries = flat(menu_entries(state()))
    assert entries["availability.available"].group == "availability"
    assert entries["availability.unavailable"].group == "availability"
    assert entries["ringer"].group is None
