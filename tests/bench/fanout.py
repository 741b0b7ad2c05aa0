"""Fan-out (benchmark 3): many live sockets on one relay process.

One ``profitringer relay`` process, one account, and 1,000 / 5,000 / 10,000
live sockets on it, opened in stages. Per stage: the connection set-up rate
(handshake through to the snapshot arriving, 100 handshakes in flight), the
relay's resident memory per socket (growth over the relay's RSS before any
socket, divided by the sockets open), and the time from ``PUT /api/v1/ringer``
being sent to the ``update`` arriving on every socket of the account.

The sockets are held by a minimal RFC 6455 client written on asyncio's
protocol API (handshake with ``Authorization: Bearer``, unmasked server
frames, masked pongs). Holding 10,000 sockets with a full client library costs
the measuring process more CPU than the relay spends, which would then be what
the fan-out time measured.
"""

from __future__ import annotations

import asyncio
import base64
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx

from tests.bench import harness

HANDSHAKES_IN_FLIGHT = 100


class Arrivals:
    """Counts sockets that have received the frame they were told to wait for."""

    def __init__(self) -> None:
        self.reached = 0
        self.goal = 0
        self.times: list[float] = []
        self.done: asyncio.Event = asyncio.Event()

    def expect(self, sockets: list[LiveSocket]) -> None:
        """From now on, count each socket's next text frame."""
        for client in sockets:
            client.wanted = client.frames + 1
        self.reached = 0
        self.goal = len(sockets)
        self.times = []
        self.done = asyncio.Event()

    def frame(self, client: LiveSocket, at: float) -> None:
        if client.frames == client.wanted:
            self.reached += 1
            self.times.append(at)
            if self.reached >= self.goal:
                self.done.set()


