"""Sign-in throttling that bounds guessing without letting strangers lock a
person out.

Failures are counted in three ways, each in a window (``window`` seconds from
the first failure it counts):

- per **account and address**: after ``slow_after`` failures answers are
  slowed, after ``refuse_after`` that address may not try that account again
  until the window ends;
- per **address**, whatever account it tries: after ``address_refuse_after``
  the address may not sign in at all until the window ends;
- per **account**, from everywhere: after ``account_alarm`` failures the
  account is under attack, and each address gets one try at it per window (a
  first try is still checked, so the owner's right password from a new
  address gets in).

There is no account-wide refusal: one would let anyone keep a person out by
failing on purpose. The guessing rate this allows is written down in the
README ("Reliability and security"). An account is named by its id when it
exists, so spellings of its email count together. IPv6 addresses are counted
by their /64, which one machine usually holds whole.

The counters are bounded: past ``max_tracked`` keys the least recently failed
ones are forgotten. One address can create only ``address_refuse_after`` of
them per window, so only an attack from very many addresses gets there.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    refused: bool
    delay: float
    retry_after: float


def address_key(host: str) -> str:
    """The throttle's name for a client address: IPv4 whole, IPv6 by its /64."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class FailureCounts:
    """Failures per key, each counted in a window from its first failure; at most
    ``max_keys`` keys, the least recently failed forgotten first."""

    def __init__(self, clock: Callable[[], float], window: float, max_keys: int) -> None:
        self._clock = clock
        self._window = window
        self._max_keys = max(1, max_keys)
        #: key -> (time of the window's first failure, failures in the window)
        self._counts: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._counts)

    def count(self, key: str) -> tuple[int, float]:
        """Failures of ``key`` in its current window, and seconds until it ends."""
        entry = self._counts.get(key)
        if entry is None:
            return 0, 0.0
        started, failures = entry
        left = started + self._window - self._clock()
        if left <= 0:
            del self._counts[key]
            return 0, 0.0
        return failures, left

    def add(self, key: str) -> None:
        failures, _ = self.count(key)
        entry = self._counts.get(key)
        started = entry[0] if entry is not None else self._clock()
        self._counts[key] = (started, failures + 1)
        self._counts.move_to_end(key)
        while len(self._counts) > self._max_keys:
            self._counts.popitem(last=False)

    def forget(self, key: str) -> None:
        self._counts.pop(key, None)


class SignInThrottle:
    def __init__(
        self,
        clock: Callable[[], float],
        window: float,
        slow_after: int,
        delay_step: float,
        max_delay: float,
        refuse_after: int,
        address_refuse_after: int = 30,
        account_alarm: int = 100,
        max_tracked: int = 100_000,
    ) -> None:
        self._slow_after = slow_after
        self._delay_step = delay_step
        self._max_delay = max_delay
        self._refuse_after = refuse_after
        self._address_refuse_after = address_refuse_after
        self._account_alarm = account_alarm
        self._failures = FailureCounts(clock, window, max_tracked)

    @property
    def tracked(self) -> int:
        """How many failure counters are held (bounded by ``max_tracked``)."""
        return len(self._failures)

    @staticmethod
    def _keys(account: str, address: str) -> tuple[str, str, str]:
        where = address_key(address)
        return f"p:{account}|{where}", f"a:{where}", f"u:{account}"

    def check(self, account: str, address: str) -> Verdict:
        """How to treat an attempt at ``account`` (an id, or a normalised email
        without one) from ``address``."""
        pair_key, address_key_, account_key = self._keys(account, address)
        pair, pair_left = self._failures.count(pair_key)
        from_address, address_left = self._failures.count(address_key_)
        on_account, _ = self._failures.count(account_key)
        if from_address >= self._address_refuse_after:
            return Verdict(True, 0.0, max(1.0, address_left))
        if pair >= self._refuse_after or (on_account >= self._account_alarm and pair >= 1):
            return Verdict(True, 0.0, max(1.0, pair_left))
        extra = pair - self._slow_after + 1
        delay = min(self._max_delay, self._delay_step * extra) if extra > 0 else 0.0
        return Verdict(False, delay, 0.0)

    def failed(self, account: str, address: str) -> None:
        for key in self._keys(account, address):
            self._failures.add(key)

    def succeeded(self, account: str, address: str) -> None:
        """The right password forgets this address's failures on this account only:
        signing in to one's own account must not reset guessing at others."""
        self._failures.forget(self._keys(account, address)[0])
