"""Delivering signed webhooks the way Zoom does: first attempt now, then retries.

ZOOM.md "Delivery semantics": a delivery succeeds on any 2xx answered within
the timeout. Only a 5xx, a connection failure or a timeout is retried,
``RETRY_DELAYS`` later (5, 20 and 60 minutes in Zoom, scaled by the sim's
``retry_time_scale``), then given up; a 4xx is never retried. Zoom does not
say whether a retry is signed afresh: by default each attempt is, and
``keep_first_timestamp`` makes every retry carry the first attempt's
timestamp (and signature). Retries are asyncio tasks on the server's loop;
``aclose()`` cancels them, so stopping the server stops them.

``hold()`` keeps new deliveries back (as a Zoom delaying webhooks by up to 30
minutes does) until ``release(order)`` sends them, oldest or newest first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from desktop.zoomsim.webhook_signing import sign

__all__ = ["RETRY_DELAYS", "DeliveryAttempt", "WebhookDispatcher", "compact_json"]

#: Seconds between Zoom's attempts: 5 min after the first, then 20, then 60.
RETRY_DELAYS: tuple[float, ...] = (300.0, 1200.0, 3600.0)

NO_URL_DETAIL = (
    "No webhook URL is configured, so nothing was sent; "
    "set one with PUT /_sim/config or --webhook-url."
)


def compact_json(document: Mapping[str, Any]) -> bytes:
    """The exact body bytes Zoom-style deliveries carry (compact, UTF-8)."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass
class DeliveryAttempt:
    """One attempt to deliver one event. ``attempt`` counts from 1 (0: not sent)."""

    delivery_id: str
    event: str
    attempt: int
    url: str | None
    status: int | None
    error: str | None
    at: float
    will_retry: bool = False
    response_body: bytes = field(default=b"", repr=False)
    #: What was sent (headers and body), so a test can deliver it again.
    request_headers: dict[str, str] = field(default_factory=dict, repr=False)
    request_body: bytes = field(default=b"", repr=False)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        """Zoom retries only a 5xx or no answer at all, never a 4xx."""
        return self.status is None or self.status >= 500

    def as_json(self) -> dict[str, Any]:
        return {
            "delivery_id": self.delivery_id,
            "event": self.event,
            "attempt": self.attempt,
            "url": self.url,
            "status": self.status,
            "error": self.error,
            "ok": self.ok,
            "at": self.at,
            "will_retry": self.will_retry,
        }


