"""What the tray shows, in words and icon names: a pure function of the state.

:func:`present` turns the last state document, the connection's condition and
the time into a :class:`TrayStatus`. :class:`TrayModel` keeps that input
current as snapshots, updates and the person's own changes arrive, ignores
anything older than what it has, and says which notification each message
calls for. The Qt layer only draws what these return.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from desktop.client.notifications import (
    PERSON_CAUSES,
    Notification,
    NotificationPrefs,
    decide_notification,
)
from desktop.core.wire import MessageType, StateDocument, now_utc

Connection = Literal["signed_out", "connecting", "online", "offline"]
StatusKind = Literal[
    "available",
    "paused",
    "unavailable",
    "overridden",
    "ringer_off",
    "zoom_action",
    "offline",
    "signed_out",
]

#: status kind -> SVG file name (without ``.svg``) in ``resources/icons``.
ICON_NAMES: Final[dict[StatusKind, str]] = {
    "available": "available",
    "paused": "paused",
    "unavailable": "unavailable",
    "overridden": "overridden",
    "ringer_off": "ringer-off",
    "zoom_action": "zoom-action",
    "offline": "offline",
    "signed_out": "signed-out",
}

#: Causes of the tray's own REST changes, recognized while one is in flight.
OWN_ACTION_CAUSES: Final[frozenset[str]] = PERSON_CAUSES | {"zoom_disconnected"}


@dataclass(frozen=True)
class TrayStatus:
    """The state in words: ``title`` is the menu's first line and always gives
    the availability; ``zoom_problem`` is the line below it when Zoom needs the
    person (``None`` otherwise); ``tooltip`` adds detail."""

    kind: StatusKind
    title: str
    tooltip: str
    since: datetime | None = None
    zoom_problem: str | None = None

    @property
    def icon(self) -> str:
        return ICON_NAMES[self.kind]


def format_time(moment: datetime, now: datetime) -> str:
    """Local clock time; with the date too when it is not today."""
    local, today = moment.astimezone(), now.astimezone()
    if local.date() == today.date():
        return local.strftime("%H:%M")
    return local.strftime("%d %b %H:%M")


def _since(moment: datetime | None, now: datetime) -> str:
    return f" since {format_time(moment, now)}" if moment is not None else ""


def _until_words(document: StateDocument, now: datetime) -> str:
    override = document.override
    if override is None:
        return ""
    if override.until == "meeting_end":
        return " until this meeting ends"
    if override.until == "manual":
        return " until you resume"
    assert override.ends_at is not None
    return f" until {format_time(override.ends_at, now)}"


def _zoom_line(document: StateDocument, now: datetime) -> str:
    if document.zoom_state == "connected":
        who = f" as {document.zoom_email}" if document.zoom_email else ""
        meeting = ", in a meeting" if document.in_meeting else ""
        return f"Zoom: connected{who}{meeting}"
    if document.zoom_state == "expired":
        return "Zoom: connection expired — reconnect to follow meetings again"
    return "Zoom: not connected — meetings will not pause your ringer"


def _ringer_words(document: StateDocument, now: datetime) -> tuple[StatusKind, str]:
    since = _since(document.since, now)
    if document.reason == "ringer_off":
        return "ringer_off", f"Ringer off{since}"
    if document.reason == "override":
        value = "Available" if document.availability == "available" else "Unavailable"
        return "overridden", f"{value} (override){_until_words(document, now)}"
    if document.reason == "in_meeting":
        return "paused", f"Paused — in a Zoom meeting{since}"
    if document.availability == "available":
        return "available", f"Available{since}"
    return "unavailable", f"Unavailable{since}"


def present(
    document: StateDocument | None,
    connection: Connection,
    offline_since: datetime | None,
    now: datetime,
) -> TrayStatus:
    """The tray's status. Offline never shows a stale availability."""
    if connection == "signed_out":
        return TrayStatus(
            "signed_out", "Signed out", "ProfitRinger: signed out. Sign in to see your ringer."
        )
    # Online but no snapshot yet is still "connecting": the socket is open and
    # the state is on its way; "offline" would be a false alarm.
    if (
        connection == "connecting"
        or (connection == "offline" and offline_since is None)
        or (connection != "offline" and document is None)
    ):
        return TrayStatus(
            "offline", "Connecting…", "ProfitRinger: connecting to the backend…", offline_since
        )
    if connection == "offline" or document is None:
        title = f"Offline{_since(offline_since, now)} — reconnecting"
        return TrayStatus(
            "offline",
            title,
            f"ProfitRinger: {title}.\nYour ringer's state is unknown until the backend answers.",
            offline_since,
        )
    kind, ringer = _ringer_words(document, now)
    lines = [f"ProfitRinger: {ringer}", _zoom_line(document, now)]
    if document.zoom_state == "connected":
        return TrayStatus(kind, ringer, "\n".join(lines), document.since)
    problem = (
        "Zoom connection expired — reconnect"
        if document.zoom_state == "expired"
        else "Zoom not connected — connect"
    )
    # The icon asks for action unless the ringer is off anyway; the words
    # keep giving the availability first.
    shown: StatusKind = kind if kind == "ringer_off" else "zoom_action"
    return TrayStatus(shown, ringer, "\n".join(lines), document.since, problem)


class TrayModel:
    """The tray's picture of one person's state; plain Python, no Qt, no I/O."""

    def __init__(
        self,
        clock: Callable[[], datetime] = now_utc,
        prefs: NotificationPrefs | None = None,
    ) -> None:
        self._clock = clock
        self.prefs = prefs or NotificationPrefs()
        self.connection: Connection = "signed_out"
        self.document: StateDocument | None = None
        self.offline_since: datetime | None = None
        self._own_actions_in_flight = 0
        # Set when the socket drops: the document is then from before the loss
        # and is not shown again until a fresh snapshot replaces it. (The socket
        # reports "online" just before that snapshot is handed over.)
        self._stale = False

    @property
    def online(self) -> bool:
        return self.connection == "online" and self.document is not None and not self._stale

    def status(self) -> TrayStatus:
        document = None if self._stale else self.document
        return present(document, self.connection, self.offline_since, self._clock())

    def signed_in(self) -> None:
        self.connection = "connecting"
        self.document = None
        self.offline_since = None
        self._stale = False

    def signed_out(self) -> None:
        self.connection = "signed_out"
        self.document = None
        self.offline_since = None
        self._own_actions_in_flight = 0
        self._stale = False

    def went_online(self) -> None:
        if self.connection != "signed_out":
            self.connection = "online"
            self.offline_since = None

    def went_offline(self, since: datetime) -> None:
        if self.connection != "signed_out":
            self.connection = "offline"
            self.offline_since = since
            self._stale = True

    def begin_own_action(self) -> None:
        self._own_actions_in_flight += 1

    def end_own_action(self, document: StateDocument | None) -> None:
        """An own REST change finished; ``document`` is its answer, if any."""
        self._own_actions_in_flight = max(0, self._own_actions_in_flight - 1)
        if document is not None and (self.document is None or document.seq >= self.document.seq):
            self.document = document

    def apply_live(self, kind: MessageType, document: StateDocument) -> Notification | None:
        """Take a socket message; returns the notification it calls for, if any."""
        if self.connection == "signed_out":
            return None
        previous = self.document
        if kind == "update" and previous is not None and document.seq <= previous.seq:
            return None  # older than, or the same as, what we already show
        self.document = document
        if kind == "snapshot":
            self._stale = False
        own = self._own_actions_in_flight > 0 and document.cause in OWN_ACTION_CAUSES
        return decide_notification(previous, document, kind, own, self.prefs)
