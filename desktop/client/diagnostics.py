"""The "Copy diagnostics" text: versions, state and backend, never a secret."""

from __future__ import annotations

import platform
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from desktop import __version__
from desktop.client.api import redact_url
from desktop.client.presentation import TrayModel
from desktop.core.wire import iso


def diagnostics_text(
    *,
    backend_url: str,
    email: str | None,
    model: TrayModel,
    device_name: str = "",
    now: datetime,
    log_file: Path | None,
    keyring_note: str,
    extra_versions: Mapping[str, str] | None = None,
) -> str:
    """A plain-text report to paste into a support request. It holds no token,
    no password and no Zoom secret: only what the person already sees."""
    status = model.status()
    versions = {
        "profitringer": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        **(extra_versions or {}),
    }
    lines = ["ProfitRinger Desktop diagnostics", f"time: {iso(now)}"]
    lines += [f"{name}: {value}" for name, value in versions.items()]
    lines += [
        f"backend: {redact_url(backend_url)}",
        f"account: {email or '(signed out)'}",
        f"device: {device_name or '-'}",
        f"connection: {model.connection}",
        f"status: {status.title}",
        f"offline since: {iso(model.offline_since) or '-'}",
        f"keyring: {keyring_note}",
        f"log file: {log_file or '-'}",
    ]
    document = model.document
    if document is not None:
        lines += [
            f"seq: {document.seq}",
            f"ringer_on: {document.ringer_on}",
            f"preferred: {document.preferred}",
            f"effective: {document.availability} ({document.reason}) since {iso(document.since)}",
            f"override: {document.override}",
            f"zoom: {document.zoom_state}, in_meeting={document.in_meeting}",
            f"last cause: {document.cause}",
        ]
    return "\n".join(lines) + "\n"
