"""REST endpoints under ``/api/v1``: sessions, state, ringer, availability,
override, account. Each change is committed, then pushed (see service.py)."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from desktop.core import availability as rules
from desktop.core.wire import SignedInJson, StateJson, WireError, parse_override
from desktop.relay.errors import ApiError
from desktop.relay.relay import Relay, SignInBusy, SignInRefused
from desktop.relay.service import AccountGone, Transition
from desktop.relay.storage import Session

router = APIRouter(prefix="/api/v1")


# Dependencies are ``async def`` on purpose: FastAPI runs a plain ``def`` one in
# a worker thread, and the store's SQLite connection is the event loop's alone
# (storage/store.py). A sync current_session touched the session row from a
# worker thread while the loop wrote on the same connection: under a sign-in
# flood that was a 500 (OperationalError) now and then, and a thread hop per
# request besides.


async def get_relay(request: Request) -> Relay:
    relay: Relay = request.app.state.relay
    return relay


RelayDep = Annotated[Relay, Depends(get_relay)]


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def current_session(request: Request, relay: RelayDep) -> Session:
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise ApiError(
            401,
            "unauthorized",
            "Sign in first: send 'Authorization: Bearer <token>' from POST /api/v1/sessions.",
            {"WWW-Authenticate": "Bearer"},
        )
    session = relay.session_for(token)
    if session is None:
        raise ApiError(
            401,
            "session_expired",
            "This session has ended or expired; sign in again.",
            {"WWW-Authenticate": "Bearer"},
        )
    return session


SessionDep = Annotated[Session, Depends(current_session)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class SignInBody(Strict):
    email: StrictStr = Field(min_length=3, max_length=254)
    password: StrictStr = Field(min_length=1, max_length=1024)
    device_name: StrictStr = Field(default="unknown device", max_length=100)


class AccountOut(BaseModel):
    id: str
    email: str


class SignInOut(BaseModel):
    token: str
    account: AccountOut


class RingerBody(Strict):
    on: StrictBool


class AutoPauseBody(Strict):
    on: StrictBool


class AvailabilityBody(Strict):
    preferred: Literal["available", "unavailable"]


class OverrideBody(Strict):
    value: Literal["available", "unavailable"]
    until: StrictStr = Field(
        description="'meeting_end', 'manual', or an ISO-8601 time with a time zone",
        max_length=64,
    )


class OverrideOut(BaseModel):
    value: Literal["available", "unavailable"]
    until: str


class EffectiveOut(BaseModel):
    availability: Literal["available", "unavailable"]
    reason: Literal["ringer_off", "override", "in_meeting", "preferred"]
    since: str | None


class ZoomProblemOut(BaseModel):
    code: str
    message: str


class ZoomOut(BaseModel):
    state: Literal["connected", "disconnected", "expired"]
    email: str | None
    in_meeting: bool
    since: str | None
    #: Why Zoom is not connected, in words, when the person must hear it.
    problem: ZoomProblemOut | None = None


class StateOut(BaseModel):
    """The state document every client renders (DESIGN.md)."""

    seq: int
    account: AccountOut
    ringer_on: bool
    preferred: Literal["available", "unavailable"]
    auto_pause: bool
    override: OverrideOut | None
    effective: EffectiveOut
    zoom: ZoomOut
    cause: str


def _document(relay: Relay, account_id: str, changed: StateJson | None) -> StateJson:
    if changed is not None:
        return changed
    try:
        return relay.service.document(account_id, cause="unchanged")
    except AccountGone as exc:
        raise ApiError(401, "session_expired", "This account no longer exists.") from exc


def _change(relay: Relay, session: Session, transition: Transition, cause: str) -> StateJson:
    try:
        changed = relay.service.change(session.account_id, transition, cause)
    except AccountGone as exc:
        raise ApiError(401, "session_expired", "This account no longer exists.") from exc
    return _document(relay, session.account_id, changed)


@router.post(
    "/sessions",
    status_code=201,
    response_model=SignInOut,
    responses={401: {"description": "wrong email or password"}, 429: {"description": "throttled"}},
)
async def sign_in(body: SignInBody, request: Request, relay: RelayDep) -> SignedInJson:
    address = request.client.host if request.client else "unknown"
    try:
        result = await relay.sign_in(body.email, body.password, body.device_name, address)
    except SignInBusy as exc:
        raise ApiError(
            503,
            "busy",
            "The relay is checking many sign-ins at once; try again in a moment.",
            {"Retry-After": "1"},
        ) from exc
    except SignInRefused as exc:
        raise ApiError(
            429,
            "too_many_attempts",
            "Too many failed sign-ins. Wait a few minutes, then try again.",
            {"Retry-After": str(math.ceil(exc.retry_after))},
        ) from exc
    if result.delay:
        await asyncio.sleep(result.delay)
    if result.account is None or result.token is None:
        raise ApiError(401, "invalid_credentials", "The email or password is not right.")
    return {
        "token": result.token,
        "account": {"id": result.account.id, "email": result.account.email},
    }


@router.delete("/sessions/current", status_code=204)
async def sign_out(session: SessionDep, relay: RelayDep) -> Response:
    relay.end_session(session.id)
    return Response(status_code=204)


@router.get("/state", response_model=StateOut)
async def get_state(session: SessionDep, relay: RelayDep) -> StateJson:
    return _document(relay, session.account_id, None)


@router.put("/ringer", response_model=StateOut)
async def put_ringer(body: RingerBody, session: SessionDep, relay: RelayDep) -> StateJson:
    return _change(
        relay, session, lambda s, now: rules.set_ringer(s, body.on, now), "ringer_changed"
    )


@router.put("/auto-pause", response_model=StateOut)
async def put_auto_pause(body: AutoPauseBody, session: SessionDep, relay: RelayDep) -> StateJson:
    """Whether Zoom meetings pause the ringer (on by default)."""
    return _change(
        relay, session, lambda s, now: rules.set_auto_pause(s, body.on, now), "auto_pause_changed"
    )


@router.put("/availability", response_model=StateOut)
async def put_availability(
    body: AvailabilityBody, session: SessionDep, relay: RelayDep
) -> StateJson:
    return _change(
        relay,
        session,
        lambda s, now: rules.set_preferred(s, body.preferred, now),
        "preferred_changed",
    )


@router.put("/override", response_model=StateOut)
async def put_override(body: OverrideBody, session: SessionDep, relay: RelayDep) -> StateJson:
    try:
        override = parse_override({"value": body.value, "until": body.until})
    except WireError as exc:
        raise ApiError(422, "invalid_value", f"The override is not valid: {exc}.") from exc
    assert override is not None
    now: datetime = relay.clock()
    if override.ends_at is not None and override.ends_at <= now:
        raise ApiError(422, "invalid_value", "The override's end time is already past.")
    if override.until == "meeting_end":
        stored = relay.store.load_state(session.account_id)
        if stored is None or not stored.state.in_meeting:
            raise ApiError(
                409,
                "not_in_meeting",
                "There is no meeting in progress to override until its end; "
                "choose an end time or 'until I clear it' instead.",
            )
    return _change(relay, session, lambda s, n: rules.set_override(s, override, n), "override_set")


@router.delete("/override", response_model=StateOut)
async def delete_override(session: SessionDep, relay: RelayDep) -> StateJson:
    return _change(
        relay, session, lambda s, now: rules.set_override(s, None, now), "override_cleared"
    )


class DeleteAccountBody(Strict):
    password: StrictStr = Field(min_length=1, max_length=1024)


@router.delete(
    "/account",
    status_code=204,
    responses={403: {"description": "wrong password"}, 429: {"description": "throttled"}},
)
async def delete_account(body: DeleteAccountBody, session: SessionDep, relay: RelayDep) -> Response:
    """Delete the account and everything of it; needs the password again."""
    from desktop.relay.sessions import require_password

    require_password(relay, session.account_id, body.password)
    await relay.before_account_deleted(session.account_id)
    relay.delete_account(session.account_id)
    return Response(status_code=204)
