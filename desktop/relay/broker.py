"""The broker: how committed changes reach live sockets, on one relay or several.

A relay publishes each committed state document (with its account and ``seq``)
and each ended session or deleted account through its broker. Two kinds:

- :class:`InProcessBroker` (the default): straight to this process's
  :class:`~desktop.relay.hub.LiveHub`, as a single relay has always done.
- :class:`RedisBroker` (``PROFITRINGER_BROKER_URL=redis://…``): delivered to
  this relay's own sockets at once (no round trip, and still when Redis is
  down), and published on a Redis pub/sub channel for the other relays, which
  deliver it to theirs. Per account a relay delivers only a ``seq`` newer than
  the last it delivered, so order holds across relays.

Redis going away stops nothing here: the relay's own sockets keep getting
updates and REST keeps working. The broker says so once in the log and in
:meth:`Broker.problem` (``/readyz``), resubscribes by itself with backoff, and
after the gap calls :attr:`Broker.on_gap`, with which the relay sends every
local socket a fresh snapshot. What this relay published meanwhile is kept
(the newest document per account) and published once Redis is back.

Messages on the channel carry no secret: state documents have none, and a
closed session or account travels as its id.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import random
import uuid
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import urlsplit

import orjson

from desktop.relay.hub import LiveHub

log = logging.getLogger(__name__)

#: The pub/sub channel every relay of one deployment shares.
CHANNEL: Final = "profitringer:live"
#: Schemes redis-py connects with.
REDIS_SCHEMES: Final = ("redis", "rediss", "unix")
#: Resubscribing waits this long after the first failure, doubling up to the most.
BACKOFF_FIRST: Final = 0.1
BACKOFF_MOST: Final = 5.0
#: Seconds a connection attempt or a publish may take before it counts as failed.
REDIS_TIMEOUT: Final = 3.0
#: An idle subscription is checked with a PING this often (seconds), so a Redis
#: that vanished without closing the connection is noticed.
HEALTH_CHECK_INTERVAL: Final = 5.0
#: How long starting waits for the first subscription before serving anyway.
START_WAIT: Final = 2.0
#: Publications sent to Redis in one round trip at most.
PUBLISH_BATCH: Final = 200
#: Publications kept while Redis is away (the newest document per account, and
#: ended sessions and accounts); past it the oldest go (the other relays' sweep
#: and their own gap snapshots still correct them).
MAX_OUTBOX: Final = 10_000


class Broker:
    """Delivery to this relay's sockets, with the per-account ``seq`` order."""

    #: Named in ``/readyz``.
    kind = "in-process"

    def __init__(self, hub: LiveHub) -> None:
        self.hub = hub
        #: Called after the broker missed messages (resubscribed after a gap):
        #: the relay sends every local socket a fresh snapshot.
        self.on_gap: Callable[[], None] | None = None
        self._delivered: dict[str, int] = {}

    async def start(self) -> None:
        """Begin (the serving relay's lifespan calls this); nothing for in-process."""

    async def stop(self) -> None:
        """End; nothing for in-process."""

    def problem(self) -> str | None:
        """Why the broker is not ready, for ``/readyz``; ``None`` when it is."""
        return None

    def publish_state(self, account_id: str, seq: int, text: str) -> None:
        """A committed state document (``text`` is the socket message) of ``seq``."""
        self.hub.publish(account_id, text)

    def close_session(self, session_id: int, code: int, reason: str) -> None:
        """The session ended: close its sockets."""
        self.hub.close_session(session_id, code, reason)

    def close_account(self, account_id: str, code: int, reason: str) -> None:
        """The account was deleted: close its sockets."""
        self.hub.close_account(account_id, code, reason)

    def deliver_snapshot(self, account_id: str, seq: int, text: str) -> None:
        """A fresh snapshot read from the store: to every local socket of the
        account, whatever was delivered before; later messages must be newer."""
        self._delivered[account_id] = max(seq, self._delivered.get(account_id, seq))
        self.hub.publish(account_id, text)

    def _deliver(self, account_id: str, seq: int, text: str) -> bool:
        """Deliver unless the account's sockets already had ``seq`` or newer."""
        if not self.hub.count(account_id):
            # No socket here: nothing to order (a socket opening later starts
            # from a snapshot), and nothing to remember.
            self._delivered.pop(account_id, None)
            return False
        if seq <= self._delivered.get(account_id, -1):
            return False
        self._delivered[account_id] = seq
        self.hub.publish(account_id, text)
        return True


class InProcessBroker(Broker):
    """One relay: everything goes to this process's hub, as it always has."""


def check_broker_url(url: str) -> None:
    """Refuse a broker URL redis-py cannot use; the message never repeats the URL,
    which may hold a password."""
    from redis.connection import parse_url

    try:
        scheme = urlsplit(url).scheme.lower()
        parsed = parse_url(url) if scheme in REDIS_SCHEMES else {}  # type: ignore[no-untyped-call]
    except ValueError:
        scheme, parsed = "", {}
    if scheme not in REDIS_SCHEMES or not (parsed.get("host") or parsed.get("path")):
        raise ValueError(
            "PROFITRINGER_BROKER_URL must be a redis://host:port/db URL"
            " (or rediss:// or unix://); leave it unset for the in-process broker"
        )


