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
    """A subscriber whose messages are written in order, by a task that exists
    only while there is something to write.

    ``send`` writes one text frame; ``closer`` closes the transport with a code.
    An idle socket holds no task, queue or event of its own (at 10,000 sockets
    each of those is memory), only this object: the first message makes the
    queue and starts a writer, which ends when the queue is empty.
    """

    __slots__ = ("_close", "_closer", "_queue", "_send", "_writer", "account_id", "session_id")

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
        self._queue: collections.deque[str] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._close: tuple[int, str] | None = None

    def deliver(self, text: str) -> None:
        if self._close is not None:
            return
        if self._queue is None:
            self._queue = collections.deque(maxlen=MAX_QUEUED)
        self._queue.append(text)
        self._start_writer()

    def close(self, code: int, reason: str) -> None:
        """Close the socket with ``code`` once the message being written (if
        any) is out; messages still queued are dropped."""
        if self._close is None:
            self._close = (code, reason)
            self._start_writer()

    @property
    def writing(self) -> bool:
        """Whether a writer task is running (a message or the close is pending)."""
        return self._writer is not None

    def _start_writer(self) -> None:
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        try:
            queue = self._queue
            while queue and self._close is None:
                await self._send(queue.popleft())
            if self._close is not None:
                await self._closer(*self._close)
        except Exception as exc:  # the peer is gone: its socket's reader ends too
            log.debug("a live socket write failed: %s", type(exc).__name__)
        finally:
            self._writer = None
            if not self._queue:
                self._queue = None

    async def stop(self) -> None:
        """The socket ended: stop a write still in flight."""
        writer = self._writer
        if writer is not None:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
