"""An open-loop HTTP load generator light enough not to be the bottleneck.

Requests go out on a fixed schedule (request ``j`` is due at ``t0 + j/rate``)
over a fixed pool of keep-alive HTTP/1.1 connections driven by a tiny client
on asyncio streams (no HTTP library in the hot path). A *target* decides what
each request is and what counts as done: for the relay that is the live
socket's ``update`` arriving, for the floor it is the 200.

Latency is measured from the moment a request is written. How far sends fell
behind their schedule is recorded too (``lag``): a server that cannot keep up
shows as lag and a lower achieved rate, not as hidden queueing.
"""

from __future__ import annotations

import asyncio
import collections
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tests.bench.harness import summary_ms

REQUEST_TIMEOUT = 10.0
#: Seconds behind schedule after which a run stops sending (it is not sustained).
GIVE_UP_LAG = 2.0


class HttpConnection:
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> HttpConnection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        lowered = head.lower()
        at = lowered.find(b"\r\ncontent-length:")
        if at >= 0:
            end = lowered.index(b"\r\n", at + 2)
            length = int(lowered[at + 17 : end])
        elif b"transfer-encoding: chunked" in lowered:
            raise ConnectionError("chunked responses are not supported by the load generator")
        body = await self.reader.readexactly(length) if length else b""
        if b"\r\nconnection: close" in lowered:
            self.close()
        return status, body

    def close(self) -> None:
        self.writer.close()


def post_request(host: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Target(Protocol):
    """What the load is sent to, and when one request counts as done."""

    async def acquire(self) -> Any:
        """A slot to send for (an account); waits if none is free."""

    def build(self, slot: Any, index: int) -> bytes:
        """The raw HTTP request for ``slot``."""

    def prepare(self, slot: Any) -> None:
        """Called just before the request is written (arm the update's wait)."""

    async def finish(self, slot: Any, status: int, body: bytes, sent_at: float) -> str | None:
        """Wait for whatever completes the request; return an error kind or ``None``.

        Appends the request's end-to-end latency (if it has one) to ``end_to_end``."""

    def release(self, slot: Any) -> None:
        """The slot may be used again."""

    end_to_end: list[float]


@dataclass
class RateRun:
    offered_rate: float
    duration: float
    connections: int
    planned: int = 0
    sent: int = 0
    ok: int = 0
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    http_latency: list[float] = field(default_factory=list)
    end_to_end: list[float] = field(default_factory=list)
    lag: list[float] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0
    generator_cpu: float = 0.0
    server_cpu: float = 0.0

    @property
    def achieved_rate(self) -> float:
        elapsed = self.finished - self.started
        return self.ok / elapsed if elapsed > 0 else 0.0

    def sustained(self) -> bool:
        """Kept up: every request done without error, on schedule, at the offered rate."""
        lag = summary_ms(self.lag)
        return (
            not self.errors
            and self.ok == self.sent == self.planned
            and self.achieved_rate >= 0.95 * self.offered_rate
            and (lag["p99_ms"] or 0.0) <= 100.0
        )

    def report(self, end_to_end: bool) -> dict[str, Any]:
        elapsed = self.finished - self.started
        figures = summary_ms(self.end_to_end if end_to_end else self.http_latency)
        return {
            "offered_per_s": round(self.offered_rate, 1),
            "achieved_per_s": round(self.achieved_rate, 1),
            "duration_s": round(elapsed, 2),
            "planned": self.planned,
            "sent": self.sent,
            "ok": self.ok,
            "errors": sum(self.errors.values()),
            "error_kinds": dict(self.errors),
            "latency": figures,
            "http_latency": summary_ms(self.http_latency),
            "send_lag": summary_ms(self.lag),
            "sustained": self.sustained(),
            "connections": self.connections,
            "generator_cpu_percent": round(100 * self.generator_cpu / elapsed, 1)
            if elapsed
            else None,
            "server_cpu_percent": round(100 * self.server_cpu / elapsed, 1) if elapsed else None,
        }


def _process_cpu() -> float:
    times = os.times()
    return times.user + times.system


async def run_at_rate(
    target: Target,
    host: str,
    port: int | Sequence[int],
    rate: float,
    duration: float,
    connections: int,
    server_cpu: Any = None,
) -> RateRun:
    """Send ``rate`` requests per second for ``duration`` seconds; wait for all to finish.

    ``server_cpu``, if given, is a callable returning the server's CPU seconds.
    With several ports (several relays) the connections are shared out in turn.
    """
    ports = [port] if isinstance(port, int) else list(port)
    total = max(1, int(rate * duration))
    result = RateRun(offered_rate=rate, duration=duration, connections=connections)
    result.planned = total
    pool = [
        (await HttpConnection.open(host, ports[n % len(ports)]), ports[n % len(ports)])
        for n in range(connections)
    ]
    next_index = 0
    cpu_before = _process_cpu()
    server_before = server_cpu() if server_cpu else 0.0
    target.end_to_end = result.end_to_end
    t0 = time.monotonic() + 0.05
    result.started = t0

    async def worker(conn: HttpConnection, port: int) -> None:
        nonlocal next_index
        while next_index < total:
            index = next_index
            next_index += 1
            due = t0 + index / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            slot = await target.acquire()
            raw = target.build(slot, index)
            target.prepare(slot)
            sent_at = time.monotonic()
            if sent_at - due > GIVE_UP_LAG:
                # Hopelessly behind: stop offering load so an overload ends quickly.
                next_index = total
                target.release(slot)
                break
            result.lag.append(max(0.0, sent_at - due))
            result.sent += 1
            try:
                try:
                    status, body = await asyncio.wait_for(conn.request(raw), REQUEST_TIMEOUT)
                except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError) as exc:
                    result.errors[type(exc).__name__] += 1
                    conn.close()
                    conn = await HttpConnection.open(host, port)
                    continue
                answered = time.monotonic()
                result.http_latency.append(answered - sent_at)
                error = await target.finish(slot, status, body, sent_at)
                if error is None:
                    result.ok += 1
                    result.finished = max(result.finished, time.monotonic())
                else:
                    result.errors[error] += 1
                if conn.writer.is_closing():
                    conn = await HttpConnection.open(host, port)
            finally:
                target.release(slot)
        conn.close()

    await asyncio.gather(*(worker(conn, port) for conn, port in pool))
    result.generator_cpu = _process_cpu() - cpu_before
    result.server_cpu = (server_cpu() if server_cpu else 0.0) - server_before
    if result.finished == 0.0:
        result.finished = time.monotonic()
    return result