def make_broker(url: str | None, hub: LiveHub) -> Broker:
    """The broker ``url`` names: Redis for a ``redis://`` URL, in-process for none."""
    if not url:
        return InProcessBroker(hub)
    check_broker_url(url)
    return RedisBroker(hub, url)


class RedisBroker(Broker):
    """Local delivery at once, and Redis pub/sub between relays (module docstring)."""

    kind = "redis"

    def __init__(
        self,
        hub: LiveHub,
        url: str,
        channel: str = CHANNEL,
        health_check_interval: float = HEALTH_CHECK_INTERVAL,
    ) -> None:
        super().__init__(hub)
        check_broker_url(url)
        self._url = url
        self._channel = channel
        self._health_check_interval = health_check_interval
        #: Tells this relay's own messages from the others' on the channel.
        self.origin = uuid.uuid4().hex
        self._outbox: collections.OrderedDict[tuple[str, str], tuple[int, str]] = (
            collections.OrderedDict()
        )
        self._outbox_overflowed = False
        self._wake_publisher = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._connected = False
        self._lost = False
        self._problem: str | None = "the broker (Redis) has not connected yet"
        self._tasks: list[asyncio.Task[None]] = []
        #: Set by stop(): the loops end at their next turn even if a cancellation
        #: was lost inside redis-py (see stop()).
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sub_client: Any = None
        self._pub_client: Any = None
        #: Resubscriptions after a gap, and failed attempts to (for tests).
        self.gaps = 0
        self.failures = 0

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        import redis.asyncio
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self._loop = asyncio.get_running_loop()
        self._stopping = False
        self._wake_publisher = asyncio.Event()
        self._subscribed = asyncio.Event()
        # No retries inside redis-py: the broker's own loop retries, with backoff.
        self._sub_client = redis.asyncio.Redis.from_url(
            self._url,
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=REDIS_TIMEOUT,
            socket_timeout=REDIS_TIMEOUT,
        )
        self._pub_client = redis.asyncio.Redis.from_url(
            self._url,
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=REDIS_TIMEOUT,
            socket_timeout=REDIS_TIMEOUT,
        )
        self._tasks = [
            asyncio.create_task(self._listen_forever(), name="broker-listen"),
            asyncio.create_task(self._publish_forever(), name="broker-publish"),
        ]
        # Serve anyway if Redis is away: it is retried in the background.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), START_WAIT)

    async def stop(self) -> None:
        """End both loops and close the clients. A cancellation that reaches
        redis-py mid-command can be swallowed there (it then surfaces as a
        connection error, which the loops retry): about one stop in 50 hung for
        ever that way (tests/relay/test_broker.py). So the loops also check
        ``_stopping``, and the publisher is woken to see it."""
        self._stopping = True
        self._wake_publisher.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for client in (self._sub_client, self._pub_client):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()
        self._sub_client = self._pub_client = None
        self._connected = False
        self._subscribed.clear()
        self._problem = "the broker (Redis) is stopped"

    @property
    def stopping(self) -> bool:
        """Whether stop() has been called (and start() not since)."""
        return self._stopping

    @property
    def connected(self) -> bool:
        """Whether the broker is subscribed to the channel right now."""
        return self._connected

    def problem(self) -> str | None:
        return None if self._connected else self._problem

    # -- publishing -----------------------------------------------------------------------

    def publish_state(self, account_id: str, seq: int, text: str) -> None:
        self._deliver(account_id, seq, text)
        payload = {"o": self.origin, "k": "state", "a": account_id, "s": seq, "m": text}
        self._enqueue(("state", account_id), seq, payload)

    def close_session(self, session_id: int, code: int, reason: str) -> None:
        self.hub.close_session(session_id, code, reason)
        payload = {"o": self.origin, "k": "session", "id": session_id, "c": code, "r": reason}
        self._enqueue(("session", str(session_id)), 0, payload)

    def close_account(self, account_id: str, code: int, reason: str) -> None:
        self.hub.close_account(account_id, code, reason)
        payload = {"o": self.origin, "k": "account", "a": account_id, "c": code, "r": reason}
        self._enqueue(("account", account_id), 0, payload)

    def _enqueue(self, key: tuple[str, str], seq: int, payload: dict[str, Any]) -> None:
        """Keep ``payload`` for the publisher task: for a state document only the
        newest per account, since each one carries the whole state."""
        kept = self._outbox.get(key)
        if kept is not None and kept[0] > seq:
            return
        self._outbox[key] = (seq, orjson.dumps(payload).decode())
        self._outbox.move_to_end(key)
        while len(self._outbox) > MAX_OUTBOX:
            self._outbox.popitem(last=False)
            if not self._outbox_overflowed:
                self._outbox_overflowed = True
                log.warning(
                    "broker: more than %d publications waiting for Redis; the oldest are dropped",
                    MAX_OUTBOX,
                )
        self._wake()

    def _wake(self) -> None:
        loop = self._loop
        if loop is None:
            return  # not started (an admin command): nothing to publish to
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake_publisher.set()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(self._wake_publisher.set)

    async def _publish_forever(self) -> None:
        while not self._stopping:
            await self._wake_publisher.wait()
            self._wake_publisher.clear()
            while self._outbox and self._connected and not self._stopping:
                batch = list(itertools.islice(self._outbox.items(), PUBLISH_BATCH))
                try:
                    async with self._pub_client.pipeline(transaction=False) as pipe:
                        for _, (_, payload) in batch:
                            pipe.publish(self._channel, payload)
                        await pipe.execute()
                except Exception:  # RedisError, OSError, TimeoutError, or another
                    # The listener notices the outage and wakes this task when
                    # it is subscribed again; until then the outbox keeps it.
                    await asyncio.sleep(BACKOFF_FIRST)
                    self._wake_publisher.set()
                    break
                for key, kept in batch:
                    if self._outbox.get(key) == kept:
                        del self._outbox[key]
            if not self._outbox:
                self._outbox_overflowed = False

    # -- subscribing ----------------------------------------------------------------------

    async def _listen_forever(self) -> None:
        delay = BACKOFF_FIRST
        first = True
        ever_subscribed = False
        while not self._stopping:
            pubsub = self._sub_client.pubsub()
            try:
                await self._subscribe(pubsub)
                self._connected = True
                self._problem = None
                self._subscribed.set()
                ever_subscribed = True
                if self._lost:
                    self._lost = False
                    log.warning("broker: Redis is back; resubscribed and sending fresh snapshots")
                elif first:
                    log.info("broker: subscribed to Redis; changes travel between relays")
                if not first or self.hub.count():
                    self._gap()
                first = False
                delay = BACKOFF_FIRST
                self._wake_publisher.set()
                await self._listen(pubsub)
            except Exception as exc:  # RedisError, OSError, TimeoutError; any other too
                if self.stopping:
                    return
                first = False
                self.failures += 1
                self._connected = False
                self._subscribed.clear()
                # The type only: a redis-py message can name the host, and the
                # URL (which may hold a password) is never logged.
                self._problem = f"the broker (Redis) does not answer ({type(exc).__name__})"
                if not self._lost:
                    self._lost = True
                    log.warning(
                        "broker: %s Redis (%s); this relay's own sockets still get updates;"
                        " resubscribing in the background",
                        "lost" if ever_subscribed else "cannot reach",
                        type(exc).__name__,
                    )
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter
            delay = min(delay * 2, BACKOFF_MOST)

    async def _listen(self, pubsub: Any) -> None:
        """Deliver the channel's messages until the connection fails. A PING
        every ``health_check_interval`` seconds, whose answer must come within
        two of them: a Redis that hangs, or a network that drops the connection
        without closing it, is noticed too (redis-py's own health check sends
        the PING but never misses its answer)."""
        loop = asyncio.get_running_loop()
        interval = self._health_check_interval
        heard = pinged = loop.time()
        while not self.stopping:
            now = loop.time()
            if now - heard > 2 * interval:
                raise TimeoutError("Redis stopped answering")
            if now - pinged >= interval:
                await pubsub.ping()
                pinged = now
            message = await pubsub.get_message(
                ignore_subscribe_messages=True, timeout=min(1.0, interval)
            )
            if message is None:
                continue
            heard = loop.time()
            if message.get("type") == "message":
                self._received(message.get("data"))

    async def _subscribe(self, pubsub: Any) -> None:
        """Subscribe and wait for Redis to confirm it."""
        await pubsub.subscribe(self._channel)
        async with asyncio.timeout(REDIS_TIMEOUT):
            while True:
                message = await pubsub.get_message(timeout=REDIS_TIMEOUT)
                if message is not None and message.get("type") == "subscribe":
                    return

    def _gap(self) -> None:
        self.gaps += 1
        if self.on_gap is not None:
            try:
                self.on_gap()
            except Exception as exc:  # the next gap or sweep corrects it
                log.warning("broker: sending fresh snapshots failed: %s", type(exc).__name__)

    def _received(self, data: object) -> None:
        """One message from the channel: delivered to this relay's sockets unless
        this relay sent it (and delivered it) itself."""
        try:
            message = orjson.loads(data) if isinstance(data, (bytes, str)) else None
        except ValueError:
            message = None
        if not isinstance(message, dict) or message.get("o") == self.origin:
            return
        kind = message.get("k")
        code = message.get("c")
        reason = message.get("r")
        if kind == "state":
            account_id, seq, text = message.get("a"), message.get("s"), message.get("m")
            if isinstance(account_id, str) and isinstance(seq, int) and isinstance(text, str):
                self._deliver(account_id, seq, text)
        elif not (isinstance(code, int) and 4000 <= code <= 4999 and isinstance(reason, str)):
            return
        elif kind == "session" and isinstance(message.get("id"), int):
            self.hub.close_session(message["id"], code, reason)
        elif kind == "account" and isinstance(message.get("a"), str):
            self.hub.close_account(message["a"], code, reason)
