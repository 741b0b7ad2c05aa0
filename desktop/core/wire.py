"""Wire models shared by the relay and its clients (DESIGN.md, "Wire contract").

The state document is what every client renders. The relay builds it with
:func:`state_document`; clients parse it with :meth:`StateDocument.from_json`,
which raises :class:`WireError` on anything malformed rather than guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, TypedDict, cast

from desktop.core.availability import (
    AVAILABILITIES,
    AccountAvailability,
    Availability,
    Override,
    Reason,
    ZoomState,
)

#: Causes carried by ``update`` messages.
CAUSES: Final[frozenset[str]] = frozenset(
    {
        "snapshot",
        "ringer_changed",
        "preferred_changed",
        "auto_pause_changed",
        "override_set",
        "override_cleared",
        "override_expired",
        "meeting_started",
        "meeting_ended",
        "presence_changed",
        "zoom_connected",
        "zoom_disconnected",
        "zoom_expired",
    }
)

#: Close code telling a live client that its session is gone: sign in again.
CLOSE_SESSION_GONE: Final = 4401

MessageType = Literal["snapshot", "update"]


class WireError(ValueError):
    """A document from the other side does not have the agreed shape."""


def iso(moment: datetime | None) -> str | None:
    """ISO-8601 in UTC with a ``Z``, second precision; ``None`` stays ``None``."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """Parse an ISO-8601 timestamp; a timestamp without a zone is refused."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise WireError(f"not an ISO-8601 time: {text!r}") from exc
    if moment.tzinfo is None:
        raise WireError(f"time without a time zone: {text!r}")
    try:
        # 9999-12-31T23:59-23:59 parses, but is past the last UTC time Python has.
        moment.astimezone(UTC)
    except OverflowError as exc:
        raise WireError(f"time out of range: {text!r}") from exc
    return moment


class OverrideJson(TypedDict):
    value: Availability
    #: ``meeting_end``, ``manual`` or an ISO-8601 time
    until: str


class AccountJson(TypedDict):
    id: str
    email: str


class SignedInJson(TypedDict):
    """The answer to a sign-in: the session's bearer token and its account."""

    token: str
    account: AccountJson


class EffectiveJson(TypedDict):
    availability: Availability
    reason: Reason
    since: str | None


class ZoomProblemJson(TypedDict):
    code: str
    message: str


class ZoomJson(TypedDict):
    state: ZoomState
    email: str | None
    in_meeting: bool
    since: str | None
    problem: ZoomProblemJson | None


class StateJson(TypedDict):
    """The state document of DESIGN.md, as the relay sends it."""

    seq: int
    account: AccountJson
    ringer_on: bool
    preferred: Availability
    auto_pause: bool
    override: OverrideJson | None
    effective: EffectiveJson
    zoom: ZoomJson
    cause: str


class LiveMessageJson(TypedDict):
    type: MessageType
    seq: int
    state: StateJson


def override_json(override: Override | None) -> OverrideJson | None:
    if override is None:
        return None
    if override.until != "time":
        return {"value": override.value, "until": override.until}
    until = iso(override.ends_at)
    assert until is not None  # a time-bound override always has its end
    return {"value": override.value, "until": until}