async def sweep(
    target: Target,
    host: str,
    port: int | Sequence[int],
    rates: list[float],
    duration: float,
    connections: int,
    ramp_duration: float,
    ramp_steps: int,
    end_to_end: bool,
    server_cpu: Any = None,
    warmup_rate: float = 100.0,
) -> dict[str, Any]:
    """The fixed rates, then a ramp (x1.25 per step) from the highest sustained
    one to find the highest rate sustained: no errors, on schedule, >= 95 % achieved."""
    await run_at_rate(target, host, port, warmup_rate, 1.0, connections, server_cpu)  # warm-up
    fixed = []
    best: dict[str, Any] | None = None
    for rate in rates:
        run = await run_at_rate(target, host, port, rate, duration, connections, server_cpu)
        figures = run.report(end_to_end)
        fixed.append(figures)
        if run.sustained() and (best is None or rate > best["offered_per_s"]):
            best = figures
        await asyncio.sleep(0.3)
    ramp = []
    rate = (best["offered_per_s"] if best else rates[0] / 1.25) * 1.25
    for _ in range(ramp_steps):
        run = await run_at_rate(target, host, port, rate, ramp_duration, connections, server_cpu)
        figures = run.report(end_to_end)
        ramp.append(figures)
        if not run.sustained():
            break
        best = figures
        rate *= 1.25
        await asyncio.sleep(0.3)
    return {
        "rates": fixed,
        "ramp": ramp,
        "max_sustained": best,
        # The rate it sustains: the highest offered rate that was kept up with.
        "max_sustained_per_s": best["offered_per_s"] if best else 0.0,
    }
