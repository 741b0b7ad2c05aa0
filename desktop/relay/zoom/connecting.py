"""Connecting an account to Zoom: the one-time ``state`` and PKCE verifier of
the authorize link, and the OAuth callback that exchanges the code, links the
Zoom user and pushes ``zoom_connected``.

Zoom keeps one valid grant per Zoom user and app (ZOOM.md): the exchange
kills any other account's grant for the same Zoom user, so that account is
ended with the reason in words, and the new link wins. A grant without
``user:read:presence_status`` or ``meeting:write:meeting`` is refused, in
words that name what the operator must fix.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol

from desktop.core import availability as rules
from desktop.core.wire import StateJson
from desktop.relay.relay import Relay
from desktop.relay.service import AccountGone
from desktop.relay.storage import Transaction, ZoomConnection
from desktop.relay.zoom import link_policy
from desktop.relay.zoom.client import ZoomError, ZoomRateLimited, ZoomUnavailable, ZoomUser
from desktop.relay.zoom.rows import LinkConflict, ZoomRows
from desktop.relay.zoom.tokens import ZoomNotConfigured, ZoomTokens
from desktop.relay.zoom.vault import VaultError

log = logging.getLogger(__name__)

CALLBACK_PATH: Final = "/oauth/zoom/callback"
#: How long a connect link (its ``state`` and PKCE verifier) stays usable.
STATE_LIFETIME: Final = timedelta(minutes=10)


class EndConnection(Protocol):
    """Ends an account's connection: tokens deleted, state pushed with ``cause``."""

    def __call__(
        self,
        account_id: str,
        state: rules.ZoomState,
        cause: str,
        problem: tuple[str, str] | None = None,
    ) -> StateJson: ...


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


def _state_hash(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class ConnectFlow:
    """Connect links and the callback, for every account of one relay."""

    def __init__(
        self,
        relay: Relay,
        rows: ZoomRows,
        tokens: ZoomTokens,
        *,
        end: EndConnection,
        connected: Callable[[str], None],
    ) -> None:
        self.relay = relay
        self.rows = rows
        self.tokens = tokens
        self._end = end
        self._connected = connected

    @property
    def redirect_uri(self) -> str:
        return self.relay.settings.base_url + CALLBACK_PATH

    def _now(self) -> datetime:
        return self.relay.clock()

    def _now_ms(self) -> int:
        return int(self._now().timestamp() * 1000)

    def begin(self, account_id: str) -> str:
        """A one-time authorize URL bound to the account (state + PKCE S256)."""
        api, vault = self.tokens.require()
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
        _, vault = self.tokens.require()
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

    def deny(self, state: str) -> None:
        """Consent was refused at Zoom: forget the state, change nothing."""
        with contextlib.suppress(ConnectFailed, ZoomNotConfigured):
            self._take_state(state)

    async def complete(self, state: str, code: str) -> Connected:
        """The OAuth callback: check state, exchange the code, link and push.

        Zoom keeps one valid grant per Zoom user and app (ZOOM.md), so the code
        exchange has already killed any other account's grant for this Zoom
        user: that account is ended with a reason in words, never left showing
        "connected" on dead tokens, and the new link wins.
        """
        api, _ = self.tokens.require()
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
        # Zoom's code exchange has already killed any other account's grant for
        # this Zoom user, so that account is ended whatever the policy says.
        taken_from = self._end_other_holder(account_id, user)
        # The operator's link policy, before anything of this account is touched
        # (not revoked, for the same reason as above).
        stored = self.relay.store.load_state(account_id)
        if refusal := link_policy.link_refusal(
            self.relay.settings.zoom_link_policy, stored.email if stored else None, user.email
        ):
            log.info("the link policy refused a Zoom user for account %s", account_id)
            raise ConnectFailed(403, *refusal)
        missing = grant.missing_scopes()
        if missing:
            self._refuse_for_scopes(account_id, user, missing)
            self.tokens.revoke_later(grant.access_token)
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
        sealed = self.tokens.seal(grant)
        previous = self.rows.get(account_id)
        event_ts = self._now_ms()

        def transition(
            state: rules.AccountAvailability, now: datetime
        ) -> rules.AccountAvailability:
            connected = rules.set_zoom_state(state, "connected", now)
            if presence is None:
                return connected
            return rules.apply_presence(connected, presence, event_ts, now) or connected

        def link(db: Transaction) -> None:
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
        self._connected(account_id)
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

    def _retire(self, previous: ZoomConnection) -> None:
        """Revoke a replaced connection's grant, best effort. Not done when the same
        Zoom user reconnects: Zoom's revoke may end the user's whole authorization."""
        if previous.access_token is None or self.tokens.vault is None:
            return
        with contextlib.suppress(VaultError):
            self.tokens.revoke_later(self.tokens.vault.unseal(previous.access_token))
