"""uvicorn's HTTP protocol with the limits one client must not exceed.

uvicorn (httptools) bounds only an idle keep-alive connection. On its own it
reads request headers of any size (httptools joins a long header piece by
piece, so 60 MB of it stalled the event loop for seconds), holds a connection
open for ever while its answers go unread, accepts connections until the
process runs out of descriptors, and closes at once after refusing a body that
is still arriving, so the client sees a reset instead of the 413. Here:

- the headers of every request must be complete within ``header_timeout``;
- they may be at most ``max_header_bytes`` long and ``max_header_count`` many,
  or the client gets 431 and nothing more is parsed;
- past ``max_connections`` open HTTP connections a new one gets 503 and is
  closed (live sockets are not counted: they have their own caps, live.py);
- a connection whose answers stay unread for ``write_timeout`` is dropped,
  with one log line;
- a refusal sent while the request is still arriving closes lingeringly
  (RFC 9112 §9.6): the write side is shut, and what the client still sends is
  read and thrown away for up to ``linger_timeout``, so the answer reaches it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from desktop.core.wire import error_body

log = logging.getLogger(__name__)

#: A lingering close after a refused body reads and discards at most this much.
LINGER_MAX_BYTES = 16 * 1024 * 1024
#: After refused headers, far less: a client sending endless headers is not
#: reading, and discarding its stream only costs the relay CPU.
LINGER_AFTER_HEADERS_BYTES = 256 * 1024


class HeadersTooLarge(Exception):
    """Raised from a parser callback to stop parsing a request's headers."""


