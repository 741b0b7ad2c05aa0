"""Build state documents for tests, in the relay's wire shape."""

from __future__ import annotations

from typing import Any

from desktop.core.wire import StateDocument

SINCE = "2026-11-24T09:00:00Z"


def raw_document(
    *,
    seq: int = 1,
    ringer_on: bool = True,
    preferred: str = "available",
    override: dict[str, str] | None = None,
    availability: str | None = None,
    reason: str | None = None,
    zoom_state: str = "connected",
    in_meeting: bool = False,
    cause: str = "snapshot",
    since: str | None = SINCE,
    email: str = "ada@example.com",
    zoom_problem: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A state document; effective availability follows DESIGN.md's rules
    unless ``availability``/``reason`` are given."""
    if reason is None:
        if not ringer_on:
            reason = "ringer_off"
        elif override is not None:
            reason = "override"
        elif in_meeting and zoom_state == "connected":
            reason = "in_meeting"
        else:
            reason = "preferred"
    if availability is None:
        availability = {
            "ringer_off": "unavailable",
            "override": (override or {}).get("value", "available"),
            "in_meeting": "unavailable",
            "preferred": preferred,
        }[reason]
    return {
        "seq": seq,
        "account": {"id": "acc-1", "email": email},
        "ringer_on": ringer_on,
        "preferred": preferred,
        "auto_pause": True,
        "override": override,
        "effective": {"availability": availability, "reason": reason, "since": since},
        "zoom": {
            "state": zoom_state,
            "email": "ada@zoom.example" if zoom_state == "connected" else None,
            "in_meeting": in_meeting,
            "since": since,
            "problem": zoom_problem,
        },
        "cause": cause,
    }


def document(**kwargs: Any) -> StateDocument:
    return StateDocument.from_json(raw_document(**kwargs))
