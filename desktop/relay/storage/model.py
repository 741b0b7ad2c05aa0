"""What the store holds and hands out: rows as frozen dataclasses, the account
state's JSON form, and the data directory's file helpers."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from desktop.core.availability import AccountAvailability, Effective, Override
from desktop.core.wire import ZoomProblemJson, iso, parse_iso


def private_dir(path: Path) -> None:
    """Create ``path`` if needed and make it the owner's alone (0700): it holds
    the database, its WAL and the key file."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def private_file(path: Path) -> None:
    """Create ``path`` if needed and make it the owner's alone (0600)."""
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    os.chmod(path, 0o600)


def durable_replace(temporary: Path, path: Path) -> None:
    """Rename ``temporary`` (already written and fsynced) over ``path``, then
    fsync the directory: until then a crash may bring the old file back."""
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class StorageError(RuntimeError):
    """The database cannot be used; the message says what to do about it."""


@dataclass(frozen=True)
class Account:
    id: str
    email: str
    password_hash: str


@dataclass(frozen=True)
class Session:
    id: int
    account_id: str
    email: str
    expires_at: datetime
    last_seen_at: datetime | None = None


@dataclass(frozen=True)
class Device:
    """One signed-in session as the devices list shows it: never its token."""

    id: int
    device_name: str
    created_at: datetime
    last_seen_at: datetime | None


@dataclass(frozen=True)
class ZoomSummary:
    email: str | None
    since: datetime | None
    #: ``{"code", "message"}`` when the connection ended for a reason to show.
    problem: ZoomProblemJson | None


@dataclass(frozen=True)
class StoredState:
    account_id: str
    email: str
    seq: int
    state: AccountAvailability
    #: The account's Zoom connection as it was read with the state (only
    #: :meth:`Queries.load_state_for_update` reads it).
    zoom: ZoomSummary | None = None


def state_to_json(state: AccountAvailability) -> str:
    override = state.override
    return orjson.dumps(
        {
            "ringer_on": state.ringer_on,
            "preferred": state.preferred,
            "auto_pause": state.auto_pause,
            "in_meeting": state.in_meeting,
            "in_meeting_since": iso(state.in_meeting_since),
            "override": None
            if override is None
            else {
                "value": override.value,
                "until": override.until,
                "ends_at": iso(override.ends_at),
            },
            "zoom_state": state.zoom_state,
            "last_presence_ts": state.last_presence_ts,
            "effective": [state.effective.availability, state.effective.reason],
            "effective_since": iso(state.effective_since),
        },
    ).decode()


def time_or_none(value: Any) -> datetime | None:
    return parse_iso(value) if isinstance(value, str) else None


def state_from_json(text: str) -> AccountAvailability:
    raw = orjson.loads(text)
    override_raw = raw.get("override")
    override = (
        None
        if override_raw is None
        else Override(
            override_raw["value"], override_raw["until"], time_or_none(override_raw["ends_at"])
        )
    )
    availability, reason = raw["effective"]
    return AccountAvailability(
        ringer_on=raw["ringer_on"],
        preferred=raw["preferred"],
        auto_pause=raw["auto_pause"],
        in_meeting=raw["in_meeting"],
        in_meeting_since=time_or_none(raw.get("in_meeting_since")),
        override=override,
        zoom_state=raw["zoom_state"],
        last_presence_ts=raw.get("last_presence_ts"),
        effective=Effective(availability, reason),
        effective_since=time_or_none(raw.get("effective_since")),
    )


class LinkConflict(Exception):
    """The Zoom user is already linked to another account."""


@dataclass(frozen=True)
class ZoomConnection:
    account_id: str
    zoom_user_id: str | None
    zoom_email: str | None
    state: str
    api_url: str | None
    access_token: bytes | None = field(repr=False)
    refresh_token: bytes | None = field(repr=False)
    access_expires_at: datetime | None
    refresh_expires_at: datetime | None
    #: When this connection was made (Unix ms); ``None`` for rows from before it was kept.
    connected_at_ms: int | None = None

    @property
    def usable(self) -> bool:
        return (
            self.state == "connected"
            and self.access_token is not None
            and self.refresh_token is not None
        )


@dataclass(frozen=True)
class SealedGrant:
    """A token pair as stored: sealed secrets and when each runs out."""

    access_token: bytes = field(repr=False)
    refresh_token: bytes = field(repr=False)
    access_expires_at: datetime
    refresh_expires_at: datetime
    api_url: str | None


@dataclass(frozen=True)
class ConnectStart:
    """The start page of a pending Zoom connect, as its ticket finds it."""

    authorize_url: bytes = field(repr=False)
    binding_hash: str | None = field(repr=False)
    expires_at: datetime
    email: str