def parse_override(raw: object) -> Override | None:
    """Parse ``{"value", "until"}`` where until is meeting_end, manual or a time."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise WireError("override must be an object or null")
    value = raw.get("value")
    until = raw.get("until")
    if value not in AVAILABILITIES:
        raise WireError("override.value must be 'available' or 'unavailable'")
    if not isinstance(until, str):
        raise WireError("override.until must be 'meeting_end', 'manual' or an ISO-8601 time")
    availability = cast(Availability, value)
    if until in ("meeting_end", "manual"):
        return Override(availability, until)  # type: ignore[arg-type]
    return Override(availability, "time", parse_iso(until))


def state_document(
    *,
    seq: int,
    account_id: str,
    email: str,
    state: AccountAvailability,
    zoom_email: str | None,
    zoom_since: datetime | None,
    cause: str,
    zoom_problem: ZoomProblemJson | None = None,
) -> StateJson:
    """Build the state document of DESIGN.md. It never carries a Zoom token.

    ``zoom.problem`` is ``null``, or ``{"code", "message"}`` saying in words why
    Zoom is not connected (linked from another account, a scope missing)."""
    return {
        "seq": seq,
        "account": {"id": account_id, "email": email},
        "ringer_on": state.ringer_on,
        "preferred": state.preferred,
        "auto_pause": state.auto_pause,
        "override": override_json(state.override),
        "effective": {
            "availability": state.effective.availability,
            "reason": state.effective.reason,
            "since": iso(state.effective_since),
        },
        "zoom": {
            "state": state.zoom_state,
            "email": zoom_email,
            "in_meeting": state.in_meeting,
            "since": iso(state.in_meeting_since if state.in_meeting else zoom_since),
            "problem": zoom_problem,
        },
        "cause": cause,
    }


def _field(raw: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = raw.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise WireError(f"field {name!r} is missing or has the wrong type")
    return value


@dataclass(frozen=True)
class StateDocument:
    """A parsed state document, as a client sees it."""

    seq: int
    account_id: str
    email: str
    ringer_on: bool
    preferred: Availability
    auto_pause: bool
    override: Override | None
    availability: Availability
    reason: Reason
    since: datetime | None
    zoom_state: ZoomState
    zoom_email: str | None
    in_meeting: bool
    zoom_since: datetime | None
    cause: str
    #: ``zoom.problem``: why Zoom is not connected, when the relay says (``None``
    #: otherwise, and from a relay too old to say).
    zoom_problem: ZoomProblem | None = None

    @classmethod
    def from_json(cls, raw: object) -> StateDocument:
        if not isinstance(raw, dict):
            raise WireError("a state document must be an object")
        account = _field(raw, "account", dict)
        effective = _field(raw, "effective", dict)
        zoom = _field(raw, "zoom", dict)
        availability = _field(effective, "availability", str)
        reason = _field(effective, "reason", str)
        preferred = _field(raw, "preferred", str)
        zoom_state = _field(zoom, "state", str)
        if availability not in AVAILABILITIES or preferred not in AVAILABILITIES:
            raise WireError("unknown availability value")
        if reason not in ("ringer_off", "override", "in_meeting", "preferred"):
            raise WireError(f"unknown reason {reason!r}")
        if zoom_state not in ("connected", "disconnected", "expired"):
            raise WireError(f"unknown zoom state {zoom_state!r}")
        since = effective.get("since")
        zoom_since = zoom.get("since")
        zoom_email = zoom.get("email")
        return cls(
            seq=_field(raw, "seq", int),
            account_id=_field(account, "id", str),
            email=_field(account, "email", str),
            ringer_on=_field(raw, "ringer_on", bool),
            preferred=cast(Availability, preferred),
            auto_pause=_field(raw, "auto_pause", bool),
            override=parse_override(raw.get("override")),
            availability=cast(Availability, availability),
            reason=cast(Reason, reason),
            since=parse_iso(since) if isinstance(since, str) else None,
            zoom_state=cast(ZoomState, zoom_state),
            zoom_email=zoom_email if isinstance(zoom_email, str) else None,
            in_meeting=_field(zoom, "in_meeting", bool),
            zoom_since=parse_iso(zoom_since) if isinstance(zoom_since, str) else None,
            cause=_field(raw, "cause", str),
            zoom_problem=_zoom_problem(zoom.get("problem")),
        )


@dataclass(frozen=True)
class ZoomProblem:
    code: str
    message: str


def _zoom_problem(raw: object) -> ZoomProblem | None:
    """``zoom.problem`` when it is ``{"code", "message"}`` with text in both."""
    if not isinstance(raw, dict):
        return None
    code, message = raw.get("code"), raw.get("message")
    if not isinstance(code, str) or not isinstance(message, str) or not code or not message:
        return None
    return ZoomProblem(code, message)


def live_message(kind: MessageType, document: StateJson) -> LiveMessageJson:
    """A socket message: ``{"type": "snapshot"|"update", "seq": n, "state": {...}}``."""
    return {"type": kind, "seq": document["seq"], "state": document}


def parse_live_message(raw: object) -> tuple[MessageType, StateDocument]:
    if not isinstance(raw, dict):
        raise WireError("a live message must be an object")
    kind = raw.get("type")
    if kind not in ("snapshot", "update"):
        raise WireError(f"unknown live message type {kind!r}")
    return cast(MessageType, kind), StateDocument.from_json(raw.get("state"))


def error_body(code: str, message: str) -> dict[str, Any]:
    """The error body every 4xx/5xx of the relay carries."""
    return {"error": {"code": code, "message": message}}


def parse_error_body(raw: object) -> tuple[str, str] | None:
    """``(code, message)`` from an error body, or ``None`` if it is not one."""
    if not isinstance(raw, dict):
        return None
    error = raw.get("error")
    if not isinstance(error, dict):
        return None
    code, message = error.get("code"), error.get("message")
    if isinstance(code, str) and isinstance(message, str):
        return code, message
    return None


def now_utc() -> datetime:
    """The one place core code names the wall clock; callers inject it elsewhere."""
    return datetime.now(UTC)
