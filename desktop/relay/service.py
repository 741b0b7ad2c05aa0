"""Availability changes: apply a pure transition, commit it, then push it.

Every change of an account's state goes through :meth:`AvailabilityService.change`,
which is what makes "committed, then pushed" and the growing ``seq`` hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from desktop.core.availability import AccountAvailability, cause_of, settle
from desktop.core.wire import live_message, state_document
from desktop.relay.broker import Broker
from desktop.relay.storage import Store, Transaction

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Transition = Callable[[AccountAvailability, datetime], AccountAvailability | None]
#: Runs inside the change's transaction, after the state is written (e.g. Zoom rows).
SideEffect = Callable[[Transaction], None]


class AccountGone(LookupError):
    """The account was deleted while a request about it was in flight."""


class AvailabilityService:
    def __init__(self, store: Store, broker: Broker, clock: Clock) -> None:
        self.store = store
        self.broker = broker
        self.clock = clock
        self._expiry_timers: dict[str, asyncio.TimerHandle] = {}

    def document(self, account_id: str, cause: str = "snapshot") -> dict[str, Any]:
        """The account's current state document (time-bound overrides settled)."""
        stored = self.store.load_state(account_id)
        if stored is None:
            raise AccountGone(account_id)
        now = self.clock()
        settled = settle(stored.state, now)
        if settled != stored.state:
            changed = self.change(account_id, lambda s, n: settle(s, n), "override_expired")
            if changed is not None:
                return changed
        zoom = self.store.zoom_summary(account_id)
        return state_document(
            seq=stored.seq,
            account_id=stored.account_id,
            email=stored.email,
            state=stored.state,
            zoom_email=zoom.email,
            zoom_since=zoom.since,
            zoom_problem=zoom.problem,
            cause=cause,
        )

    def change(
        self,
        account_id: str,
        transition: Transition,
        cause: str,
        side_effect: SideEffect | None = None,
    ) -> dict[str, Any] | None:
        """Apply ``transition``; commit; push. ``None`` when nothing changed.

        ``cause`` is replaced by ``meeting_started``/``meeting_ended`` when the
        change starts or ends a meeting, since that is what clients announce.
        """
        now = self.clock()
        with self.store.transaction() as tx:
            # The row stays locked until the commit: on PostgreSQL a change of the
            # same account on another relay waits here, then reads this one's result.
            stored = tx.load_state_for_update(account_id)
            if stored is None:
                raise AccountGone(account_id)
            after = transition(stored.state, now)
            if after is None or (after == stored.state and side_effect is None):
                return None
            zoom = stored.zoom
            if side_effect is not None:
                side_effect(tx)
                zoom = tx.zoom_summary(account_id)  # the side effect may have changed it
            seq = tx.save_state(account_id, after)
        assert zoom is not None
        cause = cause_of(stored.state, after) or cause
        document = state_document(
            seq=seq,
            account_id=account_id,
            email=stored.email,
            state=after,
            zoom_email=zoom.email,
            zoom_since=zoom.since,
            zoom_problem=zoom.problem,
            cause=cause,
        )
        self.broker.publish_state(account_id, seq, json.dumps(live_message("update", document)))
        self._schedule_expiry(account_id, after)
        return document

    def _schedule_expiry(self, account_id: str, state: AccountAvailability) -> None:
        """Arm one timer for a time-bound override's end, so it clears on time
        and is pushed, with no polling."""
        timer = self._expiry_timers.pop(account_id, None)
        if timer is not None:
            timer.cancel()
        override = state.override
        if override is None or override.ends_at is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # not serving (an admin command): the next read settles it
        delay = max(0.0, (override.ends_at - self.clock()).total_seconds())
        self._expiry_timers[account_id] = loop.call_later(delay, self._expire, account_id)

    def _expire(self, account_id: str) -> None:
        self._expiry_timers.pop(account_id, None)
        with contextlib.suppress(AccountGone):
            self.change(account_id, lambda s, n: settle(s, n), "override_expired")

    def arm_all(self) -> None:
        """At start: settle overrides that ran out while the relay was down, arm the rest."""
        for account_id in self.store.account_ids():
            stored = self.store.load_state(account_id)
            if stored is not None:
                if settle(stored.state, self.clock()) != stored.state:
                    self.change(account_id, lambda s, n: settle(s, n), "override_expired")
                else:
                    self._schedule_expiry(account_id, stored.state)

    def forget(self, account_id: str) -> None:
        timer = self._expiry_timers.pop(account_id, None)
        if timer is not None:
            timer.cancel()

    def stop(self) -> None:
        for timer in self._expiry_timers.values():
            timer.cancel()
        self._expiry_timers.clear()
