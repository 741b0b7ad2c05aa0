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

ConnectionState = Literal["signed_out", "connecting", "online", "offline"]
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


#: The menu's short line for each ``zoom.problem`` code the relay sends; the
#: tooltip carries the relay's whole sentence.
ZOOM_PROBLEM_LABELS: Final = {
    "zoom_linked_elsewhere": "Zoom now connected to another account — connect",
    "zoom_scopes_missing": "Zoom app lacks permissions — ask your admin",
}


def _zoom_line(document: StateDocument, now: datetime) -> str:
    if document.zoom_state == "connected":
        who = f" as {document.zoom_email}" if document.zoom_email else ""
        meeting = ", in a meeting" if document.in_meeting else ""
        return f"Zoom: connected{who}{meeting}"
    if document.zoom_state == "expired":
        return "Zoom: connection expired — reconnect to follow meetings again"
    if document.zoom_problem is not None:
        # The relay's own sentence (why, and what to do), as the web page shows it.
        return f"Zoom: not connected. {document.zoom_problem.message}"
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
    connection: ConnectionState,
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
    if document.zoom_state == "expired":
        problem = "Zoom connection expired — reconnect"
    else:
        problem = ZOOM_PROBLEM_LABELS.get(
            document.zoom_problem.code if document.zoom_problem else "",
            "Zoom not connected — connect",
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
        self.connection: ConnectionState = "signed_out"
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


@dataclass(frozen=True)
class MenuState:
    """What the menu is built from: the status line, whether someone is signed
    in (and who), and the last state document (``None`` while offline)."""

    status: TrayStatus
    signed_in: bool
    email: str = ""
    document: StateDocument | None = None


@dataclass(frozen=True)
class MenuEntry:
    """One line of the tray's menu, decided here and only drawn by Qt.

    ``id`` is stable (``"availability.available"``, ``"override.pause_30"``,
    ``"zoom.connect"``, …); the Qt layer maps it to what the entry does. A
    separator has ``separator=True`` and no id; a submenu has ``children``.
    ``checked`` is ``None`` for an entry that cannot be checked; entries with
    the same ``group`` are mutually exclusive.
    """

    id: str = ""
    text: str = ""
    enabled: bool = True
    checked: bool | None = None
    group: str | None = None
    children: tuple[MenuEntry, ...] = ()
    separator: bool = False


SEPARATOR: Final = MenuEntry(separator=True)


def menu_entries(state: MenuState) -> list[MenuEntry]:
    """The tray's menu, top to bottom, for ``state``."""
    status = state.status
    entries = [MenuEntry("status", status.title, enabled=False)]
    if status.zoom_problem is not None:
        entries.append(MenuEntry("zoom_status", status.zoom_problem, enabled=False))
    entries.append(SEPARATOR)
    tail = [
        MenuEntry("settings", "Settings…"),
        MenuEntry("diagnostics", "Copy diagnostics"),
    ]
    if not state.signed_in:
        return [
            *entries,
            MenuEntry("sign_in", "Sign in…"),
            SEPARATOR,
            *tail,
            MenuEntry("quit", "Quit"),
        ]
    document = state.document
    live = document is not None
    preferred = document.preferred if document else None
    in_meeting = bool(document and document.in_meeting)
    has_override = bool(document and document.override is not None)
    zoom_state = document.zoom_state if document else None
    entries += [
        # The choice is what the person wants outside meetings; saying so keeps
        # a checked "Available" from reading as a contradiction while a meeting
        # pauses the ringer.
        MenuEntry("availability.heading", "When not in a meeting:", enabled=False),
        MenuEntry(
            "availability.available",
            "Available",
            enabled=live,
            checked=preferred == "available",
            group="availability",
        ),
        MenuEntry(
            "availability.unavailable",
            "Unavailable",
            enabled=live,
            checked=preferred == "unavailable",
            group="availability",
        ),
        MenuEntry(
            "override",
            "Override",
            enabled=live,
            children=(
                MenuEntry(
                    "override.meeting",
                    "Take calls during this meeting",
                    enabled=live and in_meeting,
                ),
                MenuEntry("override.pause_30", "Pause for 30 minutes"),
                MenuEntry("override.pause_60", "Pause for 1 hour"),
                MenuEntry("override.manual", "Pause until I resume"),
                SEPARATOR,
                MenuEntry("override.clear", "Clear override (resume)", enabled=has_override),
            ),
        ),
        MenuEntry(
            "ringer", "Ringer on", enabled=live, checked=bool(document and document.ringer_on)
        ),
        MenuEntry(
            "auto_pause",
            "Pause during Zoom meetings",
            enabled=live,
            checked=bool(document and document.auto_pause),
        ),
        SEPARATOR,
    ]
    if zoom_state == "expired":
        entries.append(MenuEntry("zoom.reconnect", "Reconnect Zoom…"))
    elif zoom_state == "disconnected":
        entries.append(MenuEntry("zoom.connect", "Connect Zoom…"))
    if zoom_state in ("connected", "expired"):
        entries.append(MenuEntry("zoom.disconnect", "Disconnect Zoom…"))
    entries += [
        MenuEntry("meeting", "New meeting link", enabled=live and zoom_state == "connected"),
        SEPARATOR,
        *tail,
        MenuEntry("sign_out", f"Sign out ({state.email})"),
        MenuEntry("quit", "Quit"),
    ]
    return entries
