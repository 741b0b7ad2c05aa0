"""Zoom's OAuth and REST endpoints, as the relay calls them (ZOOM.md).

:class:`ZoomApi` turns each call into a result or one of the :class:`ZoomError`
kinds below; callers decide what that means for a person. Tokens travel only
in headers and form bodies, never in URLs, and no error text carries a token,
a code or Zoom's own wording (which could quote what it was sent).
"""

from __future__ import annotations

import base64
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

import httpx

from desktop.core.wire import WireError, now_utc, parse_iso

log = logging.getLogger(__name__)

# httpx logs every request's URL at INFO and httpcore every response's headers
# at DEBUG (a redirect's Location can carry an OAuth code): the relay quiets both
# when its app is built (desktop/relay/logs.py: quiet_http_client_logs), not here
# at import time.

#: Exactly the scopes the Marketplace app must have (ZOOM.md): nothing else.
#: They are configured on the app, never sent in the authorize URL.
SCOPES: Final[tuple[str, ...]] = (
    "meeting:write:meeting",
    "user:read:user",
    "user:read:email",
    "user:read:presence_status",
)
#: Without these a connection "works" and silently never pauses or makes links.
REQUIRED_SCOPES: Final[tuple[str, ...]] = ("user:read:presence_status", "meeting:write:meeting")
#: Zoom's numeric OAuth reason for a refresh token it no longer knows.
_INVALID_REFRESH_TOKEN_REASON: Final = "4711"  # noqa: S105 - an error number


class ZoomError(Exception):
    """A call to Zoom did not give what was asked. The message is safe to log."""


class ZoomGrantDead(ZoomError):
    """Zoom no longer accepts the refresh token (``invalid_grant``): reconnect."""


class ZoomRefused(ZoomError):
    """Zoom refused an OAuth request for another reason (bad code, client, redirect)."""


class ZoomUnavailable(ZoomError):
    """Zoom could not be reached, timed out or failed (5xx)."""


class ZoomRateLimited(ZoomError):
    """Zoom answered 429."""

    def __init__(self, message: str, retry_after: int | None) -> None:
        super().__init__(message)
        #: Whole seconds to wait, if Zoom said (its ISO date-time, converted).
        self.retry_after = retry_after


class ZoomUnauthorized(ZoomError):
    """A REST call's access token was refused (401, code 124)."""


class ZoomApiFailed(ZoomError):
    """A REST call failed with another 4xx."""


@dataclass(frozen=True)
class TokenGrant:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: int
    #: The token's REST base, only when it is an https host under zoom.us.
    api_url: str | None
    scopes: frozenset[str]

    def missing_scopes(self) -> list[str]:
        return [scope for scope in REQUIRED_SCOPES if scope not in self.scopes]


@dataclass(frozen=True)
class ZoomUser:
    id: str
    email: str


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return {}
    return body if isinstance(body, dict) else {}


def trusted_api_url(value: object) -> str | None:
    """A token response's ``api_url`` if it is ``https://`` on a host under
    ``zoom.us`` (the access token is sent there), else ``None``."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if (
        parts.scheme.lower() != "https"
        or parts.username is not None
        or parts.password is not None
        or port not in (None, 443)
        or parts.path.strip("/")
        or parts.query
        or parts.fragment
        or not (host == "zoom.us" or host.endswith(".zoom.us"))
    ):
        return None
    return f"https://{host}"


def retry_after_seconds(value: str | None, now: datetime) -> int | None:
    """Zoom's ``Retry-After`` (an ISO date-time, sometimes seconds, often absent)
    as whole seconds from ``now``, at least 1; ``None`` when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return max(1, min(int(text), 7 * 24 * 3600))
    try:
        moment = parse_iso(text)
    except (WireError, ValueError):
        return None
    return max(1, min(math.ceil((moment - now).total_seconds()), 7 * 24 * 3600))


def _scopes(value: object) -> frozenset[str]:
    if not isinstance(value, str):
        return frozenset()
    return frozenset(value.replace(",", " ").split())


def _grant_is_dead(status: int, body: Mapping[str, Any]) -> bool:
    """ZOOM.md "OAuth": ``invalid_grant``, an ``invalid_request`` about the token,
    any other 4xx but 429 whose reason says "Invalid Token" (seen without an
    ``error`` field), or the numeric reason 4711 (invalid refresh token)."""
    error = str(body.get("error", ""))
    reason = str(body.get("reason", ""))
    if error == "invalid_grant" or (error == "invalid_request" and "token" in reason.lower()):
        return True
    if not 400 <= status < 500 or status == 429:
        return False
    codes = {reason.strip(), str(body.get("code", "")).strip()}
    return "invalid token" in reason.lower() or _INVALID_REFRESH_TOKEN_REASON in codes


