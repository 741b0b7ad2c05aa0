"""Live fan-out: every committed change goes to every open socket of its account.

The hub knows accounts, sessions and subscribers; it does not know WebSockets.
A subscriber is anything with ``deliver(text)`` and ``close(code, reason)``. A
relay reaches it through its broker (broker.py), which also carries changes
between relays when there are several.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Final, Protocol

log = logging.getLogger(__name__)

#: Messages a slow socket may have queued before the oldest are dropped. Every
#: message carries the whole state, so the newest alone is enough to be right.
MAX_QUEUED: Final = 64


class Subscriber(Protocol):
    account_id: str
    session_id: int

    def deliver(self, text: str) -> None: ...

    def close(self, code: int, reason: str) -> None: ...


class LiveHub:
    def __init__(self) -> None:
        self._by_account: dict[str, set[Subscriber]] = collections.defaultdict(set)
        #: The same subscribers by session: with several relays every relay
        #: hears of every ended session, most of them not its own.
        self._by_session: dict[int, set[Subscriber]] = collections.defaultdict(set)

    def add(self, subscriber: Subscriber) -> None:
        self._by_account[subscriber.account_id].add(subscriber)
        self._by_session[subscriber.session_id].add(subscriber)

    def remove(self, subscriber: Subscriber) -> None:
        by_account = self._by_account.get(subscriber.account_id)
        if by_account is not None:
            by_account.discard(subscriber)
            if not by_account:
                del self._by_account[subscriber.account_id]
        by_session = self._by_session.get(subscriber.session_id)
        if by_session is not None:
            by_session.discard(subscriber)
            if not by_session:
                del self._by_session[subscriber.session_id]

    def publish(self, account_id: str, text: str) -> int:
        """Queue ``text`` for every socket of the account; returns how many."""
        subscribers = self._by_account.get(account_id, ())
        for subscriber in subscribers:
            subscriber.deliver(text)
        return len(subscribers)

    def close_session(self, session_id: int, code: int, reason: str) -> None:
        for subscriber in list(self._by_session.get(session_id, ())):
            subscriber.close(code, reason)

    def close_account(self, account_id: str, code: int, reason: str) -> None:
        for subscriber in list(self._by_account.get(account_id, ())):
            subscriber.close(code, reason)

    def session_ids(self) -> set[int]:
        """The sessions that have an open socket."""
        return set(self._by_session)

    def account_ids(self) -> list[str]:
        """The accounts that have an open socket."""
        return list(self._by_account)

    def count(self, account_id: str | None = None) -> int:
        if account_id is not None:
            return len(self._by_account.get(account_id, ()))
        return sum(len(s) for s in self._by_account.values())


class QueuedSubscriber:
    """A subscriber whose messages are written by one task, in order.

    ``send`` writes one text frame; ``closer`` closes the transport with a code.
    """

    def __init__(
        self,
        account_id: str,
        session_id: int,
        send: Callable[[str], Awaitable[None]],
        closer: Callable[[int, str], Awaitable[None]],
    ) -> None:
        self.account_id = account_id
        self.session_id = session_id
        self._send = send
        self._closer = closer
        self._queue: collections.deque[str] = collections.deque(maxlen=MAX_QUEUED)
        self._wake = asyncio.Event()
        self._close: tuple[int, str] | None = None

    def deliver(self, text: str) -> None:
        self._queue.append(text)
        self._wake.set()

    def close(self, code: int, reason: str) -> None:
        if self._close is None:
            self._close = (code, reason)
        self._wake.set()

    async def run(self) -> None:
        """Write queued messages until closed; then close the socket with its code."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue and self._close is None:
                await self._send(self._queue.popleft())
            if self._close is not None:
                with contextlib.suppress(Exception):
                    await self._closer(*self._close)
                return
