"""The local Zoom's state and rules: users, OAuth grants, tokens, meetings, faults.

``ZoomSim`` decides; ``desktop.zoomsim.server`` only translates HTTP to and from
it. Every public method is safe to call from any thread. The methods that send
a webhook come in two forms: ``*_async`` for the server's own event loop, and a
plain form for other threads (tests), which runs on the server's loop and
needs the server to be running (``desktop.zoomsim.server.run_in_thread``).

Errors are raised as ``OAuthError`` (Zoom's OAuth shape ``{"reason", "error"}``),
``ZoomRestError`` (Zoom's REST shape ``{"code", "message"}``), ``AuthorizeError``
(the authorize page) or ``ControlError`` (the ``/_sim/`` control API).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import string
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from desktop.zoomsim.webhook_signing import encrypted_token
from desktop.zoomsim.webhooks import NO_URL_DETAIL, DeliveryAttempt, WebhookDispatcher

__all__ = [
    "BEHAVIOURS",
    "DEAD_GRANT_SHAPES",
    "DEFAULT_SCOPES",
    "FAULT_ENDPOINTS",
    "FAULT_MODES",
    "PRESENCE_STATUSES",
    "REST_DIALECTS",
    "AuthorizeError",
    "AuthorizeRequest",
    "ControlError",
    "Fault",
    "OAuthError",
    "SimConfig",
    "SimUser",
    "ZoomRestError",
    "ZoomSim",
    "rest_presence",
]

T = TypeVar("T")

#: The four scopes ProfitRinger asks for, granted when authorize names none.
DEFAULT_SCOPES: tuple[str, ...] = (
    "meeting:write:meeting",
    "user:read:user",
    "user:read:email",
    "user:read:presence_status",
)

#: Webhook spellings of ``presence_status`` (ZOOM.md).
PRESENCE_STATUSES: tuple[str, ...] = (
    "Available",
    "Away",
    "Do_Not_Disturb",
    "In_Meeting",
    "Presenting",
    "On_Phone_Call",
    "In_Calendar_Event",
    "Offline",
    "Busy",
    "Mobile_signed_in",
)

#: How ``GET /users/me/presence_status`` spells each webhook status, by dialect.
#: Zoom's page disagrees with itself (ZOOM.md "REST"; zoom-fixtures/oauth-rest/
#: rest.get-presence_status…): ``openapi`` is its enum, ``prose`` its prose list
#: (a live account answered ``In_A_Call``), ``self_dnd`` the branch for oneself
#: in Do Not Disturb that misspells it ``Do_No_Disturb``, ``webhook`` the
#: webhook's own words.
REST_DIALECTS: dict[str, dict[str, str]] = {
    "openapi": {"In_Meeting": "In_A_Zoom_Meeting", "On_Phone_Call": "On_A_Call"},
    "prose": {
        "In_Meeting": "In_A_Meeting",
        "On_Phone_Call": "In_A_Call",
        "In_Calendar_Event": "In_A_Calendar_Event",
    },
    "self_dnd": {
        "In_Meeting": "In_A_Zoom_Meeting",
        "On_Phone_Call": "On_A_Call",
        "Do_Not_Disturb": "Do_No_Disturb",
    },
    "webhook": {},
}

#: How the token endpoint says a refresh token is dead (ZOOM.md "OAuth" errors):
#: the documented ``invalid_grant``, an ``invalid_request`` about the token, and
#: a reason with no ``error`` field at all (seen in the field).
DEAD_GRANT_SHAPES: dict[str, tuple[int, dict[str, str]]] = {
    "invalid_grant": (400, {"reason": "Invalid Token!", "error": "invalid_grant"}),
    "invalid_request": (400, {"reason": "Invalid refresh token", "error": "invalid_request"}),
    "reason_only": (401, {"reason": "Invalid Token!"}),
}

FAULT_ENDPOINTS: tuple[str, ...] = ("token", "revoke", "meetings", "presence", "me")
#: ``answer`` sends a given status, body and headers (Zoom's published answers).
FAULT_MODES: tuple[str, ...] = ("500", "429", "timeout", "answer")

_ID_ALPHABET = string.ascii_letters + string.digits + "-_"

#: ``SimConfig`` fields the control API may change while serving, with their checks.
BEHAVIOURS: dict[str, Callable[[Any], bool]] = {
    "lowercase_webhook_ids": lambda v: isinstance(v, bool),
    "presence_time_key": lambda v: v in ("date_time", "date-time"),
    "deauthorization_shape": lambda v: v in ("recent", "docs_example"),
    "deauthorization_secret": lambda v: v is None or (isinstance(v, str) and bool(v)),
    "revoke_deauthorization_delay": lambda v: (
        v is None or (isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 86400)
    ),
    "retry_keeps_timestamp": lambda v: isinstance(v, bool),
    "reported_api_url": lambda v: v is None or isinstance(v, str),
    "dead_grant_shape": lambda v: v in DEAD_GRANT_SHAPES,
}


def rest_presence(webhook_status: str, dialect: str = "openapi") -> str:
    """The REST API's spelling of a presence the webhook spells ``webhook_status``."""
    return REST_DIALECTS[dialect].get(webhook_status, webhook_status)


