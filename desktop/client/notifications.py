"""When the tray tells the person something: a pure decision, tested without Qt.

A notification is due when the relay — not the person — changed something
that matters: a Zoom meeting paused the ringer, its end resumed it, or the Zoom
connection expired or was removed at Zoom and needs connecting again. Nothing
is shown for the person's own changes (from this tray or any of their clients), nor for the snapshot
that follows every reconnect, and each kind can be switched off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from desktop.core.wire import MessageType, StateDocument

NotificationKind = Literal["paused", "resumed", "zoom_reconnect"]

#: Causes that only ever come from the person's own clicks, in any client.
PERSON_CAUSES: Final[frozenset[str]] = frozenset(
    {
        "ringer_changed",
        "preferred_changed",
        "auto_pause_changed",
        "override_set",
        "override_cleared",
    }
)


@dataclass(frozen=True)
class NotificationPrefs:
    """Which kinds of notification the person wants (Settings)."""

    paused: bool = True
    resumed: bool = True
    zoom_reconnect: bool = True

    def allows(self, kind: NotificationKind) -> bool:
        return bool(getattr(self, kind))


@dataclass(frozen=True)
class Notification:
    kind: NotificationKind
    title: str
    body: str


def _paused(document: StateDocument) -> bool:
    return document.reason == "in_meeting"


def decide_notification(
    previous: StateDocument | None,
    new: StateDocument,
    message_type: MessageType,
    own_action: bool,
    prefs: NotificationPrefs | None = None,
) -> Notification | None:
    """The notification ``new`` calls for after ``previous``, or ``None``."""
    prefs = prefs or NotificationPrefs()
    if previous is None or message_type == "snapshot" or own_action:
        return None
    if new.cause in PERSON_CAUSES:
        return None
    notification: Notification | None = None
    if new.zoom_state == "expired" and previous.zoom_state != "expired":
        notification = Notification(
            "zoom_reconnect",
            "Zoom needs reconnecting",
            "The Zoom connection expired, so meetings no longer pause your ringer. "
            "Click to reconnect.",
        )
    elif (
        new.zoom_state == "disconnected"
        and previous.zoom_state != "disconnected"
        and new.cause == "zoom_disconnected"
    ):
        # Removed at Zoom (app_deauthorized) or disconnected from another of
        # the person's clients; this tray's own Disconnect is an own action.
        notification = Notification(
            "zoom_reconnect",
            "Zoom disconnected",
            "ProfitRinger is no longer connected to your Zoom account, so meetings "
            "no longer pause your ringer. Click to connect Zoom again.",
        )
    elif _paused(new) and not _paused(previous):
        notification = Notification(
            "paused",
            "Ringer paused",
            "You are in a Zoom meeting, so calls will not ring until it ends.",
        )
    elif _paused(previous) and not _paused(new):
        if new.availability == "available":
            body = "Your meeting ended; you are available for calls again."
        else:
            body = "Your meeting ended; you are back to unavailable, as before."
        notification = Notification("resumed", "Ringer resumed", body)
    if notification is None or not prefs.allows(notification.kind):
        return None
    return notification
