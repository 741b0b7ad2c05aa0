"""Signed-in devices and the password: the account's own session management.

- ``GET /api/v1/sessions`` → ``{"sessions": [{id, device_name, created_at,
  last_seen_at, current}]}`` (never a token)
- ``DELETE /api/v1/sessions/{id}`` → 204: that device is signed out
- ``DELETE /api/v1/sessions`` → 204: every other device is signed out
- ``PUT /api/v1/account/password`` ``{current_password, new_password}`` → 204:
  every other session ends

Whatever ends a session closes its live sockets with 4401 at once. A password
set with ``profitringer relay user passwd`` from another process ends the
sessions in the database; a sweep every ``session_sweep_interval`` seconds
closes the sockets the running relay still holds for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Response
from pydantic import BaseModel, Field, StrictStr

from desktop.core.wire import iso
from desktop.relay.errors import ApiError
from desktop.relay.relay import Relay, SignInRefused
from desktop.relay.routes import RelayDep, SessionDep, Strict

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1")


class DeviceOut(BaseModel):
    id: int
    device_name: str
    created_at: str
    last_seen_at: str | None
    current: bool


class DevicesOut(BaseModel):
    sessions: list[DeviceOut]


class PasswordBody(Strict):
    current_password: StrictStr = Field(min_length=1, max_length=1024)
    new_password: StrictStr = Field(min_length=8, max_length=1024)


def require_password(relay: Relay, account_id: str, password: str) -> None:
    """Refuse (403, or 429 when throttled) unless ``password`` is the account's."""
    try:
        right = relay.check_password(account_id, password)
    except SignInRefused as exc:
        raise ApiError(
            429,
            "too_many_attempts",
            "Too many wrong passwords. Wait a few minutes, then try again.",
            {"Retry-After": str(math.ceil(exc.retry_after))},
        ) from exc
    if not right:
        raise ApiError(403, "wrong_password", "The current password is not right.")


@router.get("/sessions", response_model=DevicesOut)
async def list_sessions(session: SessionDep, relay: RelayDep) -> dict[str, Any]:
    return {
        "sessions": [
            {
                "id": device.id,
                "device_name": device.device_name,
                "created_at": iso(device.created_at),
                "last_seen_at": iso(device.last_seen_at),
                "current": device.id == session.id,
            }
            for device in relay.devices(session.account_id)
        ]
    }


@router.delete("/sessions", status_code=204)
async def sign_out_others(session: SessionDep, relay: RelayDep) -> Response:
    """Sign out every device of the account except this one."""
    relay.end_other_sessions(session.account_id, keep=session.id)
    return Response(status_code=204)


@router.delete(
    "/sessions/{session_id}", status_code=204, responses={404: {"description": "no such device"}}
)
async def sign_out_device(
    # Session ids are 64-bit in both stores: a larger number is a client's
    # mistake (400), not an overflow in the database driver (500).
    session_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    session: SessionDep,
    relay: RelayDep,
) -> Response:
    if not relay.end_device(session.account_id, session_id):
        raise ApiError(
            404, "not_found", "There is no signed-in device with that id on this account."
        )
    return Response(status_code=204)


@router.put(
    "/account/password",
    status_code=204,
    responses={403: {"description": "wrong current password"}, 429: {"description": "throttled"}},
)
async def change_password(body: PasswordBody, session: SessionDep, relay: RelayDep) -> Response:
    """Change the password; every other session of the account ends."""
    require_password(relay, session.account_id, body.current_password)
    relay.change_password(session.account_id, body.new_password, keep_session=session.id)
    return Response(status_code=204)


def install(app: FastAPI, relay: Relay) -> None:
    app.include_router(router)
    sweeper: list[asyncio.Task[None]] = []

    async def sweep_forever() -> None:
        while True:
            await asyncio.sleep(relay.settings.session_sweep_interval)
            if relay.hub.count():
                try:
                    relay.sweep_sessions()
                except Exception as exc:  # the next sweep tries again
                    log.warning("session sweep failed: %s", type(exc).__name__)

    async def start(_: Relay) -> None:
        if relay.settings.session_sweep_interval > 0:
            sweeper.append(asyncio.create_task(sweep_forever()))

    async def stop(_: Relay) -> None:
        for task in sweeper:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        sweeper.clear()

    app.state.start_hooks.append(start)
    app.state.stop_hooks.append(stop)
