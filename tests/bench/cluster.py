"""Several relays on one PostgreSQL and Redis (issue 13).

Relays run as ``profitringer relay`` processes on a PostgreSQL cluster and a
redis-server that the benchmark starts itself (tests/support/cluster.py),
seeded and loaded exactly as the one-relay webhook benchmark (webhook.py):
real OAuth connects, one live socket per account, signed presence webhooks,
an event done when its socket's ``update`` arrives.

- ``cross``: the webhook lands on relay A and the socket is on relay B, so
  every event crosses Redis: latency at the fixed rates (100/s and 500/s).
- ``scale``: the highest sustained rate of one relay on PostgreSQL, and of two
  and three relays together (webhooks and sockets spread over them).
- ``sockets``: live sockets on one relay on PostgreSQL and Redis, in stages up
  to 10,000, with memory per socket (fanout.py's measure).
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from desktop.zoomsim.server import run_in_thread
from tests.bench import fanout, harness
from tests.bench.load import sweep
from tests.bench.webhook import (
    BenchAccount,
    RelayTarget,
    _open_sockets,
    _seed,
    local_zoom,
    zoom_env,
)
from tests.support.cluster import SharedServers, shared_servers


@dataclass
class ClusterPlan:
    accounts: int
    rates: list[float]
    duration: float
    ramp_start: float
    ramp_duration: float
    ramp_steps: int
    relays: int
    sockets: list[int]


def _relays(
    servers: SharedServers, root: Path, env: dict[str, str], count: int, out_dir: Path
) -> list[harness.ServerProcess]:
    return [
        harness.relay_process(
            root / f"relay-{n}",
            out_dir / "logs" / f"cluster-relay-{n}.log",
            servers.relay_env({**env, **harness.BENCH_LIVE_LIMITS}),
        )
        for n in range(1, count + 1)
    ]


async def _load(
    accounts: list[BenchAccount],
    socket_relays: list[harness.ServerProcess],
    webhook_relays: list[harness.ServerProcess],
    rates: list[float],
    plan: ClusterPlan,
    ramp_steps: int,
) -> dict[str, Any]:
    """Sockets spread over ``socket_relays``, webhooks over ``webhook_relays``."""
    target = RelayTarget(f"127.0.0.1:{webhook_relays[0].port}", accounts)
    readers = []
    for number, relay in enumerate(socket_relays):
        readers += await _open_sockets(relay.url, target, accounts[number :: len(socket_relays)])
    try:
        return await sweep(
            target,
            "127.0.0.1",
            [relay.port for relay in webhook_relays],
            rates,
            plan.duration,
            min(64, len(accounts)),
            plan.ramp_duration,
            ramp_steps,
            end_to_end=True,
            server_cpu=lambda: sum(harness.cpu_seconds(r.pid) for r in socket_relays),
        )
    finally:
        for account in accounts:
            if account.socket is not None:
                await account.socket.close()
                account.socket = None
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)


def run(plan: ClusterPlan, out_dir: Path) -> dict[str, Any]:
    nofile = harness.raise_nofile()
    with (
        tempfile.TemporaryDirectory(prefix="profitringer-bench-") as tmp,
        shared_servers(Path(tmp) / "servers") as servers,
    ):
        root = Path(tmp)
        accounts = [BenchAccount(i, f"bench{i}@example.com") for i in range(plan.accounts)]
        harness.add_accounts(root / "seed", [a.email for a in accounts], servers.database_url)
        with run_in_thread(local_zoom()) as sim:
            env = zoom_env(sim.url)
            relays = _relays(servers, root, env, plan.relays, out_dir)
            for relay in relays:
                relay.env["PROFITRINGER_PUBLIC_URL"] = relays[0].url
                relay.start()
            try:
                _seed(relays[0].url, sim.url, accounts)
                cross = harness.run_loop(
                    _load(accounts, relays[1:2], relays[0:1], plan.rates, plan, 0)
                )
                scale = []
                for count in range(1, plan.relays + 1):
                    some = relays[:count]
                    result = harness.run_loop(
                        _load(accounts, some, some, [plan.ramp_start], plan, plan.ramp_steps)
                    )
                    scale.append(
                        {
                            "relays": count,
                            "max_sustained_per_s": result["max_sustained_per_s"],
                            "max_sustained": result["max_sustained"],
                        }
                    )
                with httpx.Client(base_url=relays[0].url, timeout=30) as api:
                    token = harness.sign_in(api, accounts[0].email, "fanout")
                sockets: dict[str, Any] = harness.run_loop(
                    fanout._stages(
                        relays[0], token, fanout.FanoutPlan(stages=plan.sockets, repeats=2)
                    )
                )
            finally:
                for relay in relays:
                    relay.stop()
    return {
        "setup": {
            "accounts": plan.accounts,
            "relays": plan.relays,
            "seconds_per_rate": plan.duration,
            "store": "PostgreSQL (fsync off: the throwaway cluster of the tests)",
            "broker": "Redis",
            "open_files_limit": nofile,
        },
        "cross": cross,
        "scale": scale,
        "sockets": sockets,
        "notes": [
            "cross: webhook posted to relay 1, the account's socket on relay 2 (through Redis)",
            "scale: webhooks and sockets spread evenly over the relays; the load generator, "
            "PostgreSQL and Redis share the same 2 cores",
            "sockets: one account, every socket on relay 1 (PostgreSQL and Redis configured)",
        ],
    }
