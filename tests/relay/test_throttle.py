from __future__ import annotations

from collections.abc import Callable

import pytest

from desktop.relay.storage import Store
from desktop.relay.throttle import SignInThrottle, address_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def make(store: Store) -> Callable[..., SignInThrottle]:
    def make(clock: Clock, **overrides: int) -> SignInThrottle:
        limits = {"refuse_after": 6, "address_refuse_after": 20, "account_alarm": 30}
        limits.update(overrides)
        return SignInThrottle(
            store, clock, window=60, slow_after=3, delay_step=0.5, max_delay=2.0, **limits
        )

    return make


def test_failures_slow_then_refuse_then_the_window_passes(
    make: Callable[..., SignInThrottle],
) -> None:
    clock = Clock()
    throttle = make(clock)
    delays = []
    for _ in range(6):
        verdict = throttle.check("ada", "10.0.0.1")
        assert not verdict.refused
        delays.append(verdict.delay)
        throttle.failed("ada", "10.0.0.1")
    assert delays == [0.0, 0.0, 0.0, 0.5, 1.0, 1.5]
    refused = throttle.check("ada", "10.0.0.1")
    assert refused.refused
    assert 0 < refused.retry_after <= 60
    clock.now += 61
    assert throttle.check("ada", "10.0.0.1") == throttle.check("fresh", "10.0.0.9")


def test_refused_attempts_do_not_renew_the_lock(make: Callable[..., SignInThrottle]) -> None:
    clock = Clock()
    throttle = make(clock)
    for _ in range(6):
        throttle.failed("ada", "10.0.0.1")
    clock.now += 59
    assert throttle.check("ada", "10.0.0.1").refused
    clock.now += 2
    assert not throttle.check("ada", "10.0.0.1").refused


def test_one_address_guessing_many_accounts_is_refused(make: Callable[..., SignInThrottle]) -> None:
    clock = Clock()
    throttle = make(clock)
    for i in range(20):
        throttle.failed(f"account{i}", "10.0.0.66")
    assert throttle.check("new", "10.0.0.66").refused
    assert not throttle.check("new", "10.0.0.67").refused


def test_success_forgets_only_that_account_from_that_address(
    make: Callable[..., SignInThrottle],
) -> None:
    clock = Clock()
    throttle = make(clock)
    for i in range(19):
        throttle.failed(f"victim{i}", "10.0.0.1")
    for _ in range(5):
        throttle.failed("mine", "10.0.0.1")
    throttle.succeeded("mine", "10.0.0.1")
    throttle.failed("victim", "10.0.0.1")
    assert throttle.check("victim", "10.0.0.1").refused  # 20 from the address in all


def test_an_account_under_attack_gives_each_address_one_try(
    make: Callable[..., SignInThrottle],
) -> None:
    clock = Clock()
    throttle = make(clock)
    for i in range(30):
        throttle.failed("ada", f"10.1.0.{i}")
    assert not throttle.check("ada", "10.2.0.1").refused  # a new address is checked
    throttle.failed("ada", "10.2.0.1")
    assert throttle.check("ada", "10.2.0.1").refused
    assert not throttle.check("bob", "10.1.0.1").refused


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::ffff", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("testclient", "testclient"),
    ],
)
def test_address_keys(host: str, key: str) -> None:
    assert address_key(host) == key


def test_the_counters_stay_bounded_under_one_off_keys(
    make: Callable[..., SignInThrottle],
) -> None:
    """1,000 one-off failures (each a new account and address) with the table
    capped at 100 counters: the least recently failed are deleted as they come,
    and the newest are still counted."""
    clock = Clock()
    throttle = make(clock, **{"max_tracked": 100, "refuse_after": 1})
    for i in range(1_000):
        clock.now += 0.001
        throttle.failed(f"account{i}", f"10.0.{i >> 8 & 255}.{i & 255}")
    assert throttle.tracked <= 100 + 3 * 10  # the cap, and one purge's worth of failures
    assert throttle.check("account999", "10.0.3.231").refused
    assert not throttle.check("account0", "10.0.0.0").refused


def test_ended_windows_are_purged(make: Callable[..., SignInThrottle]) -> None:
    clock = Clock()
    throttle = make(clock)
    throttle.failed("ada", "10.0.0.1")
    clock.now += 30
    throttle.failed("bob", "10.0.0.2")
    clock.now += 31
    assert throttle.purge() == 3  # ada's three counters; bob's are in their window
    assert throttle.tracked == 3


def test_two_relays_on_one_store_count_together(
    make: Callable[..., SignInThrottle],
) -> None:
    """Two throttles on one store (two relays on one database) share the counts:
    guessing spread over relays is refused as soon as guessing at one."""
    clock = Clock()
    first, second = make(clock), make(clock)
    for i in range(6):
        (first if i % 2 else second).failed("ada", "10.0.0.1")
    assert first.check("ada", "10.0.0.1").refused
    assert second.check("ada", "10.0.0.1").refused
    second.succeeded("ada", "10.0.0.1")
    assert not first.check("ada", "10.0.0.1").refused