class ThrottledLog:
    """Log a repeated event once per ``every`` seconds, with how many were left out,
    so that a flood of connections cannot flood the log as well."""

    def __init__(self, every: float = 10.0) -> None:
        self.every = every
        self._last = -float("inf")
        self._suppressed = 0

    def warning(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last < self.every:
            self._suppressed += 1
            return
        if self._suppressed:
            message += " (and %d more like it since the last such line)"
            args = (*args, self._suppressed)
        self._last = now
        self._suppressed = 0
        log.warning(message, *args)


def _raw_response(status: int, reason: str, code: str, message: str) -> bytes:
    body = json.dumps(error_body(code, message)).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _LingeringTransport:
    """What one response cycle writes to: the connection's transport, except that
    closing it after the answer lingers while the request body is still arriving.

    It holds its cycle weakly: the cycle holds it, and a strong reference back
    made every request a reference cycle, which only the garbage collector
    frees. At 1,000 webhooks/s those were about 10 objects per request, and
    collecting them stopped the relay for 20 to 65 ms every few seconds."""

    def __init__(self, protocol: LimitedHttpProtocol, cycle: RequestResponseCycle) -> None:
        self._protocol = protocol
        self._cycle = weakref.ref(cycle)
        self._transport = protocol.transport

    def close(self) -> None:
        cycle = self._cycle()
        if cycle is not None and cycle.more_body and not self._transport.is_closing():
            self._protocol.close_lingeringly()
        else:
            self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class LimitedHttpProtocol(HttpToolsProtocol):
    """See the module docstring. :func:`protocol_for` (server.py) makes a subclass
    per server with the limits from its settings and its own connection set."""

    header_timeout: ClassVar[float] = 10.0
    max_header_bytes: ClassVar[int] = 16 * 1024
    max_header_count: ClassVar[int] = 100
    max_connections: ClassVar[int] = 1000
    write_timeout: ClassVar[float] = 10.0
    linger_timeout: ClassVar[float] = 2.0
    open_connections: ClassVar[set[LimitedHttpProtocol]] = set()
    refusals: ClassVar[ThrottledLog] = ThrottledLog()
    drops: ClassVar[ThrottledLog] = ThrottledLog()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._header_deadline: asyncio.TimerHandle | None = None
        self._write_deadline: asyncio.TimerHandle | None = None
        self._linger_deadline: asyncio.TimerHandle | None = None
        self._lingering = False
        self._lingered_bytes = 0
        self._linger_limit = LINGER_MAX_BYTES
        #: Bytes of the current request's headers: counted from whole chunks that
        #: fell inside them, and from what the parser handed over. ``None``
        #: once they are complete.
        self._header_chunk_bytes: int | None = 0
        self._header_parsed_bytes = 0
        self._header_count = 0
        self._messages_begun = 0
        if len(self.open_connections) >= self.max_connections:
            self.refusals.warning(
                "refused a connection: %d HTTP connections are open, the most allowed"
                " (PROFITRINGER_MAX_CONNECTIONS)",
                len(self.open_connections),
            )
            self.transport.write(
                _raw_response(
                    503,
                    "Service Unavailable",
                    "too_many_connections",
                    "The relay has too many open connections; try again in a moment.",
                )
            )
            self.transport.close()
            return
        self.open_connections.add(self)
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self.open_connections.discard(self)
        for deadline in (self._header_deadline, self._write_deadline, self._linger_deadline):
            if deadline is not None:
                deadline.cancel()
        self._header_deadline = self._write_deadline = self._linger_deadline = None
        super().connection_lost(exc)

    def eof_received(self) -> None:
        if self._lingering:
            self.transport.close()

    # -- reading ------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            self._lingered_bytes += len(data)
            if self._lingered_bytes > self._linger_limit:
                self.transport.close()
            return
        within_headers = self._header_chunk_bytes is not None
        begun = self._messages_begun
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, HeadersTooLarge):
                self._refuse_headers()
                return
            self._invalid_request()
            return
        except httptools.HttpParserError:
            self._invalid_request()
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._header_chunk_bytes is not None and not self.transport.is_closing():
            # The whole chunk belongs to the headers only if they were already
            # being read and no request began inside it.
            if within_headers and begun == self._messages_begun:
                self._header_chunk_bytes += len(data)
            if self._header_chunk_bytes > self.max_header_bytes:
                self._refuse_headers()

    def _invalid_request(self) -> None:
        msg = "Invalid HTTP request received."
        self.logger.warning(msg)
        self.send_400_response(msg)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._messages_begun += 1
        self._header_chunk_bytes = 0
        self._header_parsed_bytes = 0
        self._header_count = 0
        self._arm_header_deadline()

    def on_url(self, url: bytes) -> None:
        self._count_header_bytes(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.max_header_count:
            raise HeadersTooLarge
        self._count_header_bytes(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count_header_bytes(self, size: int) -> None:
        self._header_parsed_bytes += size
        if self._header_parsed_bytes > self.max_header_bytes:
            raise HeadersTooLarge

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()
        self._header_chunk_bytes = None
        previous = self.cycle
        super().on_headers_complete()
        if self.cycle is not None and self.cycle is not previous:
            self.cycle.transport = _LingeringTransport(self, self.cycle)  # type: ignore[assignment]

    def handle_websocket_upgrade(self) -> None:
        self.open_connections.discard(self)
        self._disarm_header_deadline()
        super().handle_websocket_upgrade()

    def _refuse_headers(self) -> None:
        self.refusals.warning(
            "refused a request whose headers exceed %d bytes or %d headers"
            " (PROFITRINGER_MAX_HEADER_BYTES, PROFITRINGER_MAX_HEADER_COUNT)",
            self.max_header_bytes,
            self.max_header_count,
        )
        self.transport.write(
            _raw_response(
                431,
                "Request Header Fields Too Large",
                "headers_too_large",
                f"The request's headers are larger than {self.max_header_bytes} bytes "
                f"or more than {self.max_header_count}; send fewer or shorter ones.",
            )
        )
        self.close_lingeringly(LINGER_AFTER_HEADERS_BYTES)

    # -- header deadline ----------------------------------------------------------------

    def _arm_header_deadline(self) -> None:
        self._disarm_header_deadline()
        self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if self.transport.get_protocol() is self and not self.transport.is_closing():
            self.drops.warning("closed a connection whose request headers did not arrive in time")
            self.transport.close()

    # -- writing ------------------------------------------------------------------------

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_deadline is None:
            self._write_deadline = self.loop.call_later(self.write_timeout, self._answers_unread)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._write_deadline is not None:
            self._write_deadline.cancel()
            self._write_deadline = None

    def _answers_unread(self) -> None:
        self._write_deadline = None
        if self.transport.get_protocol() is self and not self.transport.is_closing():
            self.drops.warning(
                "dropped a connection from %s whose answers went unread for %.0f s"
                " (PROFITRINGER_WRITE_TIMEOUT)",
                self.client[0] if self.client else "an unknown address",
                self.write_timeout,
            )
            self.transport.abort()

    # -- lingering close ----------------------------------------------------------------

    def close_lingeringly(self, max_bytes: int = LINGER_MAX_BYTES) -> None:
        """Send what is written, shut the write side, and read and discard what
        the client still sends until it closes, ``linger_timeout`` passes or
        ``max_bytes`` have come."""
        if self._lingering or self.transport.is_closing():
            return
        self._lingering = True
        self._linger_limit = max_bytes
        self._disarm_header_deadline()
        self._unset_keepalive_if_required()
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        self.flow.resume_reading()
        self._linger_deadline = self.loop.call_later(self.linger_timeout, self.transport.close)

    def on_response_complete(self) -> None:
        if self._lingering:
            return
        super().on_response_complete()
