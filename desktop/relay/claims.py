"""Claims: which relay does a piece of work, until when.

Several relays on one database each run the same background planner and may
each be asked to refresh the same account's Zoom tokens. A claim is a row in
the shared store naming the relay that holds a piece of work and the moment
its hold runs out. Taking one is a single atomic statement (an upsert that
succeeds only if nobody holds the name, the hold has run out, or we hold it
already), so exactly one relay wins; a relay killed while holding a claim
loses it when its time runs out, and another relay then takes the work.

The single relay on SQLite takes claims too (it always wins them); the cost
is one small write per piece of work.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from desktop.relay.storage import Store


class Claims:
    """This relay's claims; ``holder`` is fresh per process, so a restarted
    relay does not inherit the claims of the one it replaces."""

    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock
        self.holder = secrets.token_hex(8)

    def take(self, name: str, hold: float) -> bool:
        """Hold ``name`` for ``hold`` seconds from now, if nobody else holds it."""
        now = self.clock()
        return self.store.take_claim(name, self.holder, now, now + timedelta(seconds=hold))

    def keep_until(self, name: str, until: datetime) -> None:
        """Go on holding ``name`` (held by us) until ``until``; release it if that
        has passed."""
        now = self.clock()
        if until <= now:
            self.release(name)
        else:
            self.store.take_claim(name, self.holder, now, until)

    def release(self, name: str) -> None:
        self.store.release_claim(name, self.holder)

    def held_until(self, name: str) -> datetime | None:
        """Until when someone (maybe us) holds ``name``; ``None`` if nobody does."""
        claim = self.store.claim_of(name)
        if claim is None or claim[1] <= self.clock():
            return None
        return claim[1]