def zoom_id() -> str:
    """A random 22-character id shaped like Zoom's user and account ids."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(22))


def iso_utc(timestamp: float, *, millis: bool = False) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    if millis:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class OAuthError(Exception):
    """An OAuth endpoint's error: ``{"reason": reason, "error": error}`` with ``status``
    (or exactly ``shape``, for the forms Zoom answers without an ``error``)."""

    def __init__(
        self, status: int, error: str, reason: str, shape: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.error = error
        self.reason = reason
        self._shape = dict(shape) if shape is not None else None

    def body(self) -> dict[str, Any]:
        if self._shape is not None:
            return dict(self._shape)
        return {"reason": self.reason, "error": self.error}


class ZoomRestError(Exception):
    """A REST error: ``{"code": code, "message": message}`` with HTTP ``status``."""

    def __init__(
        self, status: int, code: int, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}


class AuthorizeError(Exception):
    """The authorize request is unusable; shown to the person as a 400 page."""


class ControlError(Exception):
    """A control-API call that cannot be done; ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class SimConfig:
    """How the local Zoom behaves. Lifetimes are seconds.

    ``retry_time_scale`` multiplies Zoom's webhook retry delays (5, 20, 60
    minutes): 0.001 makes them 0.3 s, 1.2 s and 3.6 s. ``clock`` returns Unix
    seconds and drives token/code expiry, timestamps and signatures.
    ``public_url`` overrides the base URL the sim reports (``api_url``,
    ``join_url``); by default it is the URL the request came in on.
    """

    client_id: str
    client_secret: str
    webhook_secret: str
    webhook_url: str | None = None
    access_token_lifetime: int = 3599
    refresh_token_lifetime: int = 90 * 24 * 3600
    code_lifetime: int = 300
    auto_approve: bool = False
    retry_time_scale: float = 1.0
    webhook_timeout: float = 3.0
    daily_meeting_limit: int = 100
    fault_timeout: float = 30.0
    public_url: str | None = None
    #: created at start, and the one who consents when authorize names nobody ("": none)
    default_user_email: str = "demo@zoom.example"
    #: What the Marketplace app is configured with: authorize grants these.
    app_scopes: tuple[str, ...] = DEFAULT_SCOPES
    #: Webhooks carry the user id lowercased (a field report, ZOOM.md).
    lowercase_webhook_ids: bool = False
    #: ``date_time`` (the schema) or ``date-time`` (Zoom's documented example).
    presence_time_key: str = "date_time"
    #: ``recent`` (with ``event_ts``) or ``docs_example`` (Zoom's example: no
    #: top-level ``event_ts``, ``payload.event_ts`` a "2024-09-08 15:58:40" string).
    deauthorization_shape: str = "recent"
    #: Sign ``app_deauthorized`` with this instead of the Secret Token (a
    #: developer could not verify one with it, devforum June 2025).
    deauthorization_secret: str | None = None
    #: Seconds after a revoke before ``app_deauthorized`` is delivered (Zoom
    #: sends it, possibly much later); ``None``: not sent.
    revoke_deauthorization_delay: float | None = None
    #: Retries keep the first attempt's signature timestamp (Zoom does not say).
    retry_keeps_timestamp: bool = False
    #: The ``api_url`` token answers carry; ``None``: this server's own base URL.
    reported_api_url: str | None = None
    #: How a dead refresh token is answered (a key of ``DEAD_GRANT_SHAPES``).
    dead_grant_shape: str = "invalid_grant"
    clock: Callable[[], float] = field(default=time.time, repr=False)


@dataclass
class SimUser:
    id: str
    email: str
    first_name: str
    last_name: str
    account_id: str
    presence: str = "Available"
    timezone: str = "UTC"
    type: int = 1
    #: How REST spells this user's presence (a key of ``REST_DIALECTS``).
    rest_dialect: str = "openapi"
    #: An exact word REST answers instead, whatever the presence (any spelling).
    rest_status: str | None = None

    def profile(self) -> dict[str, Any]:
        """``GET /v2/users/me``'s answer."""
        return {
            "id": self.id,
            "email": self.email,
            "account_id": self.account_id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "display_name": f"{self.first_name} {self.last_name}".strip(),
            "type": self.type,
            "timezone": self.timezone,
            "status": "active",
            "role_name": "Member",
            "language": "en-US",
        }


