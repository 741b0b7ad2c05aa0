from __future__ import annotations

from desktop.relay.throttle import SignInThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(clock: Clock) -> SignInThrottle:
    return SignInThrottle(
        clock, window=60, slow_after=3, delay_step=0.5, max_delay=2.0, refuse_after=6
    )


def test_failures_slow_then_refuse_then_the_window_passes() -> None:
    clock = Clock()
    throttle = make(clock)
    keys = ["email:a", "addr:1"]
    delays = []
    for _ in range(6):
        verdict = throttle.check(keys)
        assert not verdict.refused
        delays.append(verdict.delay)
        throttle.failed(keys)
    assert delays == [0.0, 0.0, 0.0, 0.5, 1.0, 1.5]
    refused = throttle.check(keys)
    assert refused.refused
    assert 0 < refused.retry_after <= 60
    clock.now += 61
    assert throttle.check(keys) == throttle.check(["email:fresh"])


def test_one_address_guessing_many_emails_is_refused() -> None:
    clock = Clock()
    throttle = make(clock)
    for i in range(6):
        throttle.failed([f"email:{i}", "addr:attacker"])
    assert throttle.check(["email:new", "addr:attacker"]).refused
    assert not throttle.check(["email:new", "addr:someone-else"]).refused


def test_success_forgets_only_the_email() -> None:
    clock = Clock()
    throttle = make(clock)
    for _ in range(6):
        throttle.failed(["email:a", "addr:1"])
    throttle.succeeded(["email:a"])
    assert throttle.check(["email:a", "addr:1"]).refused
    assert not throttle.check(["email:a", "addr:2"]).refused
