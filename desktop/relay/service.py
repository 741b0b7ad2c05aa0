"""Availability changes: apply a pure transition, commit it, then push it.

Every change of an account's state goes through :meth:`AvailabilityService.change`
(or :meth:`~AvailabilityService.change_soon`, its group-committed form for the
webhook hot path), which is what makes "committed, then pushed" and the growing
``seq`` hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import orjson

from desktop.core.availability import AccountAvailability, cause_of, settle
from desktop.core.wire import StateJson, live_message, state_document
from desktop.relay.broker import Broker
from desktop.relay.logs import describe_exception
from desktop.relay.storage import Store, StoredState, Transaction, ZoomSummary

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Transition = Callable[[AccountAvailability, datetime], AccountAvailability | None]
#: Runs inside the change's transaction, after the state is written (e.g. Zoom rows).
SideEffect = Callable[[Transaction], None]


#: Changes committed together at most; more in one loop pass commit in turn.
MAX_GROUP: Final = 256


class AccountGone(LookupError):
    """The account was deleted while a request about it was in flight."""


class GroupCommitFailed(Exception):
    """The transaction of a group of changes failed: none of them is committed."""


@dataclass(frozen=True)
class _Applied:
    account_id: str
    seq: int
    state: AccountAvailability
    document: StateJson


def _applied(
    stored: StoredState,
    zoom: ZoomSummary,
    before: AccountAvailability,
    after: AccountAvailability,
    seq: int,
    cause: str,
) -> _Applied:
    """A committed change and the state document it is pushed as."""
    document = state_document(
        seq=seq,
        account_id=stored.account_id,
        email=stored.email,
        state=after,
        zoom_email=zoom.email,
        zoom_since=zoom.since,
        zoom_problem=zoom.problem,
        cause=cause_of(before, after) or cause,
    )
    return _Applied(stored.account_id, seq, after, document)


@dataclass(frozen=True)
class _Pending:
    account_id: str
    transition: Transition
    cause: str
    future: asyncio.Future[StateJson | None]


class AvailabilityService:
    def __init__(self, store: Store, broker: Broker, clock: Clock) -> None:
        self.store = store
        self.broker = broker
        self.clock = clock
        self._expiry_timers: dict[str, asyncio.TimerHandle] = {}
        self._pending: list[_Pending] = []

    def document(self, account_id: str, cause: str = "snapshot") -> StateJson:
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
    ) -> StateJson | None:
        """Apply ``transition``; commit; push. ``None`` when nothing changed.

        ``cause`` is replaced by ``meeting_started``/``meeting_ended`` when the
        change starts or ends a meeting, since that is what clients announce.
        """
        now = self.clock()
        with self.store.transaction() as tx:
            applied = self._apply(tx, account_id, transition, cause, now, side_effect)
        if applied is None:
            return None
        self._announce(applied)
        return applied.document

    def change_soon(
        self, account_id: str, transition: Transition, cause: str
    ) -> asyncio.Future[StateJson | None]:
        """:meth:`change`, committed together with every other ``change_soon`` of
        this pass of the event loop, in one transaction (group commit): one
        commit, and with ``PROFITRINGER_DURABILITY=full`` one fsync, serves them
        all. The future is resolved only after that commit (then the documents
        are pushed); it raises :class:`AccountGone` for a deleted account, and
        :class:`GroupCommitFailed` for all of them when the commit fails."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[StateJson | None] = loop.create_future()
        self._pending.append(_Pending(account_id, transition, cause, future))
        if len(self._pending) == 1:
            loop.call_soon(self._commit_pending)
        elif len(self._pending) >= MAX_GROUP:
            self._commit_pending()
        return future

    def _commit_pending(self) -> None:
        group, self._pending = self._pending, []
        if not group:
            return
        now = self.clock()
        # A person's events are applied in the order they came.
        order = sorted(range(len(group)), key=lambda i: group[i].account_id)
        try:
            with self.store.transaction() as tx:
                outcomes = self._apply_group(tx, group, order, now)
        except Exception as exc:
            log.warning(
                "a group commit of %d changes failed: %s", len(group), describe_exception(exc)
            )
            for item in group:
                if not item.future.done():
                    failed = GroupCommitFailed(f"the commit of {len(group)} changes failed")
                    failed.__cause__ = exc
                    item.future.set_exception(failed)
            return
        for i in order:
            outcome = outcomes[i]
            if isinstance(outcome, _Applied):
                self._announce(outcome)
        for item, outcome in zip(group, outcomes, strict=True):
            if item.future.done():  # the request went away; the change stands
                continue
            if isinstance(outcome, AccountGone):
                item.future.set_exception(AccountGone(item.account_id))
            else:
                item.future.set_result(None if outcome is None else outcome.document)

    def _apply_group(
        self, tx: Transaction, group: list[_Pending], order: list[int], now: datetime
    ) -> list[_Applied | AccountGone | None]:
        """The changes of one group commit inside ``tx``, in two statements
        whatever the group's size: one reads and locks every account's row (in
        id order, so two relays committing overlapping groups never deadlock on
        PostgreSQL), one writes those that changed. On PostgreSQL, where every
        statement is a round trip, the round trips per webhook then fall as the
        load rises and the groups grow."""
        stored = tx.load_states_for_update([item.account_id for item in group])
        outcomes: list[_Applied | AccountGone | None] = [None] * len(group)
        latest: dict[str, tuple[AccountAvailability, int]] = {}
        for i in order:
            item = group[i]
            row = stored.get(item.account_id)
            if row is None:
                outcomes[i] = AccountGone(item.account_id)
                continue
            before, seq = latest.get(item.account_id, (row.state, row.seq))
            after = item.transition(before, now)
            if after is None or after == before:
                continue
            seq += 1
            latest[item.account_id] = (after, seq)
            assert row.zoom is not None
            outcomes[i] = _applied(row, row.zoom, before, after, seq, item.cause)
        tx.save_states(latest)
        return outcomes

    def _apply(
        self,
        tx: Transaction,
        account_id: str,
        transition: Transition,
        cause: str,
        now: datetime,
        side_effect: SideEffect | None = None,
    ) -> _Applied | None:
        """One change inside ``tx``; ``None`` when nothing changed."""
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
        return _applied(stored, zoom, stored.state, after, seq, cause)

    def _announce(self, applied: _Applied) -> None:
        """After the commit: push the document, arm the override's timer."""
        message = orjson.dumps(live_message("update", applied.document)).decode()
        self.broker.publish_state(applied.account_id, applied.seq, message)
        self._schedule_expiry(applied.account_id, applied.state)

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
