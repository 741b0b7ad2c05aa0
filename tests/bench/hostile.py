"""Webhooks while hostile clients flood the relay (issue 12): their p99 must stay
under Zoom's patience, and under 100 ms during a sign-in flood.

The relay runs as ``profitringer relay`` in its own process with its default
limits, trusting X-Forwarded-For from 127.0.0.1 so that the sign-in flood can
come from a new address every time (the throttle's worst case: every attempt
costs an Argon2id check). Correctly signed presence webhooks for a user the
relay does not know (acknowledged after the lookup) are sent at ``rate`` per
second, one at a time; the latency is from sending to the 200. Three phases of
``duration`` seconds each:

- ``quiet``: webhooks alone;
- ``signin_flood``: ``signin_concurrency`` clients posting wrong passwords in a
  loop, each from its own address;
- ``header_flood``: ``header_connections`` clients each sending one endless
  header (1 MiB pieces; a 60 MB header once stalled the relay for seconds),
  reconnecting whenever the relay refuses it.

    python -m tests.bench.hostile [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from desktop.zoomsim.webhook_signing import sign
from tests.bench import harness

WEBHOOK_SECRET = "bench-hostile-webhook-secret"
#: Seconds a flood runs before the webhooks are measured.
FLOOD_LEAD = 1.0


@dataclass
class HostilePlan:
    duration: float = 10.0
    rate: float = 50.0
    signin_concurrency: int = 120
    header_connections: int = 20


@dataclass
class Counters:
    statuses: dict[int, int]
    refused_headers: int = 0

    def saw(self, status: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1


def _webhook(index: int) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "event": "user.presence_status_updated",
            "event_ts": int(time.time() * 1000) + index,
            "payload": {
                "account_id": "bench",
                "object": {"id": f"unknown-{index}", "presence_status": "Available"},
            },
        },
        separators=(",", ":"),
    ).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "x-zm-request-timestamp": str(timestamp),
        "x-zm-signature": sign(WEBHOOK_SECRET, timestamp, body),
    }
    return body, headers


async def _webhooks(url: str, plan: HostilePlan) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        loop = asyncio.get_running_loop()
        started = loop.time()
        count = int(plan.duration * plan.rate)
        for index in range(count):
            await asyncio.sleep(max(0.0, started + index / plan.rate - loop.time()))
            body, headers = _webhook(index)
            sent = time.perf_counter()
            try:
                response = await client.post("/webhooks/zoom", content=body, headers=headers)
            except httpx.HTTPError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - sent)
            if response.status_code != 200:
                errors += 1
    return {"latency": harness.summary_ms(latencies), "errors": errors, "sent": count}


async def _signin_flood(url: str, plan: HostilePlan, stop: asyncio.Event) -> Counters:
    counters = Counters({})
    addresses = itertools.count(1)
    limits = httpx.Limits(max_connections=plan.signin_concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def attacker() -> None:
            while not stop.is_set():
                n = next(addresses)
                address = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
                with contextlib.suppress(httpx.HTTPError):
                    response = await client.post(
                        "/api/v1/sessions",
                        json={"email": f"victim{n % 50}@example.com", "password": "guess"},
                        headers={"X-Forwarded-For": address},
                    )
                    counters.saw(response.status_code)
                    if response.status_code == 503:
                        await asyncio.sleep(0.05)

        await asyncio.gather(*(attacker() for _ in range(plan.signin_concurrency)))
    return counters


async def _header_flood(host: str, port: int, plan: HostilePlan, stop: asyncio.Event) -> Counters:
    counters = Counters({})
    piece = b"a" * (1024 * 1024)

    async def attacker() -> None:
        while not stop.is_set():
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                continue
            try:
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Flood: ")
                sent = 0
                while not stop.is_set() and sent < 60 * 1024 * 1024:
                    writer.write(piece)
                    await writer.drain()
                    sent += len(piece)
                    if reader.at_eof():  # the 431 came, then the relay shut its side
                        break
                answer = await asyncio.wait_for(reader.read(64), 2)
                if answer.startswith(b"HTTP/1.1 431"):
                    counters.refused_headers += 1
            except (OSError, TimeoutError):
                pass
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()

    await asyncio.gather(*(attacker() for _ in range(plan.header_connections)))
    return counters


def _flood_process(kind: str, url: str, port: int, plan: HostilePlan, seconds: float) -> None:
    """One flood in its own process (its own CPU and GIL), for ``seconds``."""

    async def flood() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(seconds, stop.set)
        if kind == "signin":
            counters = await _signin_flood(url, plan, stop)
        else:
            counters = await _header_flood("127.0.0.1", port, plan, stop)
        print(json.dumps({"statuses": counters.statuses, "431": counters.refused_headers}))

    harness.run_loop(flood())


async def _phase(url: str, port: int, plan: HostilePlan, kind: str | None) -> dict[str, Any]:
    flooder = None
    if kind is not None:
        flooder = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "import sys, json; from tests.bench.hostile import _flood_process, HostilePlan; "
            "a = json.loads(sys.argv[1]); "
            "_flood_process(a['kind'], a['url'], a['port'], HostilePlan(**a['plan']), a['s'])",
            json.dumps(
                {
                    "kind": kind,
                    "url": url,
                    "port": port,
                    "plan": dataclasses.asdict(plan),
                    "s": plan.duration + FLOOD_LEAD,
                }
            ),
            cwd=harness.ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        await asyncio.sleep(FLOOD_LEAD)  # let the flood build up before measuring
    result = await _webhooks(url, plan)
    if flooder is not None:
        out, _ = await flooder.communicate()
        counters = json.loads(out.decode().strip().splitlines()[-1])
        result["flood"] = {
            "statuses": {str(k): v for k, v in sorted(counters["statuses"].items())},
            "refused_headers_431": counters["431"],
        }
    return result


def run(plan: HostilePlan, out_dir: Path) -> dict[str, Any]:
    harness.raise_nofile()
    with tempfile.TemporaryDirectory(prefix="profitringer-bench-") as tmp:
        data_dir = Path(tmp) / "relay"
        harness.add_accounts(data_dir, [f"victim{i}@example.com" for i in range(50)])
        env = {
            "PROFITRINGER_ZOOM_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "PROFITRINGER_TRUSTED_PROXIES": "127.0.0.1",
        }
        relay = harness.relay_process(data_dir, out_dir / "logs" / "hostile-relay.log", env)
        with relay:
            port = relay.port

            async def phases() -> dict[str, Any]:
                return {
                    "quiet": await _phase(relay.url, port, plan, None),
                    "signin_flood": await _phase(relay.url, port, plan, "signin"),
                    "header_flood": await _phase(relay.url, port, plan, "header"),
                }

            results = harness.run_loop(phases())
    return {
        "plan": {
            "duration_s": plan.duration,
            "webhooks_per_s": plan.rate,
            "signin_concurrency": plan.signin_concurrency,
            "header_connections": plan.header_connections,
        },
        "phases": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("bench-output"))
    args = parser.parse_args()
    plan = HostilePlan(duration=2.0, rate=20.0, signin_concurrency=20, header_connections=4)
    result = run(plan if args.quick else HostilePlan(), args.out)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
