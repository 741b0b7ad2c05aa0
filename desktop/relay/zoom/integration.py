"""The façade of the Zoom integration: what the HTTP layer (routes.py,
webhooks.py) calls. It holds disconnect, deauthorization, presence,
reconciliation and meeting links itself, and composes the rest:
``connecting`` (connect links and the callback), ``tokens`` (single-flight
refresh, keep-alive, the with-token retry) and ``planner`` (when each
background job falls due).

Every change of an account's state goes through
``AvailabilityService.change`` with the Zoom row written in the same
transaction, so a state pushed to clients is always the committed one; the
transitions it is given are pure (none reads the database).

One background task (:meth:`ZoomIntegration.start`) sleeps until the planner's
next due time, runs what is due, and re-plans; any change that matters wakes
it, and when nothing is due it sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import httpx

from desktop.core import availability as rules
from desktop.core.wire import StateJson, iso
from desktop.relay.claims import Claims
from desktop.relay.relay import Relay
from desktop.relay.service import AccountGone
from desktop.relay.storage import StorageError, Transaction, ZoomConnection
from desktop.relay.zoom.client import (
    TokenGrant,
    ZoomApi,
    ZoomError,
    ZoomRefused,
    ZoomUnavailable,
)
from desktop.relay.zoom.connecting import (
    CALLBACK_PATH,
    Connected,
    ConnectFailed,
    ConnectFlow,
)
from desktop.relay.zoom.planner import Job, Planner, Subject
from desktop.relay.zoom.rows import SealedGrant, ZoomRows
from desktop.relay.zoom.tokens import (
    ZoomConnectionExpired,
    ZoomNotConfigured,
    ZoomNotConnected,
    ZoomTokens,
)
from desktop.relay.zoom.vault import TokenVault, VaultError, reencrypt_all

__all__ = [
    "CALLBACK_PATH",
    "ConnectFailed",
    "Connected",
    "ZoomConnectionExpired",
    "ZoomIntegration",
    "ZoomMeeting",
    "ZoomNotConfigured",
    "ZoomNotConnected",
]

log = logging.getLogger(__name__)

#: The planner re-plans at least this often, in case the wall clock jumps.
MAX_SLEEP: Final = 3600.0
#: At most one grant check per connection this often on unverified removal hints.
HINT_INTERVAL: Final = timedelta(seconds=60)
#: A presence event dated further ahead than this is not applied (ZOOM.md).
MAX_EVENT_AHEAD_MS: Final = 5 * 60 * 1000


@dataclass(frozen=True)
class ZoomMeeting:
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
        self.claims = Claims(relay.store, relay.clock)
        self.tokens = ZoomTokens(
            self.settings,
            relay.clock,
            self.rows,
            api=api,
            vault=vault,
            expire=self._expire,
            claims=self.claims,
        )
        self._wake_event: asyncio.Event | None = None
        #: When the planner, asleep, will look again by itself.
        self._planner_wakes_at: datetime | None = None
        self._task: asyncio.Task[None] | None = None
        self._background = self.tokens.background
        self.planner = Planner(
            refresh_token_lifetime=self.settings.zoom_refresh_token_lifetime,
            reconcile_after=self.settings.zoom_reconcile_after,
            retry_delay=self.settings.zoom_retry_delay,
        )
        self._hint_checked_at: dict[str, datetime] = {}
        self.connecting = ConnectFlow(
            relay, self.rows, self.tokens, end=self._end, connected=self._connected
        )

    # -- small helpers ------------------------------------------------------------------

    @property
    def configured(self) -> bool:
        return self.api is not None and self.vault is not None

    def _require(self) -> tuple[ZoomApi, TokenVault]:
        return self.tokens.require()

    def _now(self) -> datetime:
        return self.relay.clock()

    def _now_ms(self) -> int:
        return int(self._now().timestamp() * 1000)

    def _wake(self) -> None:
        if self._wake_event is not None:
            self._wake_event.set()

    def _wake_if_due_before(self, due: datetime) -> None:
        """Wake the planner only if ``due`` comes before it would look anyway:
        presence webhooks arrive by the thousand, and each wake is a full pass."""
        wakes_at = self._planner_wakes_at
        if wakes_at is None or due < wakes_at:
            self._wake()

    def _seal(self, grant: TokenGrant) -> SealedGrant:
        return self.tokens.seal(grant)

    def _revoke_later(self, access_token: str) -> None:
        self.tokens.revoke_later(access_token)

    # -- connect (connecting.py) ------------------------------------------------------

    def begin_connect(self, account_id: str) -> str:
        """A one-time authorize URL bound to the account (state + PKCE S256)."""
        return self.connecting.begin(account_id)

    def deny_connect(self, state: str) -> None:
        """Consent was refused at Zoom: forget the state, change nothing."""
        self.connecting.deny(state)

    async def complete_connect(self, state: str, code: str) -> Connected:
        """The OAuth callback (see :meth:`ConnectFlow.complete`)."""
        return await self.connecting.complete(state, code)

    def _connected(self, account_id: str) -> None:
        self.planner.connected(account_id)
        self._wake()

    # -- ending a connection ------------------------------------------------------------

    def _end(
        self,
        account_id: str,
        state: rules.ZoomState,
        cause: str,
        problem: tuple[str, str] | None = None,
    ) -> StateJson:
        def transition(s: rules.AccountAvailability, now: datetime) -> rules.AccountAvailability:
            return rules.set_zoom_state(s, state, now)

        def side_effect(db: Transaction) -> None:
            self.rows.end_in(db, account_id, state, self._now(), problem)

        document = self.relay.service.change(account_id, transition, cause, side_effect)
        assert document is not None
        self._wake()
        return document

    async def disconnect(self, account_id: str) -> StateJson:
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

        # Read here, not in the transition (which stays pure): nothing can run
        # between this synchronous read and the change below.
        current = self.rows.get(account_id)
        if current is None or current.refresh_token != dead_refresh_token:
            return

        def transition(s: rules.AccountAvailability, now: datetime) -> rules.AccountAvailability:
            return rules.set_zoom_state(s, "expired", now)

        def side_effect(db: Transaction) -> None:
            self.rows.end_in(db, account_id, "expired", self._now())

        with contextlib.suppress(AccountGone):
            if self.relay.service.change(account_id, transition, "zoom_expired", side_effect):
                log.warning("the Zoom connection of account %s expired; tokens deleted", account_id)
        self._wake()

    async def on_account_deleted(self, account_id: str) -> None:
        """Account deletion hook: revoke at Zoom, best effort (the store deletes the rows)."""
        connection = self.rows.get(account_id)
        self.planner.forget(account_id)
        self._hint_checked_at.pop(account_id, None)
        self.tokens.forget(account_id)
        if connection is None or connection.access_token is None:
            return
        if self.api is None or self.vault is None:
            return
        try:
            access = self.vault.unseal(connection.access_token)
        except VaultError:
            return
        await self.api.revoke(access)

    # -- presence -----------------------------------------------------------------------

    async def presence_event(self, zoom_user_id: str, status: str, event_ts: int) -> str:
        """Apply a webhook presence event: ``applied``, ``ignored`` (stale, a
        repeat, or dated more than 5 minutes ahead) or ``unknown`` (no account has
        this Zoom user, matched in any case; nothing kept). Returns once the
        change is committed, together with the other events of this loop pass."""
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
            document = await self.relay.service.change_soon(
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
        said = await self.tokens.with_token(account_id, lambda t, u: api.presence(t, u))
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
    ) -> ZoomMeeting:
        api, _ = self._require()
        request: dict[str, Any] = {"topic": topic, "type": 2 if start_time else 1}
        if start_time is not None:
            request["start_time"] = iso(start_time)
            request["timezone"] = "UTC"
        if duration_minutes is not None:
            request["duration"] = duration_minutes
        result = await self.tokens.with_token(
            account_id, lambda t, u: api.create_meeting(t, u, request)
        )
        join_url = result.get("join_url")
        if not isinstance(join_url, str) or not join_url.startswith(("https://", "http://")):
            raise ZoomUnavailable("Zoom's meeting answer has no join_url")
        start = result.get("start_time")
        return ZoomMeeting(
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
        self.planner.started(c.account_id for c in self.rows.connected())
        self._task = asyncio.get_running_loop().create_task(self._plan_forever())

    async def stop(self) -> None:
        """Stop hook: let refreshes in flight commit, end the planner and any
        best-effort revokes; close HTTP."""
        if self.tokens.refreshing:
            await asyncio.wait(set(self.tokens.refreshing), timeout=self.settings.zoom_http_timeout)
        tasks = [t for t in (self._task, *self._background) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._task = None
        if self._http is not None:
            await self._http.aclose()

    def _subjects(self) -> list[Subject]:
        """What the planner needs of every usable connection, read from the store."""
        return [self._subject_of(connection) for connection in self.rows.connected()]

    def _subject_of(self, connection: ZoomConnection) -> Subject:
        stored = self.relay.store.load_state(connection.account_id)
        since = None
        if stored is not None and stored.state.in_meeting:
            since = stored.state.in_meeting_since
        return Subject(connection.account_id, connection.refresh_expires_at, since)

    def _job_hold(self) -> float:
        """How long a running job's claim is held (a keep-alive may wait for a
        refresh claim first); a relay killed mid-job loses it after this."""
        return 3 * self.settings.zoom_http_timeout + 10

    async def _run_claimed(
        self, job: Job, account_id: str, run: Callable[[str], Awaitable[None]]
    ) -> None:
        """Run a due job if this relay wins its claim ``<job>:<account>``.

        Several relays on one database plan the same jobs; the claim makes one
        of them run each. The winner re-checks against the row as it is now (the
        job may have just been done elsewhere), and afterwards holds the claim
        until the job is next due by its own plan, so the others wait as long.
        The re-read at start is the exception: each relay that starts does its
        own, since webhooks may have been lost while every relay was down.
        """
        if job == "reconcile" and self.planner.reconciles_at_start(account_id):
            await run(account_id)
            return
        name = f"{job}:{account_id}"
        if not self.claims.take(name, self._job_hold()):
            until = self.claims.held_until(name)
            if until is None:  # released just now: look again soon
                until = self._now() + timedelta(seconds=1)
            self.planner.held_elsewhere(job, account_id, until)
            return
        connection = self.rows.get(account_id)
        if connection is None or not connection.usable:
            self.claims.release(name)
            return
        due = self.planner.plan([self._subject_of(connection)], self._now()).due
        if (job, account_id) not in due:
            self.claims.release(name)  # done elsewhere since this relay planned
            return
        try:
            await run(account_id)
        finally:
            next_at = self.planner.not_before(job, account_id)
            self.claims.keep_until(name, next_at or self._now())

    async def _plan_forever(self) -> None:
        assert self._wake_event is not None
        jobs: dict[Job, Callable[[str], Awaitable[None]]] = {
            "keepalive": self._keepalive_job,
            "reconcile": self._reconcile_job,
        }
        while True:
            self._wake_event.clear()
            self._planner_wakes_at = None
            now = self._now()
            plan = self.planner.plan(self._subjects(), now)
            if plan.due:
                for job, account_id in plan.due:
                    try:
                        await self._run_claimed(job, account_id, jobs[job])
                    except StorageError as exc:  # the planner must outlive the database
                        log.warning("cannot claim the %s of account %s: %s", job, account_id, exc)
                        retry = timedelta(seconds=self.settings.zoom_retry_delay)
                        self.planner.held_elsewhere(job, account_id, self._now() + retry)
                continue
            # A relay is woken by its own changes only. With a shared database,
            # another relay's (a meeting that started there) reach this one's
            # plan at its next look, so that it takes the job over within
            # that long should the other relay die.
            longest = MAX_SLEEP
            if self.settings.shared_database:
                longest = min(MAX_SLEEP, self.settings.zoom_plan_interval)
            timeout = longest
            if plan.next_at is not None:
                timeout = min(longest, max(0.0, (plan.next_at - now).total_seconds()))
            self._planner_wakes_at = now + timedelta(seconds=timeout)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_event.wait(), timeout)

    async def keep_alive(self, account_id: str) -> None:
        """Refresh the account's tokens now (see :meth:`ZoomTokens.keep_alive`)."""
        await self.tokens.keep_alive(account_id)

    async def _keepalive_job(self, account_id: str) -> None:
        try:
            await self.keep_alive(account_id)
        except (ZoomNotConnected, AccountGone):
            self.planner.keepalive_done(account_id)
        except ZoomRefused as exc:
            # Not a dead grant (that expires the connection) but a refusal that
            # will not pass by itself, such as a wrong client secret.
            delay = self.planner.keepalive_refused(account_id, self._now())
            log.warning(
                "Zoom refused the keep-alive refresh for account %s: %s; trying again in %.0f s",
                account_id,
                exc,
                delay,
            )
        except Exception as exc:  # the planner must outlive any one failure
            log.warning("keep-alive refresh for account %s failed: %s", account_id, _safe(exc))
            self.planner.keepalive_failed(account_id, self._now())
        else:
            self.planner.keepalive_done(account_id)

    async def _reconcile_job(self, account_id: str) -> None:
        try:
            await self.reconcile(account_id)
        except (ZoomNotConnected, AccountGone):
            self.planner.reconcile_done(account_id)
            return
        except Exception as exc:  # the planner must outlive any one failure
            log.warning("presence re-read for account %s failed: %s", account_id, _safe(exc))
            self.planner.reconcile_ran(account_id, self._now(), failed=True)
            return
        self.planner.reconcile_ran(account_id, self._now())


def _safe(exc: BaseException) -> str:
    """Our own Zoom errors have safe texts; anything else is named by type only."""
    return str(exc) if isinstance(exc, ZoomError) else type(exc).__name__
