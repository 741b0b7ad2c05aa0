"""When each background Zoom job falls due: pure bookkeeping, no I/O, no clock.

Two jobs per connection: a **keep-alive** refresh once two thirds of the
refresh token's configured lifetime have passed (so an idle connection never
expires), and a **presence re-read** for someone who has looked "in a
meeting" for ``reconcile_after`` seconds (a lost "meeting ended" must not
pause anyone forever), and once for every connection when the relay starts
(webhooks sent while it was down are lost to it).

:class:`Planner` is told the facts (:class:`Subject`: when the refresh token
runs out, since when the person is in a meeting) and what became of each run
(``keepalive_*`` / ``reconciled`` / ``reconcile_failed``) and answers, for a
given ``now``, what is due and when to look next. The integration reads the
database, runs the jobs and sleeps; everything it decides with is here, and is
tested with a fake clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Literal

Job = Literal["keepalive", "reconcile"]

#: Longest wait between keep-alive attempts that Zoom refuses for other reasons.
MAX_REFUSAL_BACKOFF: Final = 24 * 3600.0


@dataclass(frozen=True)
class Subject:
    """What the planner needs to know of one usable connection."""

    account_id: str
    refresh_expires_at: datetime | None
    #: Since when the person is in a meeting; ``None`` when not in one.
    in_meeting_since: datetime | None


@dataclass(frozen=True)
class Plan:
    """Jobs due now, in order, and when the next one falls due (``None``: nothing)."""

    due: list[tuple[Job, str]]
    next_at: datetime | None


@dataclass
class Planner:
    """Due times of every connection's keep-alive and presence re-read."""

    refresh_token_lifetime: float
    reconcile_after: float
    retry_delay: float
    _keepalive_not_before: dict[str, datetime] = field(default_factory=dict)
    _reconcile_not_before: dict[str, datetime] = field(default_factory=dict)
    _reconcile_at_start: set[str] = field(default_factory=set)
    #: Consecutive refusals (not a dead grant) of an account's keep-alive refresh.
    _refusals: dict[str, int] = field(default_factory=dict)

    # -- facts -----------------------------------------------------------------------

    def started(self, account_ids: Iterable[str]) -> None:
        """The relay (re)started: re-read everyone's presence once, now."""
        self._reconcile_at_start = set(account_ids)

    def connected(self, account_id: str) -> None:
        """A fresh connection: forget any backoff of the old one."""
        self._keepalive_not_before.pop(account_id, None)
        self._reconcile_not_before.pop(account_id, None)
        self._refusals.pop(account_id, None)

    def forget(self, account_id: str) -> None:
        """The account is gone."""
        self.connected(account_id)
        self._reconcile_at_start.discard(account_id)

    def keepalive_done(self, account_id: str) -> None:
        """Refreshed, or there is nothing left to keep alive."""
        self._keepalive_not_before.pop(account_id, None)
        self._refusals.pop(account_id, None)

    def keepalive_failed(self, account_id: str, now: datetime) -> None:
        """Zoom could not be reached or failed: try again after the retry delay."""
        self._keepalive_not_before[account_id] = now + timedelta(seconds=self.retry_delay)

    def keepalive_refused(self, account_id: str, now: datetime) -> float:
        """Zoom refused the refresh for a reason that will not pass by itself (a
        wrong client secret): back off, doubling up to a day. Returns the wait."""
        refusals = self._refusals.get(account_id, 0) + 1
        self._refusals[account_id] = refusals
        delay = min(MAX_REFUSAL_BACKOFF, self.retry_delay * 2.0 ** (refusals - 1))
        self._keepalive_not_before[account_id] = now + timedelta(seconds=delay)
        return delay

    def reconcile_ran(self, account_id: str, now: datetime, *, failed: bool = False) -> None:
        """A re-read ran; the next one is due ``reconcile_after`` on (sooner if it failed)."""
        self._reconcile_at_start.discard(account_id)
        after = min(self.reconcile_after, self.retry_delay) if failed else self.reconcile_after
        self._reconcile_not_before[account_id] = now + timedelta(seconds=after)

    def reconcile_done(self, account_id: str) -> None:
        """Nothing left to re-read (disconnected, or the account is gone)."""
        self._reconcile_at_start.discard(account_id)
        self._reconcile_not_before.pop(account_id, None)

    def held_elsewhere(self, job: Job, account_id: str, until: datetime) -> None:
        """Another relay holds the job until ``until``: not before then here."""
        if job == "keepalive":
            self._keepalive_not_before[account_id] = until
        else:
            self._reconcile_not_before[account_id] = until

    # -- decisions -------------------------------------------------------------------

    def not_before(self, job: Job, account_id: str) -> datetime | None:
        """The backoff or wait this planner keeps for the job, if any."""
        if job == "keepalive":
            return self._keepalive_not_before.get(account_id)
        return self._reconcile_not_before.get(account_id)

    def reconciles_at_start(self, account_id: str) -> bool:
        """Whether the account's start-up re-read is still to run."""
        return account_id in self._reconcile_at_start

    def keepalive_due(self, subject: Subject) -> datetime | None:
        if subject.refresh_expires_at is None:
            return None
        third = timedelta(seconds=self.refresh_token_lifetime / 3)
        due = subject.refresh_expires_at - third
        not_before = self._keepalive_not_before.get(subject.account_id)
        return max(due, not_before) if not_before else due

    def reconcile_due(self, subject: Subject, now: datetime) -> datetime | None:
        if subject.account_id in self._reconcile_at_start:
            return now
        if subject.in_meeting_since is None:
            return None
        due = subject.in_meeting_since + timedelta(seconds=self.reconcile_after)
        not_before = self._reconcile_not_before.get(subject.account_id)
        return max(due, not_before) if not_before else due

    def plan(self, subjects: Iterable[Subject], now: datetime) -> Plan:
        due: list[tuple[Job, str]] = []
        next_at: datetime | None = None
        for subject in subjects:
            times: tuple[tuple[Job, datetime | None], ...] = (
                ("keepalive", self.keepalive_due(subject)),
                ("reconcile", self.reconcile_due(subject, now)),
            )
            for job, at in times:
                if at is None:
                    continue
                if at <= now:
                    due.append((job, subject.account_id))
                elif next_at is None or at < next_at:
                    next_at = at
        return Plan(due, next_at)