class ZoomApi:
    """One Zoom app's client: OAuth at ``oauth_url``, REST at a token's ``api_url``."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        oauth_url: str,
        api_url: str,
        http: httpx.AsyncClient,
        revoke_timeout: float = 5.0,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self.oauth_url = oauth_url.rstrip("/")
        self.api_url = api_url.rstrip("/")
        self._http = http
        self._revoke_timeout = revoke_timeout
        self._clock = clock

    def __repr__(self) -> str:
        return f"ZoomApi(oauth_url={self.oauth_url!r}, api_url={self.api_url!r})"

    def authorize_url(self, *, redirect_uri: str, state: str, code_challenge: str) -> str:
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self._client_id,
                "redirect_uri": redirect_uri,
                "state": state,
                "code_challenge": code_challenge,
                "code_challenge_method": "S256",
            }
        )
        return f"{self.oauth_url}/oauth/authorize?{query}"

    @property
    def _basic(self) -> str:
        pair = f"{self._client_id}:{self._client_secret}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    async def _post_oauth(
        self, path: str, form: dict[str, str], wait: float | None = None
    ) -> httpx.Response:
        try:
            return await self._http.post(
                self.oauth_url + path,
                data=form,
                headers={"Authorization": self._basic, "Accept": "application/json"},
                timeout=wait if wait is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TimeoutException as exc:
            raise ZoomUnavailable(f"Zoom's {path} did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise ZoomUnavailable(
                f"Zoom's {path} could not be reached ({type(exc).__name__})"
            ) from exc

    async def _token(self, form: dict[str, str]) -> TokenGrant:
        response = await self._post_oauth("/oauth/token", form)
        body = _json(response)
        if response.status_code == 200:
            access, refresh = body.get("access_token"), body.get("refresh_token")
            expires_in = body.get("expires_in", 3599)
            if not isinstance(access, str) or not isinstance(refresh, str) or not access:
                raise ZoomUnavailable("Zoom's token answer has no tokens")
            api_url = trusted_api_url(body.get("api_url"))
            if api_url is None and body.get("api_url") not in (None, "", self.api_url):
                # Not an error: the configured REST base is used instead.
                log.warning(
                    "ignored the api_url of a Zoom token answer: it is not an https:// host "
                    "under zoom.us, so no token is sent there"
                )
            return TokenGrant(
                access_token=access,
                refresh_token=refresh,
                expires_in=expires_in if isinstance(expires_in, int) else 3599,
                api_url=api_url,
                scopes=_scopes(body.get("scope")),
            )
        error = str(body.get("error", ""))
        if response.status_code == 429:
            raise ZoomRateLimited(
                "Zoom's token endpoint is rate limiting",
                retry_after_seconds(response.headers.get("retry-after"), self._clock()),
            )
        if response.status_code >= 500:
            raise ZoomUnavailable(f"Zoom's token endpoint failed (HTTP {response.status_code})")
        if _grant_is_dead(response.status_code, body):
            raise ZoomGrantDead(
                f"Zoom refused the grant (HTTP {response.status_code}, {error or 'no error field'})"
            )
        raise ZoomRefused(
            f"Zoom refused the token request (HTTP {response.status_code}, {error!r})"
        )

    async def exchange_code(self, code: str, redirect_uri: str, code_verifier: str) -> TokenGrant:
        return await self._token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
            }
        )

    async def refresh(self, refresh_token: str) -> TokenGrant:
        return await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def revoke(self, access_token: str) -> bool:
        """Revoke the token's grant at Zoom; ``True`` when Zoom confirmed it."""
        try:
            response = await self._post_oauth(
                "/oauth/revoke", {"token": access_token}, wait=self._revoke_timeout
            )
        except ZoomError as exc:
            log.warning("revoking a Zoom grant failed: %s", exc)
            return False
        if response.status_code != 200:
            log.warning("Zoom answered HTTP %d to a revoke", response.status_code)
            return False
        return True

    async def _rest(
        self, method: str, api_url: str | None, path: str, access_token: str, json: Any = None
    ) -> dict[str, Any]:
        url = (api_url or self.api_url).rstrip("/") + "/v2" + path
        try:
            response = await self._http.request(
                method,
                url,
                json=json,
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            )
        except httpx.TimeoutException as exc:
            raise ZoomUnavailable("Zoom's API did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise ZoomUnavailable(
                f"Zoom's API could not be reached ({type(exc).__name__})"
            ) from exc
        body = _json(response)
        status = response.status_code
        if status in (200, 201):
            return body
        code = body.get("code")
        if status == 401:
            raise ZoomUnauthorized(f"Zoom refused the access token (code {code})")
        if status == 429:
            raise ZoomRateLimited(
                "Zoom's rate limit for this account is reached",
                retry_after_seconds(response.headers.get("retry-after"), self._clock()),
            )
        if status >= 500:
            raise ZoomUnavailable(f"Zoom's API failed (HTTP {status})")
        raise ZoomApiFailed(f"Zoom's API refused {method} {path} (HTTP {status}, code {code})")

    async def me(self, access_token: str, api_url: str | None) -> ZoomUser:
        body = await self._rest("GET", api_url, "/users/me", access_token)
        user_id, email = body.get("id"), body.get("email")
        if not isinstance(user_id, str) or not user_id:
            raise ZoomUnavailable("Zoom's /users/me answer has no user id")
        return ZoomUser(user_id, email if isinstance(email, str) else "")

    async def presence(self, access_token: str, api_url: str | None) -> str:
        """The token's user's presence in REST spelling (map with core's rest_presence).
        ``me``, as Zoom's docs say user-level OAuth apps must."""
        body = await self._rest("GET", api_url, "/users/me/presence_status", access_token)
        status = body.get("status")
        if not isinstance(status, str) or not status:
            raise ZoomUnavailable("Zoom's presence answer has no status")
        return status

    async def create_meeting(
        self, access_token: str, api_url: str | None, request: dict[str, Any]
    ) -> dict[str, Any]:
        return await self._rest("POST", api_url, "/users/me/meetings", access_token, json=request)
