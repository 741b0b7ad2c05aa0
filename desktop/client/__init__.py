"""Qt-free client of the relay: REST (httpx), live socket (websockets), keyring,
and the pure presentation and notification decisions the tray renders."""

from desktop.client.api import Account, MeetingLink, RelayClient, RelayError
from desktop.client.credentials import CredentialError, TokenKeyring
from desktop.client.live import Backoff, LiveConnection, LiveListener
from desktop.client.notifications import Notification, NotificationPrefs, decide_notification
from desktop.client.presentation import TrayModel, TrayStatus, present

__all__ = [
    "Account",
    "Backoff",
    "CredentialError",
    "LiveConnection",
    "LiveListener",
    "MeetingLink",
    "Notification",
    "NotificationPrefs",
    "RelayClient",
    "RelayError",
    "TokenKeyring",
    "TrayModel",
    "TrayStatus",
    "decide_notification",
    "present",
]
