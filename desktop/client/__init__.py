"""Qt-free client of the relay: REST (httpx), live socket (websockets), keyring,
and the pure presentation and notification decisions the tray renders.

The names below are imported from their modules on first use (PEP 562), so
importing one submodule (``desktop.client.paths``, say) does not load httpx,
websockets and keyring: the tray loads each when it first needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from desktop.client.api import MeetingLink, RelayClient, RelayError, SignedInAccount
    from desktop.client.credentials import CredentialError, TokenKeyring
    from desktop.client.live import Backoff, LiveConnection, LiveListener
    from desktop.client.notifications import (
        Notification,
        NotificationPrefs,
        decide_notification,
    )
    from desktop.client.presentation import TrayModel, TrayStatus, present

#: exported name -> the module that defines it
_EXPORTS = {
    "SignedInAccount": "api",
    "MeetingLink": "api",
    "RelayClient": "api",
    "RelayError": "api",
    "CredentialError": "credentials",
    "TokenKeyring": "credentials",
    "Backoff": "live",
    "LiveConnection": "live",
    "LiveListener": "live",
    "Notification": "notifications",
    "NotificationPrefs": "notifications",
    "decide_notification": "notifications",
    "TrayModel": "presentation",
    "TrayStatus": "presentation",
    "present": "presentation",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "Backoff",
    "CredentialError",
    "LiveConnection",
    "LiveListener",
    "MeetingLink",
    "Notification",
    "NotificationPrefs",
    "RelayClient",
    "RelayError",
    "SignedInAccount",
    "TokenKeyring",
    "TrayModel",
    "TrayStatus",
    "decide_notification",
    "present",
]
