"""Redis between relays, the broker alone: a state document published by one
RedisBroker until another delivers it to its hub's sockets, through a real
redis-server the benchmark starts itself.

    python -m tests.bench.broker [--accounts N] [--seconds S] [--rates R,R,...]

Both brokers run in this one process (one event loop), so the figure is the
broker's share of "webhook on relay A, socket on relay B"; the whole path across
two relay processes on PostgreSQL comes with the storage work. Prints figures;
never fails on time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from desktop.relay.broker import RedisBroker
from desktop.relay.hub import LiveHub
from tests.support.redis_server import RedisServer


class Timing:
    """A subscriber that notes how long each message took to arrive."""

    def __init__(self, account_id: str, latencies: list[float]) -> None:
        self.account_id = account_id
        self.session_id = 0
        self._latencies = latencies

    def deliver(self, text: str) -> None:
        self._latencies.append(time.perf_counter() - json.loads(text)["sent"])

    def close(self, code: int, reason: str) -> None:
        pass


def quantile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


async def measure(url: str, rate: float, accounts: int, seconds: float) -> str:
    receiving = LiveHub()
    sender = RedisBroker(LiveHub(), url, channel="bench:broker")
    receiver = RedisBroker(receiving, url, channel="bench:broker")
    await sender.start()
    await receiver.start()
    latencies: list[float] = []
    for index in range(accounts):
        receiving.add(Timing(f"account-{index}", latencies))
    total = int(rate * seconds)
    started = time.perf_counter()
    try:
        for seq in range(1, total + 1):
            wait = started + seq / rate - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            text = json.dumps({"type": "update", "seq": seq, "sent": time.perf_counter()})
            sender.publish_state(f"account-{seq % accounts}", seq, text)
        deadline = time.perf_counter() + 10
        while len(latencies) < total and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    finally:
        await sender.stop()
        await receiver.stop()
    ms = sorted(x * 1000 for x in latencies)
    if not ms:
        return f"{rate:,.0f}/s: nothing delivered"
    return (
        f"{rate:,.0f}/s over {accounts} accounts: {len(ms)}/{total} delivered"
        f" (the rest superseded by a newer document of the same account)"
        f" · p50 {quantile(ms, 0.5):.2f} ms · p99 {quantile(ms, 0.99):.2f} ms"
        f" · max {ms[-1]:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rates", default="100,500,2000")
    args = parser.parse_args()
    with RedisServer() as server:
        for rate in (float(r) for r in args.rates.split(",")):
            print(asyncio.run(measure(server.url, rate, args.accounts, args.seconds)))


if __name__ == "__main__":
    main()
