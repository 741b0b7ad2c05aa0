"""Each account's Zoom tokens in use: a usable access token on demand,
single-flight refresh, the keep-alive refresh, and a REST call retried once
with a refreshed token.

Refresh tokens rotate (ZOOM.md), so refreshing is single-flight per account:
within a relay through one ``asyncio.Lock`` each, and across the relays on one
database through the claim ``refresh:<account>`` (desktop/relay/claims.py).
Whoever takes the claim re-reads the row first: if another relay refreshed in
the meantime, its pair is used and Zoom is not asked again. The new pair is
committed before it is used, and only over the pair it replaces (a disconnect
during a refresh wins). A dead grant is handed to ``expire``, which marks the
connection ``expired``, deletes the tokens and pushes ``zoom_expired``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar

from desktop.relay.claims import Claims
from desktop.relay.config import RelaySettings
from desktop.relay.storage import ZoomConnection
from desktop.relay.zoom.client import (
    TokenGrant,
    ZoomApi,
    ZoomGrantDead,
    ZoomUnauthorized,
    ZoomUnavailable,
)
from desktop.relay.zoom.rows import SealedGrant, ZoomRows
from desktop.relay.zoom.vault import TokenVault, VaultError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Refresh an access token this long before Zoom says it expires.
ACCESS_MARGIN: Final = timedelta(seconds=60)
#: Longest pause between two looks at a refresh another relay holds.
CLAIM_POLL_MAX: Final = 0.25


class ZoomNotConfigured(Exception):
    """The relay has no Zoom app credentials: the operator must set them."""


class ZoomNotConnected(Exception):
    """The account has no usable Zoom connection (never connected, ended or expired)."""


class ZoomConnectionExpired(ZoomNotConnected):
    """Zoom refused the account's grant just now; the connection is marked expired."""


