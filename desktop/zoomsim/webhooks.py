"""Delivering signed webhooks the way Zoom does: first attempt now, then retries.

A delivery succeeds on a 200 or 204 answered within the timeout. Anything else
is retried ``RETRY_DELAYS`` later (5, 20 and 60 minutes in Zoom, scaled by the
sim's ``retry_time_scale``), re-signed with a fresh timestamp each time, and
then given up. Retries are asyncio tasks on the server's loop; ``aclose()``
cancels them, so stopping the server stops them.
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

    @property
    def ok(self) -> bool:
        return self.status in (200, 204)

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

    async def deliver(self, event: Mapping[str, Any]) -> DeliveryAttempt:
        """Send ``event`` once now; on failure schedule Zoom's retries.

        Returns the first attempt. If no webhook URL is configured, nothing is
        sent and the returned attempt has ``attempt == 0``.
        """
        name = str(event.get("event", "?"))
        delivery_id = secrets.token_hex(8)
        body = compact_json(event)
        if self._webhook_url() is None:
            return DeliveryAttempt(delivery_id, name, 0, None, None, NO_URL_DETAIL, self._clock())
        first = await self._attempt(delivery_id, name, body, 1)
        if not first.ok and self._retry_delays and not self._closed:
            first.will_retry = True
            task = asyncio.create_task(self._retry(delivery_id, name, body))
            with self._lock:
                self._tasks.add(task)
            task.add_done_callback(self._forget)
        return first

    async def send_once(self, event: Mapping[str, Any]) -> DeliveryAttempt:
        """Send ``event`` once, never retried (endpoint validation works this way)."""
        name = str(event.get("event", "?"))
        delivery_id = secrets.token_hex(8)
        if self._webhook_url() is None:
            return DeliveryAttempt(delivery_id, name, 0, None, None, NO_URL_DETAIL, self._clock())
        return await self._attempt(delivery_id, name, compact_json(event), 1, last=True)

    def _forget(self, task: asyncio.Task[None]) -> None:
        with self._lock:
            self._tasks.discard(task)

    async def _retry(self, delivery_id: str, name: str, body: bytes) -> None:
        for number, delay in enumerate(self._retry_delays, start=2):
            await asyncio.sleep(delay)
            attempt = await self._attempt(
                delivery_id, name, body, number, last=number == len(self._retry_delays) + 1
            )
            if attempt.ok:
                return

    async def _attempt(
        self, delivery_id: str, name: str, body: bytes, number: int, *, last: bool = False
    ) -> DeliveryAttempt:
        url = self._webhook_url()
        with self._lock:
            self._in_flight += 1
        try:
            status: int | None = None
            error: str | None = None
            answer = b""
            if url is None:
                error = NO_URL_DETAIL
            elif self._client is None:
                error = "the local Zoom is not running"
            else:
                timestamp = int(self._clock())
                headers = {
                    "content-type": "application/json; charset=utf-8",
                    "user-agent": "Zoom Marketplace/1.0a",
                    "x-zm-request-timestamp": str(timestamp),
                    "x-zm-signature": sign(self._secret, timestamp, body),
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
                delivery_id, name, number, url, status, error, self._clock(), response_body=answer
            )
            if not attempt.ok and number <= len(self._retry_delays) and not last:
                attempt.will_retry = True
            with self._lock:
                self._attempts.append(attempt)
            return attempt
        finally:
            with self._lock:
                self._in_flight -= 1
