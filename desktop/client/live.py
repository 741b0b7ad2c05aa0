"""The live socket to the relay: connect, receive state, reconnect forever.

:class:`Backoff` is the reconnect policy as a pure function of the attempt
number and a random draw (table-tested). :class:`LiveConnection` is the thin
asyncio layer: it opens ``/api/v1/live`` with the session token in the
``Authorization`` header, hands every snapshot and update to its listener,
pings the relay so a silently dead socket is noticed, and after any loss waits
out the backoff — unless :meth:`LiveConnection.wake` says the machine woke or
the network came back, which retries at once. Every reconnect starts with a
fresh snapshot from the relay. Close code 4401 (or a 401/403 at the handshake)
ends the loop and tells the listener that the session is gone. Any other
failure, even an unexpected exception, counts as a lost connection: it is logged
by type only (its text might quote the token) and retried with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from desktop.core.wire import (
    CLOSE_SESSION_GONE,
    MessageType,
    StateDocument,
    WireError,
    now_utc,
    parse_live_message,
)

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection
    from websockets.exceptions import ConnectionClosed

log = logging.getLogger(__name__)


def _redact_credentials(record: logging.LogRecord) -> bool:
    """websockets logs the handshake headers at DEBUG; never let the token through."""
    message = record.getMessage()
    if "authorization" in message.lower():
        record.msg = "> Authorization: [redacted]"
        record.args = ()
    return True


#: The logger handed to websockets, so its debug output passes our redaction.
socket_log = logging.getLogger(__name__ + ".socket")
socket_log.addFilter(_redact_credentials)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with proportional jitter.

    The ``attempt``-th retry (0-based) waits ``min(cap, base * factor**attempt)``
    scaled by a random factor in ``[1 - jitter, 1 + jitter]``, so many clients
    that lost the same relay do not all come back in the same instant.
    """

    base: float = 0.5
    factor: float = 2.0
    cap: float = 60.0
    jitter: float = 0.3

    def delay(self, attempt: int, draw: float) -> float:
        """Seconds to wait before retry ``attempt``; ``draw`` is uniform in [0, 1)."""
        if attempt < 0:
            raise ValueError("attempt must not be negative")
        # Cap the exponent so huge attempt counts cannot overflow a float.
        raw = min(self.cap, self.base * self.factor ** min(attempt, 64))
        return raw * (1.0 + self.jitter * (2.0 * draw - 1.0))


class LiveListener(Protocol):
    """What a :class:`LiveConnection` reports. Called on the event loop's thread."""

    def on_message(self, kind: MessageType, document: StateDocument) -> None: ...

    def on_online(self) -> None: ...

    def on_offline(self, since: datetime, reason: str) -> None: ...

    def on_session_gone(self) -> None: ...


class LiveConnection:
    """One person's live socket, reconnecting until stopped or signed out."""

    def __init__(
        self,
        url: str,
        token: str,
        listener: LiveListener,
        *,
        backoff: Backoff | None = None,
        draw: Callable[[], float] = random.random,
        clock: Callable[[], datetime] = now_utc,
        ping_interval: float = 20.0,
        ping_timeout: float = 20.0,
        open_timeout: float = 10.0,
    ) -> None:
        self.url = url
        self._token = token
        self._listener = listener
        self._backoff = backoff or Backoff()
        self._draw = draw
        self._clock = clock
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._open_timeout = open_timeout
        self._wake = asyncio.Event()
        self._offline_since: datetime | None = None
        self._online = False
        self.attempt = 0

    def wake(self) -> None:
        """Retry now (machine woke up, network came back). Call on the loop."""
        self.attempt = 0
        self._wake.set()

    async def run(self) -> None:
        """Stay connected until the session is gone (returns) or cancelled."""
        while True:
            reason = await self._connect_once()
            self._online = False
            if reason is None:
                self._listener.on_session_gone()
                return
            if self._offline_since is None:
                self._offline_since = self._clock()
                self._listener.on_offline(self._offline_since, reason)
            delay = self._backoff.delay(self.attempt, self._draw())
            self.attempt += 1
            log.info("live socket down (%s); retrying in %.1f s", reason, delay)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def _connect_once(self) -> str | None:
        """One connection's life. ``None``: session gone; else why it ended."""
        # websockets (and the importlib.metadata it pulls in) is imported here,
        # on the client's thread at the first connection, not before the tray's
        # first paint: about a sixth of the tray's start-up.
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

        try:
            async with connect(
                self.url,
                additional_headers={"Authorization": f"Bearer {self._token}"},
                open_timeout=self._open_timeout,
                ping_interval=self._ping_interval,
                ping_timeout=self._ping_timeout,
                close_timeout=min(2.0, self._ping_timeout),
                max_size=2**20,
                logger=socket_log,
            ) as ws:
                return await self._receive(ws)
        except InvalidStatus as exc:
            if exc.response.status_code in (401, 403):
                return None
            return f"the relay refused the live socket (HTTP {exc.response.status_code})"
        except ConnectionClosed as exc:
            return self._closed_reason(exc)
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            return f"cannot reach the relay ({type(exc).__name__})"
        except Exception as exc:
            # A bug (in a listener, say) must not end the reconnect loop for
            # good. The exception's text may quote the token, so only its type
            # and where it happened are logged.
            log.warning("the live socket failed unexpectedly (%s)", type(exc).__name__)
            log.debug("where: %s", "".join(traceback.format_tb(exc.__traceback__)))
            return f"an unexpected error ({type(exc).__name__})"

    async def _receive(self, ws: ClientConnection) -> str | None:
        from websockets.exceptions import ConnectionClosed

        while True:
            try:
                raw = await ws.recv()
            except ConnectionClosed as exc:
                return self._closed_reason(exc)
            try:
                kind, document = parse_live_message(json.loads(raw))
            except (ValueError, WireError) as exc:
                log.warning("ignored a malformed live message: %s", exc)
                continue
            if kind == "snapshot":
                self.attempt = 0
                if not self._online:
                    self._online = True
                    self._offline_since = None
                    self._listener.on_online()
            self._listener.on_message(kind, document)

    @staticmethod
    def _closed_reason(exc: ConnectionClosed) -> str | None:
        if exc.rcvd is not None and exc.rcvd.code == CLOSE_SESSION_GONE:
            return None
        if exc.rcvd is None:
            return "the connection to the relay was lost"
        return f"the relay closed the connection ({exc.rcvd.code})"