class WebhookDispatcher:
    """Signs and sends events to the URL ``webhook_url()`` names at send time."""

    def __init__(
        self,
        *,
        secret: str,
        client_id: str,
        webhook_url: Callable[[], str | None],
        clock: Callable[[], float] = time.time,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        retry_time_scale: float = 1.0,
        timeout: float = 3.0,
        keep_first_timestamp: Callable[[], bool] = lambda: False,
    ) -> None:
        self._secret = secret
        self._client_id = client_id
        self._webhook_url = webhook_url
        self._clock = clock
        self._retry_delays = tuple(d * retry_time_scale for d in retry_delays)
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight = 0
        self._attempts: list[DeliveryAttempt] = []
        self._lock = threading.Lock()
        self._closed = False
        self._keep_first_timestamp = keep_first_timestamp
        self._holding = False
        self._held: list[tuple[Mapping[str, Any], str | None]] = []

    async def start(self) -> None:
        self._closed = False
        self._client = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)

    async def aclose(self) -> None:
        """Cancel every scheduled retry and close the HTTP client."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def attempts(self) -> list[DeliveryAttempt]:
        with self._lock:
            return list(self._attempts)

    def pending(self) -> int:
        """Deliveries being sent now or waiting for a retry."""
        with self._lock:
            return self._in_flight + len(self._tasks)

    async def deliver(self, event: Mapping[str, Any], secret: str | None = None) -> DeliveryAttempt:
        """Send ``event`` once now; on failure schedule Zoom's retries.

        Returns the first attempt. If no webhook URL is configured, nothing is
        sent and the returned attempt has ``attempt == 0``; while held, it is
        queued and the attempt has ``attempt == 0`` too. ``secret`` signs it
        instead of the Secret Token.
        """
        name = str(event.get("event", "?"))
        delivery_id = secrets.token_hex(8)
        with self._lock:
            if self._holding:
                self._held.append((event, secret))
                return DeliveryAttempt(delivery_id, name, 0, None, None, "held back", self._clock())
        body = compact_json(event)
        if self._webhook_url() is None:
            return DeliveryAttempt(delivery_id, name, 0, None, None, NO_URL_DETAIL, self._clock())
        timestamp = int(self._clock())
        first = await self._attempt(delivery_id, name, body, 1, timestamp=timestamp, secret=secret)
        if first.will_retry and not self._closed:
            task = asyncio.create_task(self._retry(delivery_id, name, body, timestamp, secret))
            with self._lock:
                self._tasks.add(task)
            task.add_done_callback(self._forget)
        return first

    def deliver_later(
        self, event: Mapping[str, Any], delay: float, secret: str | None = None
    ) -> None:
        """Deliver ``event`` ``delay`` seconds from now (call on the server's loop)."""
        if self._closed:
            return

        async def later() -> None:
            await asyncio.sleep(delay)
            await self.deliver(event, secret)

        task = asyncio.get_running_loop().create_task(later())
        with self._lock:
            self._tasks.add(task)
        task.add_done_callback(self._forget)

    def hold(self) -> None:
        """Keep new deliveries back until :meth:`release`."""
        with self._lock:
            self._holding = True

    def held(self) -> int:
        """How many deliveries are held back now."""
        with self._lock:
            return len(self._held)

    async def release(self, newest_first: bool = False) -> list[DeliveryAttempt]:
        """Send what was held (oldest first, or newest first), stop holding, and
        return each first attempt."""
        with self._lock:
            held, self._held, self._holding = list(self._held), [], False
        if newest_first:
            held.reverse()
        return [await self.deliver(event, secret) for event, secret in held]

    async def send_once(self, event: Mapping[str, Any]) -> DeliveryAttempt:
        """Send ``event`` once, never retried (endpoint validation works this way)."""
        name = str(event.get("event", "?"))
        delivery_id = secrets.token_hex(8)
        if self._webhook_url() is None:
            return DeliveryAttempt(delivery_id, name, 0, None, None, NO_URL_DETAIL, self._clock())
        return await self._attempt(
            delivery_id, name, compact_json(event), 1, timestamp=int(self._clock()), last=True
        )

    def _forget(self, task: asyncio.Task[None]) -> None:
        with self._lock:
            self._tasks.discard(task)

    async def _retry(
        self, delivery_id: str, name: str, body: bytes, first_timestamp: int, secret: str | None
    ) -> None:
        for number, delay in enumerate(self._retry_delays, start=2):
            await asyncio.sleep(delay)
            keep = self._keep_first_timestamp()
            attempt = await self._attempt(
                delivery_id,
                name,
                body,
                number,
                timestamp=first_timestamp if keep else int(self._clock()),
                secret=secret,
                last=number == len(self._retry_delays) + 1,
            )
            if not attempt.will_retry:
                return

    async def _attempt(
        self,
        delivery_id: str,
        name: str,
        body: bytes,
        number: int,
        *,
        timestamp: int,
        secret: str | None = None,
        last: bool = False,
    ) -> DeliveryAttempt:
        url = self._webhook_url()
        with self._lock:
            self._in_flight += 1
        try:
            status: int | None = None
            error: str | None = None
            answer = b""
            headers: dict[str, str] = {}
            if url is None:
                error = NO_URL_DETAIL
            elif self._client is None:
                error = "the local Zoom is not running"
            else:
                headers = {
                    "content-type": "application/json; charset=utf-8",
                    "user-agent": "Zoom Marketplace/1.0a",
                    "x-zm-request-timestamp": str(timestamp),
                    "x-zm-signature": sign(secret or self._secret, timestamp, body),
                    "x-zm-trackingid": f"v=2.0;clid=sim;rid={delivery_id}",
                    "clientid": self._client_id,
                }
                try:
                    response = await self._client.post(url, content=body, headers=headers)
                    status = response.status_code
                    answer = response.content
                except httpx.TimeoutException:
                    error = f"no answer within {self._timeout:g} s"
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
            attempt = DeliveryAttempt(
                delivery_id,
                name,
                number,
                url,
                status,
                error,
                self._clock(),
                response_body=answer,
                request_headers=headers,
                request_body=body,
            )
            if (
                not attempt.ok
                and attempt.retryable
                and number <= len(self._retry_delays)
                and not last
                and not self._closed
            ):
                attempt.will_retry = True
            with self._lock:
                self._attempts.append(attempt)
            return attempt
        finally:
            with self._lock:
                self._in_flight -= 1