@dataclass
class AuthorizeRequest:
    """A validated authorize request, waiting for Allow/Deny unless auto-approved."""

    id: str
    redirect_uri: str
    state: str | None
    code_challenge: str | None
    code_challenge_method: str
    scopes: tuple[str, ...]
    user_id: str


@dataclass
class _AuthCode:
    redirect_uri: str
    code_challenge: str | None
    code_challenge_method: str
    scopes: tuple[str, ...]
    user_id: str
    expires_at: float
    used: bool = False


@dataclass
class _Token:
    kind: str  # "access" | "refresh"
    grant_id: str
    user_id: str
    scopes: tuple[str, ...]
    expires_at: float
    revoked: bool = False


@dataclass
class Fault:
    mode: str
    remaining: int
    #: For ``answer``: the status, JSON body and headers to send.
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def add_query(url: str, params: Mapping[str, str | None]) -> str:
    """``url`` with ``params`` (those not None) appended to its query."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query.extend((k, v) for k, v in params.items() if v is not None)
    return urlunsplit(parts._replace(query=urlencode(query)))


class ZoomSim:
    """The local Zoom's memory and rules. Thread-safe."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self._lock = threading.RLock()
        self._users: dict[str, SimUser] = {}
        self._pending: dict[str, AuthorizeRequest] = {}
        self._codes: dict[str, _AuthCode] = {}
        self._tokens: dict[str, _Token] = {}
        self._issued: list[tuple[str, str]] = []  # (kind, value), in issue order
        self._meetings: list[dict[str, Any]] = []
        self._meetings_per_day: dict[tuple[str, str], int] = {}
        self._faults: dict[str, Fault] = {}
        self._presence_reads: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self.webhooks = WebhookDispatcher(
            secret=config.webhook_secret,
            client_id=config.client_id,
            webhook_url=lambda: self.config.webhook_url,
            clock=config.clock,
            retry_time_scale=config.retry_time_scale,
            timeout=config.webhook_timeout,
            keep_first_timestamp=lambda: self.config.retry_keeps_timestamp,
        )
        if config.default_user_email:
            self.add_user(config.default_user_email, "Demo", "User")

    # -- lifecycle (called by the server's lifespan) ---------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        await self.webhooks.start()

    async def aclose(self) -> None:
        if self._stopping is not None:
            self._stopping.set()
        await self.webhooks.aclose()
        self._loop = None

    def wake_stalled_requests(self) -> None:
        """End any request a ``timeout`` fault is holding (called before shutdown)."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)

    async def stall(self) -> None:
        """Hold a request for ``fault_timeout`` seconds, or until the sim stops."""
        stopping = self._stopping or asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), self.config.fault_timeout)

    def _now(self) -> float:
        return self.config.clock()

    def _on_loop(self, make: Callable[[], Coroutine[Any, Any, T]], timeout: float = 30.0) -> T:
        loop = self._loop
        if loop is None or loop.is_closed():
            raise ControlError(
                503, "The local Zoom's server is not running; start it with run_in_thread()."
            )
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            raise RuntimeError("inside the server's loop, call the *_async method instead")
        return asyncio.run_coroutine_threadsafe(make(), loop).result(timeout)

    # -- users -----------------------------------------------------------------

    def add_user(
        self,
        email: str,
        first_name: str | None = None,
        last_name: str | None = None,
        presence: str = "Available",
        user_id: str | None = None,
    ) -> SimUser:
        """Create a Zoom user. The email (and ``user_id``, if given) must be new."""
        email = email.strip()
        if "@" not in email or len(email) > 254:
            raise ControlError(400, f"{email!r} is not an email address.")
        self._check_presence(presence)
        local = email.split("@", 1)[0]
        with self._lock:
            if any(u.email.lower() == email.lower() for u in self._users.values()):
                raise ControlError(409, f"A user with the email {email} already exists.")
            if user_id is not None and (not user_id or user_id in self._users):
                raise ControlError(409, f"A user with the id {user_id!r} already exists.")
            account = next(iter(self._users.values())).account_id if self._users else zoom_id()
            user = SimUser(
                id=user_id or zoom_id(),
                email=email,
                first_name=first_name if first_name is not None else local.capitalize(),
                last_name=last_name if last_name is not None else "Example",
                account_id=account,
                presence=presence,
            )
            self._users[user.id] = user
            return user

    def find_user(self, ref: str) -> SimUser:
        """The user whose id or email (any case) is ``ref``."""
        with self._lock:
            if ref in self._users:
                return self._users[ref]
            for user in self._users.values():
                if user.email.lower() == ref.lower():
                    return user
        raise ControlError(404, f"There is no Zoom user {ref!r}; list them with GET /_sim/users.")

    def default_user(self) -> SimUser:
        """The first user; one is created (``config.default_user_email``) if there is none."""
        with self._lock:
            if not self._users:
                return self.add_user(self.config.default_user_email or "demo@zoom.example")
            return next(iter(self._users.values()))

    def users(self) -> list[dict[str, Any]]:
        """Every user with their presence (both spellings) and whether they authorized the app."""
        with self._lock:
            now = self._now()
            live_users = {
                t.user_id
                for t in self._tokens.values()
                if t.kind == "refresh" and not t.revoked and t.expires_at > now
            }
            return [
                {
                    **user.profile(),
                    "presence_status": user.presence,
                    "rest_presence_status": self._rest_word(user),
                    "authorized": user.id in live_users,
                }
                for user in self._users.values()
            ]

    @staticmethod
    def _rest_word(user: SimUser) -> str:
        return user.rest_status or rest_presence(user.presence, user.rest_dialect)

    def set_rest_presence(
        self, user_ref: str, dialect: str | None = None, status: str | None = None
    ) -> SimUser:
        """Choose how REST answers this user's presence: a dialect, or an exact word
        (``status``; ``""`` clears it). Sends no webhook."""
        if dialect is not None and dialect not in REST_DIALECTS:
            raise ControlError(400, "dialect must be one of " + ", ".join(REST_DIALECTS))
        if status is not None and len(status) > 64:
            raise ControlError(400, "status must be at most 64 characters.")
        user = self.find_user(user_ref)
        with self._lock:
            if dialect is not None:
                user.rest_dialect = dialect
            if status is not None:
                user.rest_status = status or None
        return user

    @staticmethod
    def _check_presence(status: str) -> None:
        if status not in PRESENCE_STATUSES:
            raise ControlError(
                400,
                f"{status!r} is not a Zoom presence; use one of " + ", ".join(PRESENCE_STATUSES),
            )

    # -- authorize -------------------------------------------------------------

    def start_authorization(self, params: Mapping[str, str]) -> AuthorizeRequest:
        """Check ``GET /oauth/authorize``'s query; raise ``AuthorizeError`` if unusable."""
        if params.get("response_type") != "code":
            raise AuthorizeError("response_type must be 'code'.")
        client_id = params.get("client_id", "")
        if not hmac.compare_digest(client_id.encode(), self.config.client_id.encode()):
            raise AuthorizeError("Invalid client_id: this app is not known to the local Zoom.")
        redirect_uri = params.get("redirect_uri", "")
        parts = urlsplit(redirect_uri)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise AuthorizeError("redirect_uri must be an absolute http(s) URL.")
        challenge = params.get("code_challenge") or None
        method = params.get("code_challenge_method") or "plain"
        if method not in ("S256", "plain"):
            raise AuthorizeError("code_challenge_method must be S256 or plain.")
        if challenge is None and params.get("code_challenge_method"):
            raise AuthorizeError("code_challenge_method was given without code_challenge.")
        requested = params.get("scope", "").replace(",", " ").split()
        scopes = tuple(dict.fromkeys(requested)) or self.config.app_scopes
        unknown = [s for s in scopes if s not in self.config.app_scopes]
        if unknown:
            raise AuthorizeError("Invalid scope: this app has no scope " + ", ".join(unknown) + ".")
        hint = params.get("login_hint") or params.get("user")
        try:
            user = self.find_user(hint) if hint else self.default_user()
        except ControlError as exc:
            raise AuthorizeError(exc.message) from None
        request = AuthorizeRequest(
            id=secrets.token_urlsafe(16),
            redirect_uri=redirect_uri,
            state=params.get("state"),
            code_challenge=challenge,
            code_challenge_method=method,
            scopes=scopes,
            user_id=user.id,
        )
        with self._lock:
            self._pending[request.id] = request
        return request

    def pending_authorization(self, request_id: str) -> AuthorizeRequest:
        with self._lock:
            request = self._pending.get(request_id)
        if request is None:
            raise AuthorizeError("This authorization request is unknown or already answered.")
        return request

    def decide(self, request_id: str, allow: bool) -> str:
        """Answer a pending authorize request; returns the URL to redirect the browser to."""
        with self._lock:
            request = self._pending.pop(request_id, None)
        if request is None:
            raise AuthorizeError("This authorization request is unknown or already answered.")
        if not allow:
            return add_query(
                request.redirect_uri, {"error": "access_denied", "state": request.state}
            )
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = _AuthCode(
                redirect_uri=request.redirect_uri,
                code_challenge=request.code_challenge,
                code_challenge_method=request.code_challenge_method,
                scopes=request.scopes,
                user_id=request.user_id,
                expires_at=self._now() + self.config.code_lifetime,
            )
            self._issued.append(("code", code))
        return add_query(request.redirect_uri, {"code": code, "state": request.state})

    # -- token endpoint --------------------------------------------------------

    def check_client(self, authorization: str | None) -> None:
        """Check ``Authorization: Basic base64(client_id:client_secret)``."""
        bad = OAuthError(401, "invalid_client", "Invalid client_id or client_secret")
        if not authorization or not authorization.lower().startswith("basic "):
            raise bad
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise bad from None
        client_id, sep, client_secret = decoded.partition(":")
        ok_id = hmac.compare_digest(client_id.encode(), self.config.client_id.encode())
        ok_secret = hmac.compare_digest(client_secret.encode(), self.config.client_secret.encode())
        if not (sep and ok_id and ok_secret):
            raise bad

    def token(self, form: Mapping[str, str], base_url: str) -> dict[str, Any]:
        """``POST /oauth/token`` after the client is checked."""
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._exchange_code(form, base_url)
        if grant_type == "refresh_token":
            return self._refresh(form, base_url)
        raise OAuthError(400, "unsupported_grant_type", "Unsupported grant type")

    def _exchange_code(self, form: Mapping[str, str], base_url: str) -> dict[str, Any]:
        code_value = form.get("code")
        if not code_value:
            raise OAuthError(400, "invalid_request", "Missing code")
        with self._lock:
            code = self._codes.get(code_value)
            if code is None:
                raise OAuthError(400, "invalid_grant", "Invalid authorization code")
            if code.used:
                raise OAuthError(400, "invalid_grant", "Authorization code has been used")
            if self._now() >= code.expires_at:
                raise OAuthError(400, "invalid_grant", "Authorization code has expired")
            code.used = True  # single use, even when the rest of the request is wrong
            if form.get("redirect_uri") != code.redirect_uri:
                raise OAuthError(400, "invalid_request", "Redirect URI mismatch.")
            if code.code_challenge is not None:
                verifier = form.get("code_verifier", "")
                if code.code_challenge_method == "S256":
                    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
                    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
                else:
                    expected = verifier
                if not verifier or not hmac.compare_digest(expected, code.code_challenge):
                    raise OAuthError(400, "invalid_grant", "Invalid code_verifier")
            # One valid grant per user and app (ZOOM.md "OAuth"): authorizing
            # again kills every earlier token of that user.
            self._revoke_where(lambda t: t.user_id == code.user_id)
            return self._issue_pair(secrets.token_hex(8), code.user_id, code.scopes, base_url)

    def _refresh(self, form: Mapping[str, str], base_url: str) -> dict[str, Any]:
        value = form.get("refresh_token")
        if not value:
            raise OAuthError(400, "invalid_request", "Missing refresh_token")
        with self._lock:
            old = self._tokens.get(value)
            if old is None or old.kind != "refresh" or old.revoked or self._now() >= old.expires_at:
                status, body = DEAD_GRANT_SHAPES[self.config.dead_grant_shape]
                raise OAuthError(status, body.get("error", ""), body["reason"], body)
            old.revoked = True  # rotation: the old refresh token stops working
            return self._issue_pair(old.grant_id, old.user_id, old.scopes, base_url)

    def _issue_pair(
        self, grant_id: str, user_id: str, scopes: tuple[str, ...], base_url: str
    ) -> dict[str, Any]:
        now = self._now()
        access = secrets.token_urlsafe(48)
        refresh = secrets.token_urlsafe(48)
        self._tokens[access] = _Token(
            "access", grant_id, user_id, scopes, now + self.config.access_token_lifetime
        )
        self._tokens[refresh] = _Token(
            "refresh", grant_id, user_id, scopes, now + self.config.refresh_token_lifetime
        )
        self._issued += [("access", access), ("refresh", refresh)]
        return {
            "access_token": access,
            "token_type": "bearer",
            "refresh_token": refresh,
            "expires_in": self.config.access_token_lifetime,
            "scope": " ".join(scopes),
            "api_url": self.config.reported_api_url or self.base_url(base_url),
        }

    def revoke(self, form: Mapping[str, str]) -> dict[str, Any]:
        """``POST /oauth/revoke``: end the token's whole grant (access and refresh).

        Revoking uninstalls the app for the user, so Zoom later sends
        ``app_deauthorized`` (ZOOM.md): after ``revoke_deauthorization_delay``
        seconds, dated at the revoke. An unknown token is answered with success
        too, as RFC 7009 asks. Call it on the server's loop.
        """
        value = form.get("token")
        if not value:
            raise OAuthError(400, "invalid_request", "Missing token")
        with self._lock:
            token = self._tokens.get(value)
            if token is not None and not token.revoked:
                self._revoke_where(lambda t: t.grant_id == token.grant_id)
                self._notice_later(token.user_id)
        return {"status": "success"}

    def _notice_later(self, user_id: str) -> None:
        delay = self.config.revoke_deauthorization_delay
        user = self._users.get(user_id)
        if delay is None or user is None:
            return
        event = self._deauthorization(user, self._now())
        loop = self._loop
        if loop is not None and not loop.is_closed():
            secret = self._deauthorization_secret()
            loop.call_soon_threadsafe(self.webhooks.deliver_later, event, delay, secret)

    def _revoke_where(self, predicate: Callable[[_Token], bool]) -> int:
        count = 0
        for token in self._tokens.values():
            if not token.revoked and predicate(token):
                token.revoked = True
                count += 1
        return count

    def base_url(self, request_base: str) -> str:
        return (self.config.public_url or request_base).rstrip("/")

    # -- REST ------------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> tuple[SimUser, tuple[str, ...]]:
        """The user and scopes behind ``Authorization: Bearer <access token>``."""
        invalid = ZoomRestError(401, 124, "Invalid access token.")
        if not authorization or not authorization.lower().startswith("bearer "):
            raise invalid
        with self._lock:
            token = self._tokens.get(authorization[7:].strip())
            if token is None or token.kind != "access" or token.revoked:
                raise invalid
            if self._now() >= token.expires_at:
                raise ZoomRestError(401, 124, "Access token is expired.")
            return self._users[token.user_id], token.scopes

    @staticmethod
    def require_scope(scopes: tuple[str, ...], scope: str) -> None:
        if scope not in scopes:
            raise ZoomRestError(
                400, 4711, f"Invalid access token, does not contain scopes:[{scope}]."
            )

    def me(self, authorization: str | None) -> dict[str, Any]:
        user, scopes = self.authenticate(authorization)
        self.require_scope(scopes, "user:read:user")
        return user.profile()

    def _same_user(self, user: SimUser, ref: str) -> None:
        if ref not in ("me", user.id) and ref.lower() != user.email.lower():
            raise ZoomRestError(404, 1001, f"User does not exist: {ref}.")

    def presence_status(self, authorization: str | None, user_ref: str) -> dict[str, Any]:
        user, scopes = self.authenticate(authorization)
        self.require_scope(scopes, "user:read:presence_status")
        self._same_user(user, user_ref)
        with self._lock:
            self._presence_reads.append(user_ref)
            return {"status": self._rest_word(user)}

    def presence_reads(self) -> list[str]:
        """The ``{userId}`` of every answered ``GET /v2/users/{userId}/presence_status``."""
        with self._lock:
            return list(self._presence_reads)

    def create_meeting(
        self, authorization: str | None, user_ref: str, body: Mapping[str, Any], base_url: str
    ) -> dict[str, Any]:
        """``POST /v2/users/{userId}/meetings``; every body field is optional."""
        user, scopes = self.authenticate(authorization)
        self.require_scope(scopes, "meeting:write:meeting")
        self._same_user(user, user_ref)
        topic = body.get("topic", "Zoom meeting")
        duration = body.get("duration", 60)
        meeting_type = body.get("type", 2)
        if not isinstance(topic, str) or len(topic) > 200:
            raise ZoomRestError(400, 300, "Invalid field: topic must be a string of at most 200.")
        if not isinstance(duration, int) or isinstance(duration, bool) or duration < 0:
            raise ZoomRestError(
                400, 300, "Invalid field: duration must be a whole number of minutes."
            )
        if meeting_type not in (1, 2, 3, 8, 10):
            raise ZoomRestError(400, 300, "Invalid field: type.")
        now = self._now()
        with self._lock:
            day = (user.id, iso_utc(now)[:10])
            if self._meetings_per_day.get(day, 0) >= self.config.daily_meeting_limit:
                # Zoom documents Retry-After as an ISO date-time (ZOOM.md "REST").
                midnight = (int(now) // 86400 + 1) * 86400
                raise ZoomRestError(
                    429,
                    429,
                    "You have exceeded the daily rate limit of "
                    f"{self.config.daily_meeting_limit} meeting create/update API requests "
                    "permitted for this particular user. You may resume these requests at "
                    "GMT 00:00:00.",
                    {"Retry-After": iso_utc(midnight)},
                )
            self._meetings_per_day[day] = self._meetings_per_day.get(day, 0) + 1
            meeting_id = 10_000_000_000 + secrets.randbelow(89_999_999_999)
            password = "".join(
                secrets.choice(string.ascii_letters + string.digits) for _ in range(8)
            )
            base = self.base_url(base_url)
            start_time = body.get("start_time")
            meeting = {
                "id": meeting_id,
                "uuid": base64.b64encode(secrets.token_bytes(16)).decode("ascii"),
                "host_id": user.id,
                "host_email": user.email,
                "topic": topic,
                "type": meeting_type,
                "status": "waiting",
                "start_time": start_time if isinstance(start_time, str) else iso_utc(now),
                "duration": duration,
                "timezone": body.get("timezone") or user.timezone,
                "agenda": body.get("agenda", ""),
                "created_at": iso_utc(now),
                "start_url": f"{base}/s/{meeting_id}?zak={secrets.token_urlsafe(32)}",
                "join_url": f"{base}/j/{meeting_id}?pwd={secrets.token_urlsafe(24)}",
                "password": password,
                "settings": dict(body.get("settings") or {}),
            }
            self._meetings.append(meeting)
            return dict(meeting)

    def meetings(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(m) for m in self._meetings]

    # -- faults ----------------------------------------------------------------

    def inject_fault(
        self,
        endpoint: str,
        mode: str,
        count: int = 1,
        *,
        status: int = 200,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Make the next ``count`` calls to ``endpoint`` fail as ``mode``; ``answer``
        sends ``status`` with the JSON ``body`` and ``headers`` instead."""
        if endpoint not in FAULT_ENDPOINTS:
            raise ControlError(400, "endpoint must be one of " + ", ".join(FAULT_ENDPOINTS))
        if mode not in FAULT_MODES:
            raise ControlError(400, "mode must be one of " + ", ".join(FAULT_MODES))
        if count < 0:
            raise ControlError(400, "count must not be negative")
        if mode == "answer" and not 200 <= status <= 599:
            raise ControlError(400, "status must be an HTTP status between 200 and 599")
        with self._lock:
            if count == 0:
                self._faults.pop(endpoint, None)
            else:
                self._faults[endpoint] = Fault(mode, count, status, body, dict(headers or {}))

    def take_fault(self, endpoint: str) -> Fault | None:
        """The failure the current call to ``endpoint`` must show, if any."""
        with self._lock:
            fault = self._faults.get(endpoint)
            if fault is None:
                return None
            fault.remaining -= 1
            if fault.remaining <= 0:
                del self._faults[endpoint]
            return fault

    def faults(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {k: {"mode": f.mode, "remaining": f.remaining} for k, f in self._faults.items()}

    # -- control: tokens -------------------------------------------------------

    def invalidate_tokens(self, user_ref: str) -> int:
        """Kill every access and refresh token of the user; returns how many."""
        user = self.find_user(user_ref)
        with self._lock:
            return self._revoke_where(lambda t: t.user_id == user.id)

    def expire_access_tokens(self, user_ref: str) -> int:
        """Make the user's access tokens expired now (refresh tokens keep working)."""
        user = self.find_user(user_ref)
        now = self._now()
        count = 0
        with self._lock:
            for token in self._tokens.values():
                if token.user_id == user.id and token.kind == "access" and token.expires_at > now:
                    token.expires_at = now
                    count += 1
        return count

    def issued_tokens(self) -> dict[str, list[str]]:
        """Every access token, refresh token and authorization code ever issued."""
        with self._lock:
            issued = list(self._issued)
        return {
            "access_tokens": [v for k, v in issued if k == "access"],
            "refresh_tokens": [v for k, v in issued if k == "refresh"],
            "codes": [v for k, v in issued if k == "code"],
        }

    def configure(self, changes: Mapping[str, Any]) -> None:
        """Change behaviours while serving (``BEHAVIOURS``, ``app_scopes``); all or nothing."""
        for name, value in changes.items():
            if name == "app_scopes":
                if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
                    raise ControlError(400, "app_scopes must be a list of strings.")
            elif name not in BEHAVIOURS:
                raise ControlError(400, f"{name!r} is not a setting of the local Zoom.")
            elif not BEHAVIOURS[name](value):
                raise ControlError(400, f"{value!r} is not a valid {name}.")
        for name, value in changes.items():
            setattr(self.config, name, tuple(value) if name == "app_scopes" else value)

    def set_webhook_url(self, url: str | None) -> None:
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ControlError(400, "webhook_url must be an absolute http(s) URL or null.")
        self.config.webhook_url = url

    # -- control: webhooks -----------------------------------------------------

    def _presence_event(self, user_ref: str, status: str) -> dict[str, Any]:
        self._check_presence(status)
        user = self.find_user(user_ref)
        now = self._now()
        with self._lock:
            user.presence = status
        subject: dict[str, Any] = {
            self.config.presence_time_key: iso_utc(now),
            "email": user.email,
            "id": user.id.lower() if self.config.lowercase_webhook_ids else user.id,
            "presence_status": status,
            # Zoom's schema: which app changed, with its own status (ZOOM.md).
            "app": {"type": "desktop", "presence_status": status},
        }
        return {
            "event": "user.presence_status_updated",
            "event_ts": int(now * 1000),
            "payload": {"account_id": user.account_id, "object": subject},
        }

    async def set_presence_async(self, user_ref: str, status: str) -> DeliveryAttempt:
        """Set presence (webhook spelling) and deliver ``user.presence_status_updated``.

        Returns the first delivery attempt; failures are retried in the background.
        """
        return await self.webhooks.deliver(self._presence_event(user_ref, status))

    def set_presence(self, user_ref: str, status: str) -> DeliveryAttempt:
        """``set_presence_async`` from another thread (needs the server running)."""
        self._check_presence(status)
        self.find_user(user_ref)
        if self._loop is None and self.config.webhook_url is None:
            event = self._presence_event(user_ref, status)
            return DeliveryAttempt(
                secrets.token_hex(8), event["event"], 0, None, None, NO_URL_DETAIL, self._now()
            )
        return self._on_loop(lambda: self.set_presence_async(user_ref, status))

    def _deauthorize_event(self, user_ref: str) -> dict[str, Any]:
        user = self.find_user(user_ref)
        now = self._now()
        with self._lock:
            self._revoke_where(lambda t: t.user_id == user.id)
        return self._deauthorization(user, now)

    def _deauthorization(self, user: SimUser, at: float) -> dict[str, Any]:
        """``app_deauthorized`` for ``user``, removed at ``at``, in the configured shape."""
        event_ts = int(at * 1000)
        payload: dict[str, Any] = {
            "account_id": user.account_id,
            "user_id": user.id.lower() if self.config.lowercase_webhook_ids else user.id,
            "signature": secrets.token_hex(32),
            "deauthorization_time": iso_utc(at, millis=True),
            "client_id": self.config.client_id,
        }
        if self.config.deauthorization_shape == "docs_example":
            # As Zoom's documentation publishes it: no top-level event_ts, and
            # payload.event_ts a string although its schema says number.
            payload["event_ts"] = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")
            return {"event": "app_deauthorized", "payload": payload}
        payload.update(event_ts=event_ts, user_data_retention=None)
        return {"event": "app_deauthorized", "event_ts": event_ts, "payload": payload}

    def _deauthorization_secret(self) -> str | None:
        return self.config.deauthorization_secret

    async def deauthorize_async(self, user_ref: str) -> DeliveryAttempt:
        """Remove the app for the user: revoke their tokens, deliver ``app_deauthorized``."""
        return await self.webhooks.deliver(
            self._deauthorize_event(user_ref), self._deauthorization_secret()
        )

    def deauthorize(self, user_ref: str) -> DeliveryAttempt:
        self.find_user(user_ref)
        return self._on_loop(lambda: self.deauthorize_async(user_ref))

    async def validate_endpoint_async(self) -> dict[str, Any]:
        """Send ``endpoint.url_validation`` and check the answer's ``encryptedToken``."""
        plain = secrets.token_urlsafe(16)
        event = {
            "payload": {"plainToken": plain},
            "event_ts": int(self._now() * 1000),
            "event": "endpoint.url_validation",
        }
        attempt = await self.webhooks.send_once(event)
        result: dict[str, Any] = {"ok": False, "status": attempt.status}
        if attempt.status is None:
            result["detail"] = attempt.error
            return result
        if attempt.status != 200:
            result["detail"] = f"the endpoint answered HTTP {attempt.status}, not 200"
            return result
        try:
            answer = json.loads(attempt.response_body)
        except ValueError:
            result["detail"] = "the endpoint's answer is not JSON"
            return result
        if not isinstance(answer, dict):
            result["detail"] = "the endpoint's answer is not a JSON object"
        elif answer.get("plainToken") != plain:
            result["detail"] = "the answer's plainToken is not the one sent"
        elif not hmac.compare_digest(
            str(answer.get("encryptedToken", "")),
            encrypted_token(self.config.webhook_secret, plain),
        ):
            result["detail"] = "the answer's encryptedToken is wrong (check the Secret Token)"
        else:
            result["ok"] = True
            result["detail"] = "the endpoint answered the validation correctly"
        return result

    def validate_endpoint(self) -> dict[str, Any]:
        return self._on_loop(self.validate_endpoint_async)

    def release_held(self, newest_first: bool = False) -> list[DeliveryAttempt]:
        """Send the held-back deliveries (``webhooks.hold()``) from another thread."""
        return self._on_loop(lambda: self.webhooks.release(newest_first))

    def deliveries(self) -> list[dict[str, Any]]:
        return [a.as_json() for a in self.webhooks.attempts()]

    def pending_deliveries(self) -> int:
        return self.webhooks.pending()
