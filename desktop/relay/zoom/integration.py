"""The Zoom connection of each account: connect, refresh, disconnect, presence,
reconciliation and meeting links. The HTTP layer (routes.py) only translates.

Every change of an account's state goes through
``AvailabilityService.change`` with the Zoom row written in the same
transaction, so a state pushed to clients is always the committed one.

Refresh tokens rotate, so refreshing is single-flight per account (one
``asyncio.Lock`` each) and the new pair is committed before it is used, and
only over the pair it replaces (a disconnect during a refresh wins). A dead
grant marks the connection ``expired``, deletes the tokens and pushes
``zoom_expired``.

One background task (:meth:`ZoomIntegration.start`) sleeps until the next
thing is due: a keep-alive refresh once two thirds of the refresh token's
configured lifetime have passed, or a presence re-read for someone who has
looked "in meeting" for ``zoom_reconcile_after`` seconds (and once for every
connection when the relay starts, since webhooks sent while it was down are
lost to it). Any change wakes it to re-plan; when nothing is due it sleeps.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar

import httpx

from desktop.core import availability as rules
from desktop.core.wire import iso
from desktop.relay.relay import Relay
from desktop.relay.service import AccountGone
from desktop.relay.zoom.api import (
    TokenGrant,
    ZoomApi,
    ZoomError,
    ZoomGrantDead,
    ZoomRateLimited,
    ZoomRefused,
    ZoomUnauthorized,
    ZoomUnavailable,
    ZoomUser,
)
from desktop.relay.zoom.rows import Connection, LinkConflict, SealedGrant, ZoomRows
from desktop.relay.zoom.vault import TokenVault, VaultError, reencrypt_all

log = logging.getLogger(__name__)

T = TypeVar("T")

CALLBACK_PATH: Final = "/oauth/zoom/callback"
#: How long a connect link (its ``state`` and PKCE verifier) stays usable.
STATE_LIFETIME: Final = timedelta(minutes=10)
#: Refresh an access token this long before Zoom says it expires.
ACCESS_MARGIN: Final = timedelta(seconds=60)
#: The planner re-plans at least this often, in case the wall clock jumps.
MAX_SLEEP: Final = 3600.0
#: At most one grant check per connection this often on unverified removal hints.
HINT_INTERVAL: Final = timedelta(seconds=60)
#: A presence event dated further ahead than this is not applied (ZOOM.md).
MAX_EVENT_AHEAD_MS: Final = 5 * 60 * 1000
#: Longest wait between keep-alive attempts that Zoom refuses for other reasons.
MAX_REFUSAL_BACKOFF: Final = 24 * 3600.0


class ZoomNotConfigured(Exception):
    """The relay has no Zoom app credentials: the operator must set them."""


class ZoomNotConnected(Exception):
    """The account has no usable Zoom connection (never connected, ended or expired)."""


class ZoomConnectionExpired(ZoomNotConnected):
    """Zoom refused the account's grant just now; the connection is marked expired."""


class ConnectFailed(Exception):
    """The OAuth callback cannot complete; shown to the person as an HTML page."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.message = message


@dataclass(frozen=True)
class Connected:
    """What the callback's page tells the person after a connect."""

    zoom_email: str
    account_email: str
    #: The Zoom user was linked to another ProfitRinger account until now.
    taken_from_another_account: bool


@dataclass(frozen=True)
class MeetingLink:
    id: str
    topic: str
    join_url: str
    start_time: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "topic": self.topic,
            "join_url": self.join_url,
            "start_time": self.start_time,
        }


