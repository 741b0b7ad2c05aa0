"""Sign-in throttling: failures per email and per client address slow further
attempts, then refuse them with 429 until the window has passed."""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    refused: bool
    delay: float
    retry_after: float


class SignInThrottle:
    def __init__(
        self,
        clock: Callable[[], float],
        window: float,
        slow_after: int,
        delay_step: float,
        max_delay: float,
        refuse_after: int,
    ) -> None:
        self._clock = clock
        self._window = window
        self._slow_after = slow_after
        self._delay_step = delay_step
        self._max_delay = max_delay
        self._refuse_after = refuse_after
        self._failures: dict[str, collections.deque[float]] = {}

    def _recent(self, key: str) -> collections.deque[float]:
        failures = self._failures.get(key)
        if failures is None:
            return collections.deque()
        cutoff = self._clock() - self._window
        while failures and failures[0] <= cutoff:
            failures.popleft()
        if not failures:
            del self._failures[key]
        return failures

    def check(self, keys: list[str]) -> Verdict:
        """How to treat an attempt whose email and address are ``keys``."""
        worst = max((len(self._recent(k)) for k in keys), default=0)
        if worst >= self._refuse_after:
            oldest = min(self._recent(k)[0] for k in keys if self._recent(k))
            return Verdict(True, 0.0, max(1.0, oldest + self._window - self._clock()))
        extra = worst - self._slow_after + 1
        delay = min(self._max_delay, self._delay_step * extra) if extra > 0 else 0.0
        return Verdict(False, delay, 0.0)

    def failed(self, keys: list[str]) -> None:
        now = self._clock()
        for key in keys:
            self._failures.setdefault(key, collections.deque()).append(now)

    def succeeded(self, keys: list[str]) -> None:
        for key in keys:
            self._failures.pop(key, None)
