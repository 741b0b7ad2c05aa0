"""The Zoom planner's due times with a fake clock: pure, table-like cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from desktop.relay.zoom.planner import MAX_REFUSAL_BACKOFF, Plan, Planner, Subject

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DAY = 24 * 3600.0


def planner() -> Planner:
    # A 90-day refresh token, re-read after 2 hours in a meeting, retry after 5 minutes.
    return Planner(refresh_token_lifetime=90 * DAY, reconcile_after=7200, retry_delay=300)


def fresh(account_id: str = "a", in_meeting_since: datetime | None = None) -> Subject:
    """A connection made at T0."""
    return Subject(account_id, T0 + timedelta(days=90), in_meeting_since)


def test_an_idle_connection_is_kept_alive_at_two_thirds_of_its_life() -> None:
    plans = planner()
    assert plans.plan([fresh()], T0) == Plan([], T0 + timedelta(days=60))
    assert plans.plan([fresh()], T0 + timedelta(days=60)).due == [("keepalive", "a")]
    plans.keepalive_done("a")
    renewed = Subject("a", T0 + timedelta(days=150), None)
    assert plans.plan([renewed], T0 + timedelta(days=60)).next_at == T0 + timedelta(days=120)


def test_a_failed_keepalive_waits_the_retry_delay() -> None:
    plans = planner()
    at = T0 + timedelta(days=60)
    plans.keepalive_failed("a", at)
    assert plans.plan([fresh()], at) == Plan([], at + timedelta(seconds=300))
    assert plans.plan([fresh()], at + timedelta(seconds=300)).due == [("keepalive", "a")]


def test_refusals_back_off_doubling_up_to_a_day_and_a_new_connection_forgets() -> None:
    plans = planner()
    at = T0 + timedelta(days=60)
    waits = [plans.keepalive_refused("a", at) for _ in range(12)]
    assert waits[:4] == [300, 600, 1200, 2400]
    assert waits[-1] == MAX_REFUSAL_BACKOFF
    assert plans.plan([fresh()], at).next_at == at + timedelta(seconds=MAX_REFUSAL_BACKOFF)
    plans.connected("a")
    assert plans.plan([fresh()], at).due == [("keepalive", "a")]
    assert plans.keepalive_refused("a", at) == 300


def test_a_long_meeting_is_re_read_then_every_reconcile_after() -> None:
    plans = planner()
    meeting = fresh(in_meeting_since=T0)
    assert plans.plan([meeting], T0).next_at == T0 + timedelta(hours=2)
    two_hours = T0 + timedelta(hours=2)
    assert plans.plan([meeting], two_hours).due == [("reconcile", "a")]
    plans.reconcile_ran("a", two_hours)
    assert plans.plan([meeting], two_hours).next_at == two_hours + timedelta(hours=2)
    plans.reconcile_ran("a", two_hours, failed=True)  # sooner after a failure
    assert plans.plan([meeting], two_hours).next_at == two_hours + timedelta(seconds=300)


def test_nobody_out_of_a_meeting_is_re_read_except_once_at_start() -> None:
    plans = planner()
    subjects = [fresh("a"), fresh("b", in_meeting_since=T0)]
    plans.started(["a", "b"])
    assert plans.plan(subjects, T0).due == [("reconcile", "a"), ("reconcile", "b")]
    plans.reconcile_ran("a", T0)
    plans.reconcile_ran("b", T0)
    assert plans.plan(subjects, T0) == Plan([], T0 + timedelta(hours=2))


def test_a_forgotten_account_starts_over() -> None:
    plans = planner()
    plans.started(["a"])
    plans.keepalive_failed("a", T0)
    plans.forget("a")
    assert plans.plan([fresh()], T0) == Plan([], T0 + timedelta(days=60))
