"""The availability rules of DESIGN.md as pure functions over persisted inputs.

Nothing here does I/O or reads a clock: every function that needs "now" takes it.
The relay persists an :class:`AccountAvailability`, feeds it events through the
transition functions, and stores and pushes whatever they return.

Effective availability, first rule that matches:

1. ringer off             -> unavailable, reason ``ringer_off``
2. override set            -> the override's value, reason ``override``
3. auto_pause and meeting  -> unavailable, reason ``in_meeting``
4. otherwise               -> ``preferred``, reason ``preferred``
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

Availability = Literal["available", "unavailable"]
Reason = Literal["ringer_off", "override", "in_meeting", "preferred"]
ZoomState = Literal["connected", "disconnected", "expired"]
OverrideUntil = Literal["meeting_end", "manual", "time"]

AVAILABILITIES: Final[tuple[Availability, ...]] = ("available", "unavailable")

#: Zoom webhook presence spellings that count as "in a meeting" by default.
DEFAULT_MEETING_STATUSES: Final[frozenset[str]] = frozenset(
    {"In_Meeting", "Presenting", "On_Phone_Call"}
)

#: Every webhook spelling of ``presence_status`` (ZOOM.md, Zoom's event schema).
WEBHOOK_STATUSES: Final[tuple[str, ...]] = (
    "Available",
    "Away",
    "Do_Not_Disturb",
    "In_Meeting",
    "Presenting",
    "On_Phone_Call",
    "In_Calendar_Event",
    "Offline",
    "Busy",
    "Mobile_signed_in",
)
_WEBHOOK_BY_LOWER: Final[dict[str, str]] = {s.lower(): s for s in WEBHOOK_STATUSES}

#: Zoom's REST API spells presence differently from its webhooks, and its own
#: page disagrees with itself (ZOOM.md): the OpenAPI enum, the prose list, a
#: misspelled branch and what a live account answered. Keys are lower case.
_REST_TO_WEBHOOK: Final[dict[str, str]] = {
    **_WEBHOOK_BY_LOWER,
    "in_a_zoom_meeting": "In_Meeting",
    "in_a_meeting": "In_Meeting",
    "on_a_call": "On_Phone_Call",
    "in_a_call": "On_Phone_Call",
    "in_a_calendar_event": "In_Calendar_Event",
    "do_no_disturb": "Do_Not_Disturb",
    "out_of_office": "Away",
}


def webhook_presence(status: str) -> str:
    """A webhook ``presence_status`` in its canonical spelling (matched in any case);
    a word Zoom does not document is returned as it is."""
    return _WEBHOOK_BY_LOWER.get(status.lower(), status)


def rest_presence(status: str) -> str | None:
    """The webhook spelling of a REST presence status, matched in any case;
    ``None`` for a word none of Zoom's pages use (never guess a meeting's end)."""
    return _REST_TO_WEBHOOK.get(status.lower())


@dataclass(frozen=True)
class Override:
    """A manual availability override and when it ends.

    ``until`` is ``"meeting_end"`` (clears when the current meeting ends),
    ``"time"`` (clears at ``ends_at``) or ``"manual"`` (until the person clears it).
    """

    value: Availability
    until: OverrideUntil
    ends_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.until == "time" and self.ends_at is None:
            raise ValueError("a time-bound override needs ends_at")
        if self.until != "time" and self.ends_at is not None:
            raise ValueError("only a time-bound override has ends_at")


@dataclass(frozen=True)
class Effective:
    availability: Availability
    reason: Reason


@dataclass(frozen=True)
class AccountAvailability:
    """Every persisted input of the rules, plus what they produced and since when."""

    ringer_on: bool = True
    preferred: Availability = "available"
    auto_pause: bool = True
    in_meeting: bool = False
    in_meeting_since: datetime | None = None
    override: Override | None = None
    zoom_state: ZoomState = "disconnected"
    #: ``event_ts`` (ms) of the last applied presence event; older ones are ignored.
    #: Only this and ``in_meeting`` are kept of presence, never the status itself.
    last_presence_ts: int | None = None
    effective: Effective = Effective("available", "preferred")
    effective_since: datetime | None = None


def effective_availability(
    *,
    ringer_on: bool,
    preferred: Availability,
    auto_pause: bool,
    in_meeting: bool,
    override: Override | None,
) -> Effective:
    """The rules table: the first matching row decides."""
    if not ringer_on:
        return Effective("unavailable", "ringer_off")
    if override is not None:
        return Effective(override.value, "override")
    if auto_pause and in_meeting:
        return Effective("unavailable", "in_meeting")
    return Effective(preferred, "preferred")


def _settle(state: AccountAvailability, now: datetime) -> AccountAvailability:
    """Recompute the effective availability, moving ``since`` only when it changed."""
    if (
        state.override is not None
        and state.override.until == "time"
        and state.override.ends_at is not None
        and state.override.ends_at <= now
    ):
        state = dataclasses.replace(state, override=None)
    effective = effective_availability(
        ringer_on=state.ringer_on,
        preferred=state.preferred,
        auto_pause=state.auto_pause,
        in_meeting=state.in_meeting,
        override=state.override,
    )
    if effective != state.effective or state.effective_since is None:
        state = dataclasses.replace(state, effective=effective, effective_since=now)
    return state


def settle(state: AccountAvailability, now: datetime) -> AccountAvailability:
    """Apply the passage of time (a time-bound override that has run out clears)."""
    return _settle(state, now)


def set_ringer(state: AccountAvailability, on: bool, now: datetime) -> AccountAvailability:
    return _settle(dataclasses.replace(state, ringer_on=on), now)


def set_preferred(
    state: AccountAvailability, preferred: Availability, now: datetime
) -> AccountAvailability:
    return _settle(dataclasses.replace(state, preferred=preferred), now)


def set_auto_pause(state: AccountAvailability, on: bool, now: datetime) -> AccountAvailability:
    return _settle(dataclasses.replace(state, auto_pause=on), now)


def set_override(
    state: AccountAvailability, override: Override | None, now: datetime
) -> AccountAvailability:
    return _settle(dataclasses.replace(state, override=override), now)


def _leave_meeting(state: AccountAvailability) -> AccountAvailability:
    override = state.override
    if override is not None and override.until == "meeting_end":
        override = None
    return dataclasses.replace(state, in_meeting=False, in_meeting_since=None, override=override)


def apply_presence(
    state: AccountAvailability,
    status: str,
    event_ts: int,
    now: datetime,
    meeting_statuses: frozenset[str] = DEFAULT_MEETING_STATUSES,
) -> AccountAvailability | None:
    """Apply a Zoom presence event; ``None`` when it is stale or a repeat (a no-op).

    ``event_ts`` orders events (Zoom's milliseconds). An event no newer than the
    last applied one changes nothing, so late, duplicated and reordered webhook
    deliveries cannot move the state backwards.
    """
    if state.zoom_state != "connected":
        return None
    if state.last_presence_ts is not None and event_ts <= state.last_presence_ts:
        return None
    meeting = webhook_presence(status) in meeting_statuses
    updated = dataclasses.replace(state, last_presence_ts=event_ts)
    if meeting and not state.in_meeting:
        updated = dataclasses.replace(updated, in_meeting=True, in_meeting_since=now)
    elif not meeting and state.in_meeting:
        updated = _leave_meeting(updated)
    return _settle(updated, now)


def set_zoom_state(
    state: AccountAvailability, zoom_state: ZoomState, now: datetime
) -> AccountAvailability:
    """Record the Zoom connection's state. Anything but connected ends a meeting:
    a stale meeting must never keep someone paused. ``last_presence_ts`` stays,
    so an old event replayed after a reconnect is still seen as old."""
    updated = dataclasses.replace(state, zoom_state=zoom_state)
    if zoom_state != "connected":
        updated = _leave_meeting(updated)
    return _settle(updated, now)


def cause_of(before: AccountAvailability, after: AccountAvailability) -> str | None:
    """Name the meeting transition between two states, if there was one."""
    if not before.in_meeting and after.in_meeting:
        return "meeting_started"
    if before.in_meeting and not after.in_meeting:
        return "meeting_ended"
    return None