def _state_hash(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class ZoomIntegration:
    """Zoom for every account of one relay. ``api``/``vault`` are ``None`` when
    the relay has no Zoom app configured; then connect and meetings refuse."""

    def __init__(
        self,
        relay: Relay,
        *,
        api: ZoomApi | None,
        vault: TokenVault | None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.relay = relay
        self.settings = relay.settings
        self.api = api
        self.vault = vault
        self.rows = ZoomRows(relay.store)
        self._http = http
        self._locks: dict[str, asyncio.Lock] = {}
        self._wake_event: asyncio.Event | None = None
        #: When the planner, asleep, will look again by itself.
        self._planner_wakes_at: datetime | None = None
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._refreshing: set[asyncio.Task[tuple[str, str | None]]] = set()
        self._keepalive_not_before: dict[str, datetime] = {}
        self._reconcile_not_before: dict[str, datetime] = {}
        self._reconcile_at_start: set[str] = set()
        self._hint_checked_at: dict[str, datetime] = {}
        #: Consecutive refusals (not a dead grant) of an account's keep-alive refresh.
        self._keepalive_refusals: dict[str, int] = {}

    # -- small helpers ------------------------------------------------------------------

    @property
    def configured(self) -> bool:
        return self.api is not None and self.vault is not None

    def _require(self) -> tuple[ZoomApi, TokenVault]:
        if self.api is None or self.vault is None:
            raise ZoomNotConfigured()
        return self.api, self.vault

    @property
    def redirect_uri(self) -> str:
        return self.settings.base_url + CALLBACK_PATH

    def _now(self) -> datetime:
        return self.relay.clock()

    def _now_ms(self) -> int:
        return int(self._now().timestamp() * 1000)

    def _lock(self, account_id: str) -> asyncio.Lock:
        return self._locks.setdefault(account_id, asyncio.Lock())

    def _wake(self) -> None:
        if self._wake_event is not None:
            self._wake_event.set()

    def _wake_if_due_before(self, due: datetime) -> None:
        """Wake the planner only if ``due`` comes before it would look anyway:
        presence webhooks arrive by the thousand, and each wake is a full pass."""
        wakes_at = self._planner_wakes_at
        if wakes_at is None or due < wakes_at:
            self._wake()

    def _seal(self, grant: TokenGrant, fallback_api_url: str | None = None) -> SealedGrant:
        _, vault = self._require()
        now = self._now()
        return SealedGrant(
            access_token=vault.seal(grant.access_token),
            refresh_token=vault.seal(grant.refresh_token),
            access_expires_at=now + timedelta(seconds=grant.expires_in),
            refresh_expires_at=now + timedelta(seconds=self.settings.zoom_refresh_token_lifetime),
            api_url=grant.api_url or fallback_api_url,
        )

    def _revoke_later(self, access_token: str) -> None:
        """Best-effort revoke of a grant nobody will use (never awaited by a request)."""
        if self.api is None:
            return
        task = asyncio.get_running_loop().create_task(self.api.revoke(access_token))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- connect ------------------------------------------------------------------------

    def begin_connect(self, account_id: str) -> str:
        """A one-time authorize URL bound to the account (state + PKCE S256)."""
        api, vault = self._require()
        state = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)
        now = self._now()
        self.rows.add_oauth_state(
            _state_hash(state), account_id, vault.seal(verifier), now + STATE_LIFETIME, now
        )
        return api.authorize_url(
            redirect_uri=self.redirect_uri, state=state, code_challenge=_challenge(verifier)
        )

    def _take_state(self, state: str) -> tuple[str, str]:
        _, vault = self._require()
        taken = self.rows.take_oauth_state(_state_hash(state)) if state else None
        if taken is None or taken[2] <= self._now():
            raise ConnectFailed(
                400,
                "This Zoom sign-in link has expired or was already used",
                "Nothing was changed. Start again from ProfitRinger with Connect Zoom.",
            )
        account_id, sealed_verifier, _ = taken
        try:
            return account_id, vault.unseal(sealed_verifier)
        except VaultError as exc:
            log.error("a pending Zoom sign-in cannot be decrypted: %s", exc)
            raise ConnectFailed(
                400,
                "This Zoom sign-in link can no longer be used",
                "Nothing was changed. Start again from ProfitRinger with Connect Zoom.",
            ) from exc

    def deny_connect(self, state: str) -> None:
        """Consent was refused at Zoom: forget the state, change nothing."""
        with contextlib.suppress(ConnectFailed, ZoomNotConfigured):
            self._take_state(state)

    async def complete_connect(self, state: str, code: str) -> Connected:
        """The OAuth callback: check state, exchange the code, link and push.

        Zoom keeps one valid grant per Zoom user and app (ZOOM.md), so the code
        exchange has already killed any other account's grant for this Zoom
        user: that account is ended with a reason in words, never left showing
        "connected" on dead tokens, and the new link wins.
        """
        api, _ = self._require()
        account_id, verifier = self._take_state(state)
        try:
            grant = await api.exchange_code(code, self.redirect_uri, verifier)
        except (ZoomUnavailable, ZoomRateLimited) as exc:
            log.warning("Zoom sign-in for account %s failed: %s", account_id, exc)
            raise ConnectFailed(
                502,
                "Zoom could not be reached",
                "Nothing was changed. Try Connect Zoom again in a minute.",
            ) from exc
        except ZoomError as exc:
            log.warning("Zoom refused the sign-in code for account %s: %s", account_id, exc)
            raise ConnectFailed(
                400,
                "Zoom did not accept this sign-in",
                "Nothing was changed. Start again from ProfitRinger with Connect Zoom.",
            ) from exc
        try:
            user = await api.me(grant.access_token, grant.api_url)
        except ZoomError as exc:
            # Not revoked: Zoom's revoke may end the app's authorization for the
            # user as a whole, and this user may be linked to another account.
            log.warning("reading the Zoom profile for account %s failed: %s", account_id, exc)
            raise ConnectFailed(
                502,
                "Zoom did not tell who signed in",
                "Nothing was changed. Try Connect Zoom again in a minute.",
            ) from exc
        taken_from = self._end_other_holder(account_id, user)
        missing = grant.missing_scopes()
        if missing:
            self._refuse_for_scopes(account_id, user, missing)
            self._revoke_later(grant.access_token)
            raise ConnectFailed(
                403,
                "Zoom did not grant what ProfitRinger needs",
                f"Zoom did not grant the scope(s) {', '.join(missing)}, so ProfitRinger could "
                "not pause your ringer during meetings or make meeting links, and Zoom was "
                "not connected. The relay's operator must add them to the Zoom app in the "
                "Zoom App Marketplace (Scopes); then connect again.",
            )
        presence: str | None
        try:
            presence = rules.rest_presence(await api.presence(grant.access_token, grant.api_url))
        except ZoomError as exc:
            # Connect anyway; the webhook or the next reconciliation brings presence.
            log.warning("reading Zoom presence at connect failed: %s", exc)
            presence = None
        sealed = self._seal(grant)
        previous = self.rows.get(account_id)
        event_ts = self._now_ms()

        def transition(
            state: rules.AccountAvailability, now: datetime
        ) -> rules.AccountAvailability:
            connected = rules.set_zoom_state(state, "connected", now)
            if presence is None:
                return connected
            return rules.apply_presence(connected, presence, event_ts, now) or connected

        def link(db: Any) -> None:
            self.rows.link_in(db, account_id, user.id, user.email, sealed, self._now())

        try:
            document = self.relay.service.change(account_id, transition, "zoom_connected", link)
        except LinkConflict as exc:
            # Another callback for the same Zoom user won the race just now.
            raise ConnectFailed(
                409,
                "This Zoom user was connected to another ProfitRinger account just now",
                "Nothing was changed here. Start again from ProfitRinger with Connect Zoom.",
            ) from exc
        except AccountGone as exc:
            raise ConnectFailed(
                400, "This ProfitRinger account no longer exists", "Nothing was changed."
            ) from exc
        assert document is not None
        if previous is not None and previous.zoom_user_id not in (None, user.id):
            self._retire(previous)  # another Zoom user's grant this account no longer uses
        self._keepalive_not_before.pop(account_id, None)
        self._reconcile_not_before.pop(account_id, None)
        self._wake()
        log.info("Zoom connected for account %s", account_id)
        return Connected(
            zoom_email=user.email,
            account_email=document["account"]["email"],
            taken_from_another_account=taken_from,
        )

    def _end_other_holder(self, account_id: str, user: ZoomUser) -> bool:
        """End another account's link to ``user``: its grant died when this code was
        exchanged. ``True`` when there was one."""
        holder = self.rows.by_zoom_user(user.id)
        if holder is None or holder.account_id == account_id:
            return False
        message = (
            f"Zoom {user.email or 'user'} was connected to another ProfitRinger account, and "
            "Zoom keeps one connection per Zoom user, so it is no longer connected here. "
            "Connect Zoom again to connect it to this account."
        )
        with contextlib.suppress(AccountGone):
            self._end(
                holder.account_id,
                "disconnected",
                "zoom_linked_elsewhere",
                ("zoom_linked_elsewhere", message),
            )
        log.warning(
            "Zoom user of account %s was connected from account %s; the old link is ended",
            holder.account_id,
            account_id,
        )
        return True

    def _refuse_for_scopes(self, account_id: str, user: ZoomUser, missing: list[str]) -> None:
        """Record on the account why Zoom is not connected: the app lacks scopes.
        A link it had to the same Zoom user died with the exchange, so it ends."""
        message = (
            f"Zoom did not grant {', '.join(missing)}; without it ProfitRinger cannot "
            "pause your ringer during meetings or make meeting links. The relay's operator "
            "must add the scope(s) to the Zoom app in the Zoom App Marketplace, then you "
            "can connect again."
        )
        log.warning(
            "refused the Zoom connect of account %s: Zoom did not grant %s (fix the app's "
            "scopes in the Zoom App Marketplace)",
            account_id,
            ", ".join(missing),
        )
        previous = self.rows.get(account_id)
        if (
            previous is not None
            and previous.usable
            and previous.zoom_user_id is not None
            and previous.zoom_user_id.lower() != user.id.lower()
        ):
            return  # another Zoom user's grant, still alive: keep it
        problem = ("zoom_scopes_missing", message)
        with contextlib.suppress(AccountGone):
            self._end(account_id, "disconnected", "zoom_scopes_missing", problem)

    def _retire(self, previous: Connection) -> None:
        """Revoke a replaced connection's grant, best effort. Not done when the same
        Zoom user reconnects: Zoom's revoke may end the user's whole authorization."""
        if previous.access_token is None or self.vault is None:
            return
        with contextlib.suppress(VaultError):
            self._revoke_later(self.vault.unseal(previous.access_token))

    # -- ending a connection ------------------------------------------------------------

    def _end(
        self,
        account_id: str,
        state: rules.ZoomState,
        cause: str,
        problem: tuple[str, str] | None = None,
    ) -> dict[str, Any]:
        def transition(s: rules.AccountAvailability, now: datetime) -> rules.AccountAvailability:
            return rules.set_zoom_state(s, state, now)

        def side_effect(db: Any) -> None:
            self.rows.end_in(db, account_id, state, self._now(), problem)

        document = self.relay.service.change(account_id, transition, cause, side_effect)
        assert document is not None
        self._wake()
        return document

    async def disconnect(self, account_id: str) -> dict[str, Any]:
        """Delete the tokens (whatever Zoom says), then revoke at Zoom; push
        ``zoom_disconnected``. Works without Zoom configured (nothing to revoke then)."""
        connection = self.rows.get(account_id)
        stored = self.relay.store.load_state(account_id)
        if stored is None:
            raise AccountGone(account_id)
        if (connection is None or connection.state == "disconnected") and (
            stored.state.zoom_state == "disconnected"
        ):
            return self.relay.service.document(account_id, cause="unchanged")
        access: str | None = None
        if connection is not None and connection.access_token is not None and self.vault:
            with contextlib.suppress(VaultError):
                access = self.vault.unseal(connection.access_token)
        document = self._end(account_id, "disconnected", "zoom_disconnected")
        log.info("Zoom disconnected for account %s; tokens deleted", account_id)
        if access is not None and self.api is not None and not await self.api.revoke(access):
            log.warning("Zoom did not confirm the revoke for account %s", account_id)
        return document

    def deauthorized(self, zoom_user_id: str, deauthorized_at_ms: int | None) -> str:
        """``app_deauthorized``: delete that user's tokens, push ``zoom_disconnected``.

        ``unknown`` when no account has this Zoom user; ``ignored`` when the
        removal happened before the current connection began (our own
        Disconnect's notice, arriving after the person connected again);
        ``applied`` otherwise."""
        connection = self.rows.by_zoom_user(zoom_user_id)
        if connection is None:
            return "unknown"
        began = connection.connected_at_ms
        if deauthorized_at_ms is not None and began is not None and deauthorized_at_ms < began:
            log.info(
                "ignored a Zoom app removal for account %s: it is older than its connection",
                connection.account_id,
            )
            return "ignored"
        try:
            self._end(connection.account_id, "disconnected", "zoom_disconnected")
        except AccountGone:
            return "unknown"
        log.info("Zoom removed the app for account %s; tokens deleted", connection.account_id)
        return "applied"

    def check_grant_soon(self, zoom_user_id: str) -> None:
        """An ``app_deauthorized`` that failed verification is a hint, not proof
        (ZOOM.md): refresh that Zoom user's grant at once, in the background.
        Zoom answers ``invalid_grant`` if the app really was removed, and then the
        tokens are deleted; the unverified body itself is never trusted. At most
        one check per connection every :data:`HINT_INTERVAL`."""
        connection = self.rows.by_zoom_user(zoom_user_id)
        if connection is None or not connection.usable or self.api is None:
            return
        account_id = connection.account_id
        now = self._now()
        last = self._hint_checked_at.get(account_id)
        if last is not None and now - last < HINT_INTERVAL:
            return
        self._hint_checked_at[account_id] = now
        task = asyncio.get_running_loop().create_task(self._check_grant(account_id))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _check_grant(self, account_id: str) -> None:
        try:
            await self.keep_alive(account_id)
        except ZoomConnectionExpired:
            log.warning(
                "Zoom confirmed the app was removed for account %s; tokens deleted", account_id
            )
        except (ZoomNotConnected, AccountGone):
            pass
        except Exception as exc:  # a background check must not go unretrieved
            log.warning("checking the Zoom grant of account %s failed: %s", account_id, _safe(exc))
        else:
            log.info(
                "the Zoom grant of account %s is alive: the removal hint was false", account_id
            )

    def _expire(self, account_id: str, dead_refresh_token: bytes) -> None:
        """Mark expired, unless the row moved on (reconnected) since that token."""

        def transition(
            s: rules.AccountAvailability, now: datetime
        ) -> rules.AccountAvailability | None:
            current = self.rows.refresh_token_in(self.relay.store.connection, account_id)
            if current != dead_refresh_token:
                return None
            return rules.set_zoom_state(s, "expired", now)

        def side_effect(db: Any) -> None:
            self.rows.end_in(db, account_id, "expired", self._now())

        with contextlib.suppress(AccountGone):
            if self.relay.service.change(account_id, transition, "zoom_expired", side_effect):
                log.warning("the Zoom connection of account %s expired; tokens deleted", account_id)
        self._wake()

    async def on_account_deleted(self, account_id: str) -> None:
        """Account deletion hook: revoke at Zoom, best effort (the store deletes the rows)."""
        connection = self.rows.get(account_id)
        self._keepalive_not_before.pop(account_id, None)
        self._reconcile_not_before.pop(account_id, None)
        self._reconcile_at_start.discard(account_id)
        self._hint_checked_at.pop(account_id, None)
        self._keepalive_refusals.pop(account_id, None)
        self._locks.pop(account_id, None)
        if connection is None or connection.access_token is None:
            return
        if self.api is None or self.vault is None:
            return
        try:
            access = self.vault.unseal(connection.access_token)
        except VaultError:
            return
        await self.api.revoke(access)

    # -- tokens -------------------------------------------------------------------------

    async def _access(self, account_id: str, stale: str | None = None) -> tuple[str, str | None]:
        """A usable access token and its REST base. ``stale`` is a token Zoom just
        refused: refresh unless another caller already replaced it."""
        _, vault = self._require()
        async with self._lock(account_id):
            connection = self.rows.get(account_id)
            if connection is None or not connection.usable:
                raise ZoomNotConnected()
            assert connection.access_token is not None
            assert connection.refresh_token is not None
            try:
                access = vault.unseal(connection.access_token)
            except VaultError as exc:
                log.error("account %s: %s; marking its Zoom connection expired", account_id, exc)
                self._expire(account_id, connection.refresh_token)
                raise ZoomConnectionExpired() from exc
            fresh = (
                connection.access_expires_at is not None
                and connection.access_expires_at > self._now() + ACCESS_MARGIN
            )
            if (stale is None and fresh) or (stale is not None and access != stale):
                return access, connection.api_url
            return await self._refresh_locked(connection)

    async def _refresh_locked(self, connection: Connection) -> tuple[str, str | None]:
        """Refresh with the account's lock held; commit the new pair, then return it.

        The exchange runs as its own task, shielded: once Zoom has rotated the
        refresh token, only committing the new one keeps the grant alive, so a
        caller that goes away (a client hanging up, shutdown) must not cut it short.
        """
        task = asyncio.get_running_loop().create_task(self._refresh_and_commit(connection))
        self._refreshing.add(task)
        task.add_done_callback(self._refresh_done)
        return await asyncio.shield(task)

    def _refresh_done(self, task: asyncio.Task[tuple[str, str | None]]) -> None:
        self._refreshing.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: whoever awaited it has seen it (or left)

    async def _refresh_and_commit(self, connection: Connection) -> tuple[str, str | None]:
        api, vault = self._require()
        account_id = connection.account_id
        assert connection.refresh_token is not None
        try:
            refresh = vault.unseal(connection.refresh_token)
        except VaultError as exc:
            log.error("account %s: %s; marking its Zoom connection expired", account_id, exc)
            self._expire(account_id, connection.refresh_token)
            raise ZoomConnectionExpired() from exc
        try:
            grant = await api.refresh(refresh)
        except ZoomGrantDead as exc:
            log.warning("Zoom refused the refresh token of account %s: %s", account_id, exc)
            self._expire(account_id, connection.refresh_token)
            raise ZoomConnectionExpired() from exc
        sealed = self._seal(grant, connection.api_url)
        if not self.rows.replace_tokens(account_id, connection.refresh_token, sealed):
            # Disconnected or reconnected while Zoom answered: this pair is nobody's.
            # Revoke it only if no connection took over (a revoke may end them all).
            now_row = self.rows.get(account_id)
            if now_row is None or not now_row.usable:
                self._revoke_later(grant.access_token)
            raise ZoomNotConnected()
        log.info("refreshed the Zoom tokens of account %s", account_id)
        return grant.access_token, sealed.api_url

    async def _with_token(
        self, account_id: str, call: Callable[[str, str | None], Awaitable[T]]
    ) -> T:
        """Run ``call(access_token, api_url)``; on a refused token refresh once and retry."""
        access, api_url = await self._access(account_id)
        try:
            return await call(access, api_url)
        except ZoomUnauthorized:
            access, api_url = await self._access(account_id, stale=access)
            return await call(access, api_url)

    async def keep_alive(self, account_id: str) -> None:
        """Refresh now so the refresh token never reaches the end of its life."""
        async with self._lock(account_id):
            connection = self.rows.get(account_id)
            if connection is None or not connection.usable:
                raise ZoomNotConnected()
            await self._refresh_locked(connection)

    # -- presence -----------------------------------------------------------------------

    def presence_event(self, zoom_user_id: str, status: str, event_ts: int) -> str:
        """Apply a webhook presence event: ``applied``, ``ignored`` (stale, a
        repeat, or dated more than 5 minutes ahead) or ``unknown`` (no account has
        this Zoom user, matched in any case; nothing kept)."""
        connection = self.rows.by_zoom_user(zoom_user_id)
        if connection is None or connection.state != "connected":
            return "unknown"
        if event_ts > self._now_ms() + MAX_EVENT_AHEAD_MS:
            # Applied, it would make every real event after it look stale.
            log.warning(
                "ignored a Zoom presence event for account %s dated more than 5 minutes ahead",
                connection.account_id,
            )
            return "ignored"
        try:
            document = self.relay.service.change(
                connection.account_id,
                lambda s, now: rules.apply_presence(s, status, event_ts, now),
                "presence_changed",
            )
        except AccountGone:
            return "unknown"
        if document is None:
            return "ignored"
        if document["zoom"]["in_meeting"]:
            # A meeting has (still) started: its reconcile falls due this far on.
            self._wake_if_due_before(
                self._now() + timedelta(seconds=self.settings.zoom_reconcile_after)
            )
        return "applied"

    async def reconcile(self, account_id: str) -> bool:
        """Re-read presence from Zoom's REST API and apply it as an event of now.
        ``True`` when it changed whether the person is in a meeting."""
        api, _ = self._require()
        connection = self.rows.get(account_id)
        if connection is None or not connection.usable or connection.zoom_user_id is None:
            raise ZoomNotConnected()
        said = await self._with_token(account_id, lambda t, u: api.presence(t, u))
        status = rules.rest_presence(said)
        if status is None:
            # Never resume (or pause) someone on a word we do not know.
            log.warning(
                "Zoom answered an unknown presence for account %s; in_meeting left as it was",
                account_id,
            )
            return False
        event_ts = self._now_ms()

        def transition(
            s: rules.AccountAvailability, now: datetime
        ) -> rules.AccountAvailability | None:
            after = rules.apply_presence(s, status, event_ts, now)
            # Only a meeting starting or ending is worth a change (and a push).
            if after is None or after.in_meeting == s.in_meeting:
                return None
            return after

        changed = self.relay.service.change(account_id, transition, "presence_changed")
        if changed is not None:
            log.info(
                "reconciled Zoom presence of account %s: in_meeting is now %s",
                account_id,
                changed["zoom"]["in_meeting"],
            )
        return changed is not None

    async def reconcile_now(self) -> int:
        """Re-read presence for every connected account now; returns how many changed."""
        changed = 0
        for connection in self.rows.connected():
            with contextlib.suppress(ZoomNotConnected, ZoomError, AccountGone):
                changed += await self.reconcile(connection.account_id)
        return changed

    # -- meetings -----------------------------------------------------------------------

    async def create_meeting(
        self,
        account_id: str,
        topic: str,
        start_time: datetime | None,
        duration_minutes: int | None,
    ) -> MeetingLink:
        api, _ = self._require()
        request: dict[str, Any] = {"topic": topic, "type": 2 if start_time else 1}
        if start_time is not None:
            request["start_time"] = iso(start_time)
            request["timezone"] = "UTC"
        if duration_minutes is not None:
            request["duration"] = duration_minutes
        result = await self._with_token(account_id, lambda t, u: api.create_meeting(t, u, request))
        join_url = result.get("join_url")
        if not isinstance(join_url, str) or not join_url.startswith(("https://", "http://")):
            raise ZoomUnavailable("Zoom's meeting answer has no join_url")
        start = result.get("start_time")
        return MeetingLink(
            id=str(result.get("id", "")),
            topic=str(result.get("topic", topic)),
            join_url=join_url,
            start_time=start if isinstance(start, str) else None,
        )

    # -- the background planner ---------------------------------------------------------

    async def start(self) -> None:
        """Start hook: re-encrypt under the newest key, then plan in the background."""
        self._wake_event = asyncio.Event()
        if not self.configured:
            return
        assert self.vault is not None
        try:
            count = reencrypt_all(self.relay.store, self.vault)
        except VaultError as exc:
            log.error("cannot re-encrypt the stored Zoom tokens: %s", exc)
        else:
            if count:
                log.info("re-encrypted %d stored Zoom secret(s) under the newest key", count)
        self._reconcile_at_start = {c.account_id for c in self.rows.connected()}
        self._task = asyncio.get_running_loop().create_task(self._plan_forever())

    async def stop(self) -> None:
        """Stop hook: let refreshes in flight commit, end the planner and any
        best-effort revokes; close HTTP."""
        if self._refreshing:
            await asyncio.wait(set(self._refreshing), timeout=self.settings.zoom_http_timeout)
        tasks = [t for t in (self._task, *self._background) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._task = None
        if self._http is not None:
            await self._http.aclose()

    def _keepalive_due(self, connection: Connection) -> datetime | None:
        if connection.refresh_expires_at is None:
            return None
        third = timedelta(seconds=self.settings.zoom_refresh_token_lifetime / 3)
        due = connection.refresh_expires_at - third
        not_before = self._keepalive_not_before.get(connection.account_id)
        return max(due, not_before) if not_before else due

    def _reconcile_due(self, connection: Connection, now: datetime) -> datetime | None:
        if connection.account_id in self._reconcile_at_start:
            return now
        stored = self.relay.store.load_state(connection.account_id)
        if stored is None or not stored.state.in_meeting or stored.state.in_meeting_since is None:
            return None
        due = stored.state.in_meeting_since + timedelta(seconds=self.settings.zoom_reconcile_after)
        not_before = self._reconcile_not_before.get(connection.account_id)
        return max(due, not_before) if not_before else due

    async def _plan_forever(self) -> None:
        assert self._wake_event is not None
        while True:
            self._wake_event.clear()
            self._planner_wakes_at = None
            now = self._now()
            jobs: list[tuple[Callable[[str], Awaitable[None]], str]] = []
            next_at: datetime | None = None
            for connection in self.rows.connected():
                for due, job in (
                    (self._keepalive_due(connection), self._keepalive_job),
                    (self._reconcile_due(connection, now), self._reconcile_job),
                ):
                    if due is None:
                        continue
                    if due <= now:
                        jobs.append((job, connection.account_id))
                    elif next_at is None or due < next_at:
                        next_at = due
            if jobs:
                for run, account_id in jobs:
                    await run(account_id)
                continue
            timeout = MAX_SLEEP
            if next_at is not None:
                timeout = min(MAX_SLEEP, max(0.0, (next_at - now).total_seconds()))
            self._planner_wakes_at = now + timedelta(seconds=timeout)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_event.wait(), timeout)

    async def _keepalive_job(self, account_id: str) -> None:
        try:
            await self.keep_alive(account_id)
        except (ZoomNotConnected, AccountGone):
            self._keepalive_not_before.pop(account_id, None)
            self._keepalive_refusals.pop(account_id, None)
        except ZoomRefused as exc:
            # Not a dead grant (that expires the connection) but a refusal that
            # will not pass by itself, such as a wrong client secret: back off.
            refusals = self._keepalive_refusals.get(account_id, 0) + 1
            self._keepalive_refusals[account_id] = refusals
            delay = min(MAX_REFUSAL_BACKOFF, self.settings.zoom_retry_delay * 2 ** (refusals - 1))
            log.warning(
                "Zoom refused the keep-alive refresh for account %s: %s; trying again in %.0f s",
                account_id,
                exc,
                delay,
            )
            self._keepalive_not_before[account_id] = self._now() + timedelta(seconds=delay)
        except Exception as exc:  # the planner must outlive any one failure
            log.warning("keep-alive refresh for account %s failed: %s", account_id, _safe(exc))
            self._keepalive_not_before[account_id] = self._now() + timedelta(
                seconds=self.settings.zoom_retry_delay
            )
        else:
            self._keepalive_not_before.pop(account_id, None)
            self._keepalive_refusals.pop(account_id, None)

    async def _reconcile_job(self, account_id: str) -> None:
        self._reconcile_at_start.discard(account_id)
        after = self.settings.zoom_reconcile_after
        try:
            await self.reconcile(account_id)
        except (ZoomNotConnected, AccountGone):
            self._reconcile_not_before.pop(account_id, None)
            return
        except Exception as exc:  # the planner must outlive any one failure
            log.warning("presence re-read for account %s failed: %s", account_id, _safe(exc))
            after = min(after, self.settings.zoom_retry_delay)
        self._reconcile_not_before[account_id] = self._now() + timedelta(seconds=after)


def _safe(exc: BaseException) -> str:
    """Our own Zoom errors have safe texts; anything else is named by type only."""
    return str(exc) if isinstance(exc, ZoomError) else type(exc).__name__
