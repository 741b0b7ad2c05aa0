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

The counters live in the store, so several relays on one database count
together and a restart forgets nothing. They are bounded: past ``max_tracked``
keys the least recently failed ones are forgotten. One address can create only
``address_refuse_after`` of them per window, so only an attack from very many
addresses gets there.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from desktop.relay.storage import Store


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
    """Failures per key in the store (table ``signin_failures``), each counted in a
    window from its first failure, so that every relay on one database sees the
    same counts and a restart does not forget them. ``clock`` is wall-clock
    seconds (relays share it). At most about ``max_keys`` counters are kept: every
    ``max_keys // 10`` failures this relay deletes the ended windows and then the
    least recently failed counters past ``max_keys``."""

    def __init__(
        self, store: Store, clock: Callable[[], float], window: float, max_keys: int
    ) -> None:
        self._store = store
        self._clock = clock
        self._window_ms = int(window * 1000)
        self._max_keys = max(1, max_keys)
        self._adds_since_purge = 0

    def __len__(self) -> int:
        return self._store.count_signin_failures()

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def counts(self, keys: list[str]) -> list[tuple[int, float]]:
        """For each key, its failures in its current window and seconds until it ends."""
        now = self._now_ms()
        found = self._store.signin_failures(keys, now - self._window_ms)
        result = []
        for key in keys:
            failures, started = found.get(key, (0, now))
            left = (started + self._window_ms - now) / 1000 if failures else 0.0
            result.append((failures, left))
        return result

    def add(self, counters: list[tuple[str, str | None]]) -> None:
        """One more failure on each ``(key, account it counts against)``."""
        now = self._now_ms()
        self._store.add_signin_failures(counters, now, now - self._window_ms)
        self._adds_since_purge += 1
        if self._adds_since_purge >= max(1, self._max_keys // 10):
            self.purge()

    def purge(self) -> int:
        """Delete ended windows and the least recently failed counters past the cap."""
        self._adds_since_purge = 0
        return self._store.purge_signin_failures(self._now_ms() - self._window_ms, self._max_keys)

    def forget(self, key: str) -> None:
        self._store.forget_signin_failures(key)


class SignInThrottle:
    def __init__(
        self,
        store: Store,
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
        self._failures = FailureCounts(store, clock, window, max_tracked)

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
        (pair, pair_left), (from_address, address_left), (on_account, _) = self._failures.counts(
            list(self._keys(account, address))
        )
        if from_address >= self._address_refuse_after:
            return Verdict(True, 0.0, max(1.0, address_left))
        if pair >= self._refuse_after or (on_account >= self._account_alarm and pair >= 1):
            return Verdict(True, 0.0, max(1.0, pair_left))
        extra = pair - self._slow_after + 1
        delay = min(self._max_delay, self._delay_step * extra) if extra > 0 else 0.0
        return Verdict(False, delay, 0.0)

    def failed(self, account: str, address: str) -> None:
        pair_key, address_key_, account_key = self._keys(account, address)
        self._failures.add([(pair_key, account), (address_key_, None), (account_key, account)])

    def succeeded(self, account: str, address: str) -> None:
        """The right password forgets this address's failures on this account only:
        signing in to one's own account must not reset guessing at others."""
        self._failures.forget(self._keys(account, address)[0])

    def purge(self) -> int:
        """Delete the counters whose window has ended; how many there were."""
        return self._failures.purge()
