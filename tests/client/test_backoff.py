"""The reconnect policy, table-driven."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from desktop.client.live import Backoff


@pytest.mark.parametrize(
    ("attempt", "draw", "expected"),
    [
        (0, 0.5, 0.5),  # no jitter at the middle of the draw
        (1, 0.5, 1.0),
        (2, 0.5, 2.0),
        (3, 0.5, 4.0),
        (0, 0.0, 0.35),  # 30 % below
        (0, 1.0, 0.65),  # 30 % above
        (7, 0.5, 60.0),  # capped
        (20, 0.5, 60.0),
        (10_000, 0.5, 60.0),  # no overflow
        (10_000, 0.0, 42.0),
    ],
)
def test_delay_table(attempt: int, draw: float, expected: float) -> None:
    assert Backoff().delay(attempt, draw) == pytest.approx(expected)


def test_custom_policy() -> None:
    policy = Backoff(base=0.05, factor=3.0, cap=1.0, jitter=0.0)
    assert [policy.delay(n, 0.9) for n in range(5)] == pytest.approx([0.05, 0.15, 0.45, 1.0, 1.0])


def test_negative_attempt_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        Backoff().delay(-1, 0.5)


@given(st.integers(min_value=0, max_value=500), st.floats(min_value=0.0, max_value=0.999999))
def test_delay_stays_within_the_jitter_band(attempt: int, draw: float) -> None:
    policy = Backoff()
    delay = policy.delay(attempt, draw)
    assert 0 < delay <= policy.cap * (1 + policy.jitter)
    assert delay >= min(policy.cap, policy.base * policy.factor ** min(attempt, 64)) * 0.7 - 1e-9
