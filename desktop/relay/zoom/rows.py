"""The Zoom rows of the relay's store: connections and pending OAuth states.

A thin view of :class:`Store` for the Zoom code; the statements are in
``desktop/relay/storage``. The ``*_in`` methods take the open transaction of
an availability change (so the row and the state commit together), the others
open their own. Secrets arrive and leave sealed (bytes from the vault); this
module never sees a token in clear.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from desktop.relay.storage import LinkConflict, SealedGrant, Store, Transaction, ZoomConnection

__all__ = ["LinkConflict", "SealedGrant", "ZoomRows"]


class ZoomRows:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- connections ----------------------------------------------------------------------

    def get(self, account_id: str) -> ZoomConnection | None:
        return self.store.zoom_connection(account_id)

    def by_zoom_user(self, zoom_user_id: str) -> ZoomConnection | None:
        """The connection linked to this Zoom user id, matched in any case (a field
        report says Zoom's webhooks carry the id lowercased)."""
        return self.store.zoom_by_user(zoom_user_id)

    def connected(self) -> list[ZoomConnection]:
        return self.store.zoom_connected()

    def link_in(
        self,
        tx: Transaction,
        account_id: str,
        zoom_user_id: str,
        zoom_email: str,
        grant: SealedGrant,
        now: datetime,
    ) -> None:
        """Record a new connection (replacing the account's old one). The Zoom user
        must be free: end another account's link to it first."""
        tx.link_zoom(account_id, zoom_user_id, zoom_email, grant, now)

    def replace_tokens(
        self, account_id: str, still_ours: Callable[[bytes], bool], grant: SealedGrant
    ) -> bool:
        """Store a refreshed pair, only if the row still holds the refresh token
        that was refreshed (``still_ours`` of its sealed value): it may have been
        disconnected or reconnected during the refresh."""
        return self.store.replace_zoom_tokens(account_id, still_ours, grant)

    def end_in(
        self,
        tx: Transaction,
        account_id: str,
        state: str,
        now: datetime,
        problem: tuple[str, str] | None = None,
    ) -> None:
        """Delete the tokens and unlink the Zoom user; ``state`` is disconnected or
        expired (an expired connection keeps its email so the UI can name it).
        ``problem`` is ``(code, message)`` when the person must hear why; a row is
        made for it if the account never had one."""
        tx.end_zoom(account_id, state, now, problem)

    # -- OAuth states -----------------------------------------------------------------------

    def add_oauth_state(
        self,
        state_hash: str,
        account_id: str,
        sealed_verifier: bytes,
        expires_at: datetime,
        now: datetime,
    ) -> None:
        self.store.add_oauth_state(state_hash, account_id, sealed_verifier, expires_at, now)

    def take_oauth_state(self, state_hash: str) -> tuple[str, bytes, datetime] | None:
        """Delete the state and return ``(account_id, sealed verifier, expires_at)``."""
        return self.store.take_oauth_state(state_hash)