class ZoomTokens:
    """Tokens of every account of one relay. ``api``/``vault`` are ``None`` when
    the relay has no Zoom app configured. ``expire(account_id, dead_refresh)``
    ends a connection whose grant Zoom refused."""

    def __init__(
        self,
        settings: RelaySettings,
        clock: Callable[[], datetime],
        rows: ZoomRows,
        *,
        api: ZoomApi | None,
        vault: TokenVault | None,
        expire: Callable[[str, bytes], None],
        claims: Claims,
    ) -> None:
        self.settings = settings
        self.claims = claims
        self._clock = clock
        self.rows = rows
        self.api = api
        self.vault = vault
        self._expire = expire
        self._locks: dict[str, asyncio.Lock] = {}
        #: Refreshes in flight: they must commit before the relay stops.
        self.refreshing: set[asyncio.Task[tuple[str, str | None]]] = set()
        #: Best-effort revokes nobody awaits; cancelled at stop.
        self.background: set[asyncio.Task[Any]] = set()

    def require(self) -> tuple[ZoomApi, TokenVault]:
        if self.api is None or self.vault is None:
            raise ZoomNotConfigured()
        return self.api, self.vault

    def lock(self, account_id: str) -> asyncio.Lock:
        return self._locks.setdefault(account_id, asyncio.Lock())

    def forget(self, account_id: str) -> None:
        self._locks.pop(account_id, None)

    def seal(self, grant: TokenGrant, fallback_api_url: str | None = None) -> SealedGrant:
        _, vault = self.require()
        now = self._clock()
        return SealedGrant(
            access_token=vault.seal(grant.access_token),
            refresh_token=vault.seal(grant.refresh_token),
            access_expires_at=now + timedelta(seconds=grant.expires_in),
            refresh_expires_at=now + timedelta(seconds=self.settings.zoom_refresh_token_lifetime),
            api_url=grant.api_url or fallback_api_url,
        )

    def revoke_later(self, access_token: str) -> None:
        """Best-effort revoke of a grant nobody will use (never awaited by a request)."""
        if self.api is None:
            return
        task = asyncio.get_running_loop().create_task(self.api.revoke(access_token))
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def access(self, account_id: str, stale: str | None = None) -> tuple[str, str | None]:
        """A usable access token and its REST base. ``stale`` is a token Zoom just
        refused: refresh unless another caller already replaced it."""
        _, vault = self.require()
        async with self.lock(account_id):
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
                and connection.access_expires_at > self._clock() + ACCESS_MARGIN
            )
            if (stale is None and fresh) or (stale is not None and access != stale):
                return access, connection.api_url
            return await self._refresh_locked(connection)

    async def _refresh_locked(self, connection: ZoomConnection) -> tuple[str, str | None]:
        """Refresh with the account's lock held; commit the new pair, then return it.

        The exchange runs as its own task, shielded: once Zoom has rotated the
        refresh token, only committing the new one keeps the grant alive, so a
        caller that goes away (a client hanging up, shutdown) must not cut it short.
        """
        task = asyncio.get_running_loop().create_task(self._refresh_and_commit(connection))
        self.refreshing.add(task)
        task.add_done_callback(self._refresh_done)
        return await asyncio.shield(task)

    def _refresh_done(self, task: asyncio.Task[tuple[str, str | None]]) -> None:
        self.refreshing.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: whoever awaited it has seen it (or left)

    async def _refresh_and_commit(self, seen: ZoomConnection) -> tuple[str, str | None]:
        """Take the account's refresh claim, then refresh what the row holds now,
        unless another relay refreshed since ``seen`` was read."""
        name = f"refresh:{seen.account_id}"
        connection, ready = await self._claim_refresh(name, seen)
        if ready is not None:
            return ready
        try:
            return await self._exchange(connection)
        finally:
            self.claims.release(name)

    def _claim_hold(self) -> float:
        """How long a refresh claim is held: long enough for the exchange and the
        commit; a relay killed while holding it loses it after this."""
        return 2 * self.settings.zoom_http_timeout + 5

    async def _claim_refresh(
        self, name: str, seen: ZoomConnection
    ) -> tuple[ZoomConnection, tuple[str, str | None] | None]:
        """Wait for the refresh claim. Returns the row as it is now and, if another
        relay has replaced the pair ``seen`` held, its access token and REST base
        (then the claim is not kept and Zoom need not be asked)."""
        _, vault = self.require()
        loop = asyncio.get_running_loop()
        hold = self._claim_hold()
        deadline = loop.time() + hold + self.settings.zoom_http_timeout
        pause = 0.01
        while True:
            taken = self.claims.take(name, hold)
            current = self.rows.get(seen.account_id)  # re-read, after taking it
            replaced = current is not None and self._replaced(seen, current)
            if taken and (current is None or not current.usable or replaced):
                self.claims.release(name)
            if current is None or not current.usable:
                raise ZoomNotConnected()
            if replaced:
                assert current.access_token is not None
                try:
                    return current, (vault.unseal(current.access_token), current.api_url)
                except VaultError:
                    taken = self.claims.take(name, hold)  # let the exchange deal with it
            if taken:
                return current, None
            if loop.time() >= deadline:
                raise ZoomUnavailable("another relay's refresh of these tokens did not finish")
            await asyncio.sleep(pause)
            pause = min(2 * pause, CLAIM_POLL_MAX)

    def _replaced(self, seen: ZoomConnection, current: ZoomConnection) -> bool:
        """Whether ``current`` holds another refresh token than ``seen`` did (the
        same one re-sealed by a key rotation is not another)."""
        if current.refresh_token == seen.refresh_token:
            return False
        if current.refresh_token is None or seen.refresh_token is None:
            return True
        _, vault = self.require()
        try:
            return vault.unseal(current.refresh_token) != vault.unseal(seen.refresh_token)
        except VaultError:
            return False

    async def _exchange(self, connection: ZoomConnection) -> tuple[str, str | None]:
        api, vault = self.require()
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
        sealed = self.seal(grant, connection.api_url)
        old_sealed = connection.refresh_token

        def still_ours(current: bytes) -> bool:
            # The same sealed bytes, or the same token re-sealed by a key rotation.
            if current == old_sealed:
                return True
            try:
                return vault.unseal(current) == refresh
            except VaultError:
                return False

        if not self.rows.replace_tokens(account_id, still_ours, sealed):
            # Disconnected or reconnected while Zoom answered: this pair is nobody's.
            # Revoke it only if no connection took over (a revoke may end them all).
            now_row = self.rows.get(account_id)
            if now_row is None or not now_row.usable:
                self.revoke_later(grant.access_token)
            raise ZoomNotConnected()
        log.info("refreshed the Zoom tokens of account %s", account_id)
        return grant.access_token, sealed.api_url

    async def with_token(
        self, account_id: str, call: Callable[[str, str | None], Awaitable[T]]
    ) -> T:
        """Run ``call(access_token, api_url)``; on a refused token refresh once and retry."""
        access, api_url = await self.access(account_id)
        try:
            return await call(access, api_url)
        except ZoomUnauthorized:
            access, api_url = await self.access(account_id, stale=access)
            return await call(access, api_url)

    async def keep_alive(self, account_id: str) -> None:
        """Refresh now so the refresh token never reaches the end of its life."""
        async with self.lock(account_id):
            connection = self.rows.get(account_id)
            if connection is None or not connection.usable:
                raise ZoomNotConnected()
            await self._refresh_locked(connection)
