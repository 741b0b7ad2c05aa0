"""The relay's REST API as an async Python client (httpx), with one error type.

httpx is imported at the first request, not with this module: the tray's first
paint and its live socket need only the address helpers below (standard
library), and httpx with its dependencies is several MiB of resident memory.

Every failure a caller can meet — the relay unreachable, a refused request, a
session that ended, an answer that is not what the wire contract promises —
arrives as :class:`RelayError` whose ``message`` a person can read and act on.
A token or password never appears in an error or a log line.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import SplitResult, urlsplit

from desktop.core.wire import StateDocument, WireError, iso, parse_error_body

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

DEFAULT_BACKEND: Final = "http://127.0.0.1:8765"

#: ``RelayError.code`` when no answer came back at all.
UNREACHABLE: Final = "unreachable"
#: ``RelayError.code`` when an answer came back but is not what the contract says.
BAD_RESPONSE: Final = "bad_response"

OverrideUntil = Literal["meeting_end", "manual"] | datetime


class RelayError(Exception):
    """A request to the relay failed; ``message`` says what to do, for a person.

    ``code`` is the relay's snake_case error code, or :data:`UNREACHABLE` /
    :data:`BAD_RESPONSE`; ``status`` is the HTTP status, ``None`` without one.
    """

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    @property
    def unreachable(self) -> bool:
        return self.code == UNREACHABLE

    @property
    def session_gone(self) -> bool:
        """The token no longer works: the person must sign in again."""
        return self.status == 401 and self.code != "invalid_credentials"

    def __repr__(self) -> str:
        return f"RelayError({self.code!r}, {self.message!r}, {self.status!r})"


@dataclass(frozen=True)
class SignedInAccount:
    id: str
    email: str


@dataclass(frozen=True)
class MeetingLink:
    join_url: str
    topic: str
    id: str | None = None
    start_time: str | None = None


def normalize_backend_url(url: str) -> str:
    """``http(s)://host[:port]`` without a trailing slash; raises ``ValueError``.

    The scheme is matched in any case (``HTTPS://`` is ``https://``). Without
    one, the address gets ``https://``, because the password and the session
    token travel over it; only a loopback address, which never leaves this
    machine, gets ``http://`` (a relay on this computer serves plain http).
    """
    url = url.strip()
    if not url:
        raise ValueError("Enter the backend address, for example https://relay.example.com.")
    scheme, separator, rest = url.partition("://")
    if not separator:
        scheme, rest = ("http" if _is_loopback(_host_of(url)) else "https"), url
    url = f"{scheme.lower()}://{rest}"
    parsed = _parse_url(url)
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(
            f"'{redact_url(url)}' is not a web address; use one like https://relay.example.com."
        )
    return url.rstrip("/")


#: What no host name contains (besides control characters and spaces).
_NOT_IN_HOST = re.compile(r"[\s<>\"{}|\\^`%]")


def _parse_url(url: str) -> SplitResult | None:
    """``url`` split into its parts, or ``None`` when it is not a usable address:
    a control character or space anywhere, a port that is not a number from
    0 to 65535, unbalanced IPv6 brackets, or a character no host name has."""
    if any(ord(char) < 0x21 or ord(char) == 0x7F for char in url):
        return None
    try:
        parsed = urlsplit(url)
        parsed.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return None
    if parsed.hostname and _NOT_IN_HOST.search(parsed.hostname):
        return None
    return parsed


def _host_of(address: str) -> str:
    """The host of ``host[:port][/path]`` typed without a scheme (best effort)."""
    parsed = _parse_url("//" + address)
    return (parsed.hostname or "") if parsed is not None else ""


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plain_http_risk(url: str) -> str | None:
    """The warning for a backend reached over plain http from another machine,
    or ``None`` when the connection is encrypted or never leaves this one."""
    normalized = normalize_backend_url(url)
    parsed = urlsplit(normalized)
    if parsed.scheme != "http" or _is_loopback(parsed.hostname or ""):
        return None
    return (
        f"{redact_url(normalized)} is not encrypted (http, not https). Your "
        "ProfitRinger password and session token would cross the network in the clear: "
        "anyone on the way (the Wi-Fi, a proxy, the network provider) could read them, "
        "sign in as you, change your availability and create Zoom meetings in your name. "
        "Use an https:// address unless you trust every network between here and the relay."
    )


_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]*@")


def redact_url(text: str) -> str:
    """``text`` with the ``user:password@`` of every URL in it replaced by ``***@``."""
    return _USERINFO.sub(r"\1***@", text)


def live_url(base_url: str) -> str:
    """The live socket address for a backend: ws(s)://…/api/v1/live."""
    base = normalize_backend_url(base_url)
    scheme, _, rest = base.partition("://")
    return ("wss" if scheme == "https" else "ws") + "://" + rest + "/api/v1/live"


class RelayClient:
    """Talks to one relay. ``token`` is set by :meth:`sign_in` or by the caller.

    A fresh connection pool per request keeps the client free of any event-loop
    binding; a tray makes a request every few minutes at most. ``transport``
    lets tests put an ``httpx.MockTransport`` in place of the network.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = normalize_backend_url(base_url)
        self.token = token
        self._timeout = timeout
        self._transport = transport

    @property
    def live_url(self) -> str:
        return live_url(self.base_url)

    @property
    def shown_url(self) -> str:
        """The backend address as messages show it: without any ``user:password@``."""
        return redact_url(self.base_url)

    async def _request(
        self, method: str, path: str, json: dict[str, Any] | None = None, *, auth: bool = True
    ) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if auth:
            if not self.token:
                raise RelayError("signed_out", "You are signed out; sign in first.", 401)
            headers["Authorization"] = f"Bearer {self.token}"
        import httpx  # here, not at the top: see the module's docstring

        try:
            async with httpx.AsyncClient(
                base_url=self.base_url, timeout=self._timeout, transport=self._transport
            ) as http:
                response = await http.request(method, path, json=json, headers=headers)
        except httpx.TimeoutException as exc:
            raise RelayError(
                UNREACHABLE,
                f"The backend at {self.shown_url} did not answer in time. "
                "Check the address and your network, then try again.",
            ) from exc
        except httpx.HTTPError as exc:
            raise RelayError(
                UNREACHABLE,
                f"Cannot reach the backend at {self.shown_url}. "
                "Check the address and your network, then try again.",
            ) from exc
        if response.status_code >= 400:
            raise self._error_from(response)
        return response

    def _error_from(self, response: httpx.Response) -> RelayError:
        status = response.status_code
        try:
            parsed = parse_error_body(response.json())
        except ValueError:
            parsed = None
        if parsed is not None:
            code, message = parsed
            log.info("relay refused %s: %s (%d)", response.request.url.path, code, status)
            return RelayError(code, message, status)
        if status == 401:
            return RelayError("session_expired", "Your session has ended; sign in again.", 401)
        if status >= 500:
            message = f"The backend had a problem (HTTP {status}); try again in a moment."
        else:
            message = (
                f"The backend refused the request (HTTP {status}). "
                f"Is {self.shown_url} a ProfitRinger backend?"
            )
        return RelayError(BAD_RESPONSE, message, status)

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError as exc:
            raise RelayError(
                BAD_RESPONSE,
                f"The backend at {self.shown_url} sent an answer that is not JSON. "
                "Is this a ProfitRinger backend?",
                response.status_code,
            ) from exc
        if not isinstance(body, dict):
            raise RelayError(
                BAD_RESPONSE, "The backend sent an unexpected answer.", response.status_code
            )
        return body

    def _state(self, response: httpx.Response) -> StateDocument:
        try:
            return StateDocument.from_json(self._json(response))
        except WireError as exc:
            raise RelayError(
                BAD_RESPONSE,
                f"The backend sent a state this app does not understand ({exc}). "
                "The app or the backend may need an update.",
                response.status_code,
            ) from exc

    async def sign_in(
        self, email: str, password: str, device_name: str
    ) -> tuple[str, SignedInAccount]:
        """Start a session; remembers and returns its token and the account."""
        response = await self._request(
            "POST",
            "/api/v1/sessions",
            {"email": email, "password": password, "device_name": device_name},
            auth=False,
        )
        body = self._json(response)
        token, account = body.get("token"), body.get("account")
        if (
            not isinstance(token, str)
            or not isinstance(account, dict)
            or not isinstance(account.get("id"), str)
            or not isinstance(account.get("email"), str)
        ):
            raise RelayError(BAD_RESPONSE, "The backend sent an unexpected sign-in answer.")
        self.token = token
        return token, SignedInAccount(account["id"], account["email"])

    async def sign_out(self) -> None:
        """End the session at the relay; the token stops working at once."""
        try:
            await self._request("DELETE", "/api/v1/sessions/current")
        finally:
            self.token = None

    async def get_state(self) -> StateDocument:
        return self._state(await self._request("GET", "/api/v1/state"))

    async def set_ringer(self, on: bool) -> StateDocument:
        return self._state(await self._request("PUT", "/api/v1/ringer", {"on": on}))

    async def set_auto_pause(self, on: bool) -> StateDocument:
        return self._state(await self._request("PUT", "/api/v1/auto-pause", {"on": on}))

    async def set_preferred(self, preferred: str) -> StateDocument:
        return self._state(
            await self._request("PUT", "/api/v1/availability", {"preferred": preferred})
        )

    async def set_override(self, value: str, until: OverrideUntil) -> StateDocument:
        """``until`` is ``"meeting_end"``, ``"manual"`` or an aware datetime."""
        wire_until = iso(until) if isinstance(until, datetime) else until
        return self._state(
            await self._request("PUT", "/api/v1/override", {"value": value, "until": wire_until})
        )

    async def clear_override(self) -> StateDocument:
        return self._state(await self._request("DELETE", "/api/v1/override"))

    async def connect_zoom(self) -> str:
        """Start connecting Zoom; returns the authorize URL to open in a browser."""
        body = self._json(await self._request("POST", "/api/v1/integrations/zoom/connect"))
        url = body.get("authorize_url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise RelayError(BAD_RESPONSE, "The backend sent no Zoom sign-in address.")
        return url

    async def disconnect_zoom(self) -> StateDocument:
        return self._state(await self._request("DELETE", "/api/v1/integrations/zoom"))

    async def create_meeting(
        self,
        topic: str,
        start_time: datetime | None = None,
        duration_minutes: int | None = None,
    ) -> MeetingLink:
        payload: dict[str, Any] = {"topic": topic}
        if start_time is not None:
            payload["start_time"] = iso(start_time)
        if duration_minutes is not None:
            payload["duration_minutes"] = duration_minutes
        body = self._json(await self._request("POST", "/api/v1/meetings", payload))
        join_url = body.get("join_url")
        if not isinstance(join_url, str) or not join_url:
            raise RelayError(BAD_RESPONSE, "The backend sent no meeting link.")
        meeting_id = body.get("id")
        start = body.get("start_time")
        return MeetingLink(
            join_url=join_url,
            topic=str(body.get("topic", topic)),
            id=None if meeting_id is None else str(meeting_id),
            start_time=start if isinstance(start, str) else None,
        )
