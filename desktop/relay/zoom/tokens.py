"""Each account's Zoom tokens in use: a usable access token on demand,
single-flight refresh, the keep-alive refresh, and a REST call retried once
with a refreshed token.

Refresh tokens rotate (ZOOM.md), so refreshing is single-flight per account
(one ``asyncio.Lock`` each) and the new pair is committed before it is used,
and only over the pair it replaces (a disconnect during a refresh wins). A
dead grant is handed to ``expire``, which marks the connection ``expired``,
deletes the tokens and pushes ``zoom_expired``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar

from desktop.relay.config import RelaySettings
from desktop.relay.zoom.api import TokenGrant, ZoomApi, ZoomGrantDead, ZoomUnauthorized
from desktop.relay.zoom.rows import Connection, SealedGrant, ZoomRows
from desktop.relay.zoom.vault import TokenVault, VaultError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Refresh an access token this long before Zoom says it expires.
ACCESS_MARGIN: Final = timedelta(seconds=60)


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
    ) -> None:
        self.settings = settings
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

    async def _refresh_locked(self, connection: Connection) -> tuple[str, str | None]:
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

    async def _refresh_and_commit(self, connection: Connection) -> tuple[str, str | None]:
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