class LiveSocket(asyncio.Protocol):
    """One live socket: handshake, then count text frames; answer pings."""

    def __init__(self, port: int, token: str, arrivals: Arrivals) -> None:
        self.port = port
        self.token = token
        self.arrivals = arrivals
        self.opened: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.first_frame: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.frames = 0
        self.wanted = 0
        self.buffer = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport, from create_connection(); cast, not isinstance:
        # uvloop's TCPTransport does not derive from asyncio.Transport.
        stream = cast(asyncio.Transport, transport)
        self.transport = stream
        key = base64.b64encode(os.urandom(16)).decode()
        stream.write(
            (
                "GET /api/v1/live HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{self.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Authorization: Bearer {self.token}\r\n\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end])
            del buffer[: end + 4]
            if not head.startswith(b"HTTP/1.1 101"):
                if not self.opened.done():
                    self.opened.set_exception(ConnectionError(head.split(b"\r\n")[0].decode()))
                self.close()
                return
            self.upgraded = True
            self.opened.set_result(now)
        while len(buffer) >= 2:
            opcode = buffer[0] & 0x0F
            length = buffer[1] & 0x7F
            offset = 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length = int.from_bytes(buffer[2:4], "big")
                offset = 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length = int.from_bytes(buffer[2:10], "big")
                offset = 10
            if len(buffer) < offset + length:
                return
            payload = bytes(buffer[offset : offset + length])
            del buffer[: offset + length]
            if opcode == 0x1:
                self.frames += 1
                if self.frames == 1 and not self.first_frame.done():
                    self.first_frame.set_result(now)
                self.arrivals.frame(self, now)
            elif opcode == 0x9 and self.transport is not None and length < 126:
                # pong, masked with a zero key (any key is valid)
                self.transport.write(bytes([0x8A, 0x80 | length]) + b"\0\0\0\0" + payload)
            elif opcode == 0x8:
                self.close()
                return

    def connection_lost(self, exc: Exception | None) -> None:
        for future in (self.opened, self.first_frame):
            if not future.done():
                future.set_exception(ConnectionError("connection lost"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


@dataclass
class FanoutPlan:
    stages: list[int]
    repeats: int


async def _open(port: int, token: str, arrivals: Arrivals) -> tuple[LiveSocket, float]:
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    _, client = await loop.create_connection(
        lambda: LiveSocket(port, token, arrivals), "127.0.0.1", port
    )
    await asyncio.wait_for(client.first_frame, 30)
    return client, time.monotonic() - started


async def _stages(relay: harness.ServerProcess, token: str, plan: FanoutPlan) -> dict[str, Any]:
    arrivals = Arrivals()
    sockets: list[LiveSocket] = []
    headers = {"Authorization": f"Bearer {token}"}
    ringer_on = True
    stages = []
    async with httpx.AsyncClient(base_url=relay.url, headers=headers, timeout=60) as api:
        (await api.get("/api/v1/state")).raise_for_status()
        await asyncio.sleep(0.5)
        rss_base = harness.rss_kib(relay.pid)
        for target in plan.stages:
            adding = target - len(sockets)
            gate = asyncio.Semaphore(HANDSHAKES_IN_FLIGHT)
            setups: list[float] = []

            async def one(gate: asyncio.Semaphore = gate, setups: list[float] = setups) -> None:
                async with gate:
                    client, took = await _open(relay.port, token, arrivals)
                    sockets.append(client)
                    setups.append(took)

            cpu_before = harness.cpu_seconds(relay.pid)
            started = time.monotonic()
            await asyncio.gather(*(one() for _ in range(adding)))
            opened_in = time.monotonic() - started
            open_cpu = harness.cpu_seconds(relay.pid) - cpu_before
            await asyncio.sleep(1.0)
            rss = harness.rss_kib(relay.pid)
            deliveries = []
            for _ in range(plan.repeats):
                ringer_on = not ringer_on
                arrivals.expect(sockets)
                sent = time.monotonic()
                answer = await api.put("/api/v1/ringer", json={"on": ringer_on})
                answered = time.monotonic() - sent
                answer.raise_for_status()
                await asyncio.wait_for(arrivals.done.wait(), 120)
                times = sorted(t - sent for t in arrivals.times)
                deliveries.append(
                    {
                        "all_delivered_ms": round(times[-1] * 1000, 1),
                        "first_ms": round(times[0] * 1000, 1),
                        "median_ms": round(times[len(times) // 2] * 1000, 1),
                        "rest_answer_ms": round(answered * 1000, 1),
                    }
                )
                await asyncio.sleep(0.5)
            worst = max(d["all_delivered_ms"] for d in deliveries)
            typical = sorted(d["all_delivered_ms"] for d in deliveries)[len(deliveries) // 2]
            stages.append(
                {
                    "sockets": len(sockets),
                    "setup_per_s": round(adding / opened_in, 1),
                    "setup_latency": harness.summary_ms(setups),
                    "relay_cpu_percent_while_opening": round(100 * open_cpu / opened_in, 1),
                    "relay_rss_mib": round(rss / 1024, 1),
                    "memory_per_socket_kib": round((rss - rss_base) / len(sockets), 1),
                    "deliver_to_all_ms": typical,
                    "deliver_to_all_worst_ms": worst,
                    "deliveries": deliveries,
                }
            )
    for client in sockets:
        client.close()
    return {"relay_rss_before_sockets_mib": round(rss_base / 1024, 1), "stages": stages}


def run(plan: FanoutPlan, out_dir: Path) -> dict[str, Any]:
    nofile = harness.raise_nofile()
    with tempfile.TemporaryDirectory(prefix="profitringer-bench-") as tmp:
        data_dir = Path(tmp) / "relay"
        email = "fanout@example.com"
        harness.add_accounts(data_dir, [email])
        relay = harness.relay_process(
            data_dir, out_dir / "logs" / "fanout-relay.log", harness.BENCH_LIVE_LIMITS
        )
        with relay:
            with httpx.Client(base_url=relay.url, timeout=30) as api:
                token = harness.sign_in(api, email)
            result: dict[str, Any] = harness.run_loop(_stages(relay, token, plan))
    result["open_files_limit"] = nofile
    result["notes"] = [
        "one account holds every socket; one update goes to all of them",
        "memory per socket: (relay RSS with the sockets - relay RSS before any) / sockets",
        f"set-up: TCP connect + handshake + snapshot, {HANDSHAKES_IN_FLIGHT} in flight",
    ]
    return result
