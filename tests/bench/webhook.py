"""Webhook to screen, and the floor (benchmarks 1 and 2).

The relay runs as ``profitringer relay`` in its own process with SQLite on
disk, wired to a local Zoom. Accounts are seeded through the real flow:
created as ``relay user add`` does, signed in over REST, users made in the
local Zoom, then Connect Zoom followed through the local Zoom's (auto-approved)
consent to the relay's callback. Each account holds a live socket open with a
real ``websockets`` client.

The load generator then posts correctly signed ``user.presence_status_updated``
webhooks (compact JSON, Zoom's headers, ``event_ts`` increasing, alternating
``In_Meeting``/``Available`` so every event changes state) straight to
``/webhooks/zoom``. An event is done when its account's socket receives the
``update``; its latency is from the request being written to that moment.
An account has at most one event in flight, so updates match events exactly.

The floor is the same load against a bare uvicorn app that only answers 200
(floor_app.py), done when the 200 arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from desktop.zoomsim.server import run_in_thread
from desktop.zoomsim.sim import SimConfig
from desktop.zoomsim.webhook_signing import sign
from tests.bench import harness, profile
from tests.bench.load import post_request, run_at_rate, sweep
from tests.support.zoom import zoom_link

CLIENT_ID = "bench-client-id"
CLIENT_SECRET = "bench-client-secret-0123456789"
WEBHOOK_SECRET = "bench-webhook-secret-abcdef"
UPDATE_TIMEOUT = 5.0


@dataclass
class BenchAccount:
    index: int
    email: str
    token: str = ""
    zoom_user_id: str = ""
    zoom_email: str = ""
    in_meeting: bool = False
    socket: ClientConnection | None = None
    waiting: asyncio.Future[tuple[float, bool]] | None = None


_last_event_ts = 0


def next_event_ts() -> int:
    """Zoom's ``event_ts``: the wall clock in ms, one higher than the last at
    least, across every run of this process (a later run against the same
    relay must not look stale to it)."""
    global _last_event_ts
    _last_event_ts = max(_last_event_ts + 1, int(time.time() * 1000))
    return _last_event_ts


@dataclass
class RelayTarget:
    """Signed presence webhooks to the relay; done when the socket's update arrives."""

    host: str
    accounts: list[BenchAccount]
    free: asyncio.Queue[BenchAccount] = field(default_factory=asyncio.Queue)
    stray_updates: int = 0
    end_to_end: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        for account in self.accounts:
            self.free.put_nowait(account)

    async def acquire(self) -> BenchAccount:
        return await self.free.get()

    def build(self, slot: BenchAccount, index: int) -> bytes:
        event_ts = next_event_ts()
        status = "Available" if slot.in_meeting else "In_Meeting"
        now = time.time()
        event = {
            "event": "user.presence_status_updated",
            "event_ts": event_ts,
            "payload": {
                "account_id": "benchaccount",
                "object": {
                    "date_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
                    "email": slot.zoom_email,
                    "id": slot.zoom_user_id,
                    "presence_status": status,
                },
            },
        }
        body = json.dumps(event, separators=(",", ":")).encode()
        stamp = int(now)
        headers = {
            "content-type": "application/json; charset=utf-8",
            "user-agent": "Zoom Marketplace/1.0a",
            "clientid": CLIENT_ID,
            "x-zm-trackingid": f"bench_{index}",
            "x-zm-request-timestamp": str(stamp),
            "x-zm-signature": sign(WEBHOOK_SECRET, stamp, body),
        }
        return post_request(self.host, "/webhooks/zoom", headers, body)

    def prepare(self, slot: BenchAccount) -> None:
        slot.waiting = asyncio.get_running_loop().create_future()

    async def finish(
        self, slot: BenchAccount, status: int, body: bytes, sent_at: float
    ) -> str | None:
        waiting = slot.waiting
        assert waiting is not None
        if status != 200:
            return f"http_{status}"
        if b'"applied"' not in body:
            return "not_applied"
        try:
            received_at, in_meeting = await asyncio.wait_for(waiting, UPDATE_TIMEOUT)
        except TimeoutError:
            return "update_not_received"
        expected = not slot.in_meeting
        slot.in_meeting = in_meeting
        if in_meeting != expected:
            return "wrong_state"
        self.end_to_end.append(received_at - sent_at)
        return None

    def release(self, slot: BenchAccount) -> None:
        slot.waiting = None
        self.free.put_nowait(slot)

    def on_message(self, account: BenchAccount, received_at: float, raw: str | bytes) -> None:
        message = json.loads(raw)
        if message.get("type") != "update":
            return
        waiting = account.waiting
        if waiting is None or waiting.done():
            self.stray_updates += 1
            return
        waiting.set_result((received_at, bool(message["state"]["zoom"]["in_meeting"])))


@dataclass
class FloorTarget:
    host: str
    slots: int

    end_to_end: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.free: asyncio.Queue[int] = asyncio.Queue()
        for slot in range(self.slots):
            self.free.put_nowait(slot)
        self._body = b'{"event":"user.presence_status_updated","payload":{}}'

    async def acquire(self) -> int:
        return await self.free.get()

    def build(self, slot: int, index: int) -> bytes:
        stamp = int(time.time())
        headers = {
            "content-type": "application/json; charset=utf-8",
            "x-zm-request-timestamp": str(stamp),
            "x-zm-signature": sign(WEBHOOK_SECRET, stamp, self._body),
        }
        return post_request(self.host, "/webhooks/zoom", headers, self._body)

    def prepare(self, slot: int) -> None:
        pass

    async def finish(self, slot: int, status: int, body: bytes, sent_at: float) -> str | None:
        return None if status == 200 else f"http_{status}"

    def release(self, slot: int) -> None:
        self.free.put_nowait(slot)


def local_zoom() -> SimConfig:
    """The local Zoom the benchmarks' relays use: consent approves itself."""
    return SimConfig(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        webhook_secret=WEBHOOK_SECRET,
        auto_approve=True,
        default_user_email="",
    )


def zoom_env(sim_url: str) -> dict[str, str]:
    """A relay's environment for the local Zoom at ``sim_url``."""
    return {
        "PROFITRINGER_ZOOM_CLIENT_ID": CLIENT_ID,
        "PROFITRINGER_ZOOM_CLIENT_SECRET": CLIENT_SECRET,
        "PROFITRINGER_ZOOM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "PROFITRINGER_ZOOM_OAUTH_URL": sim_url,
        "PROFITRINGER_ZOOM_API_URL": sim_url,
    }


def _seed(relay_url: str, sim_url: str, accounts: list[BenchAccount]) -> None:
    """Sign in, create the Zoom user, connect Zoom through the real OAuth flow."""
    with (
        httpx.Client(base_url=relay_url, timeout=30) as api,
        httpx.Client(base_url=sim_url, timeout=30) as zoom,
        httpx.Client(timeout=30, follow_redirects=True) as browser,
    ):
        for account in accounts:
            account.token = harness.sign_in(api, account.email)
            account.zoom_email = f"zoom{account.index}@bench.example"
            created = zoom.post("/_sim/users", json={"email": account.zoom_email})
            created.raise_for_status()
            account.zoom_user_id = created.json()["id"]
            connect = api.post(
                "/api/v1/integrations/zoom/connect",
                headers={"Authorization": f"Bearer {account.token}"},
            )
            connect.raise_for_status()
            url = zoom_link(browser, connect.json()["authorize_url"], account.zoom_email)
            page = browser.get(url)
            if page.status_code != 200 or "Zoom is connected" not in page.text:
                raise RuntimeError(f"connecting Zoom failed: {page.status_code} {page.text[:200]}")


async def _open_sockets(
    relay_url: str, target: RelayTarget, accounts: list[BenchAccount] | None = None
) -> list[asyncio.Task[None]]:
    """A live socket on ``relay_url`` for each of ``accounts`` (default: all the target's)."""
    ws_url = relay_url.replace("http://", "ws://") + "/api/v1/live"
    readers = []
    for account in target.accounts if accounts is None else accounts:
        account.socket = await websockets.connect(
            ws_url,
            additional_headers={"Authorization": f"Bearer {account.token}"},
            open_timeout=20,
            ping_interval=None,
        )
        snapshot = json.loads(await asyncio.wait_for(account.socket.recv(), 10))
        if snapshot["type"] != "snapshot" or snapshot["state"]["zoom"]["state"] != "connected":
            raise RuntimeError(f"unexpected first message: {snapshot}")
        account.in_meeting = bool(snapshot["state"]["zoom"]["in_meeting"])
        readers.append(asyncio.create_task(_read(account, target)))
    return readers


async def _read(account: BenchAccount, target: RelayTarget) -> None:
    assert account.socket is not None
    with contextlib.suppress(websockets.ConnectionClosed):
        async for raw in account.socket:
            target.on_message(account, time.monotonic(), raw)


@dataclass
class WebhookPlan:
    accounts: int
    rates: list[float]
    duration: float
    ramp_duration: float
    ramp_steps: int
    #: Seconds of py-spy samples at the highest sustained rate; 0: no profile.
    profile_seconds: float = 0.0


async def _relay_load(
    relay: harness.ServerProcess,
    accounts: list[BenchAccount],
    plan: WebhookPlan,
    profile_to: Path | None = None,
) -> dict[str, Any]:
    host = f"127.0.0.1:{relay.port}"
    target = RelayTarget(host, accounts)
    readers = await _open_sockets(relay.url, target)
    rss_before = harness.rss_kib(relay.pid)
    try:
        result = await sweep(
            target,
            "127.0.0.1",
            relay.port,
            plan.rates,
            plan.duration,
            min(64, len(accounts)),
            plan.ramp_duration,
            plan.ramp_steps,
            end_to_end=True,
            server_cpu=lambda: harness.cpu_seconds(relay.pid),
        )
        best = result["max_sustained_per_s"]
        if profile_to is not None and plan.profile_seconds and best:
            load = run_at_rate(
                target,
                "127.0.0.1",
                relay.port,
                best,
                plan.profile_seconds,
                min(64, len(accounts)),
            )
            result["profile"] = {
                "rate_per_s": best,
                **await profile.record(relay.pid, plan.profile_seconds, profile_to, load),
            }
    finally:
        for account in accounts:
            if account.socket is not None:
                await account.socket.close()
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    result["stray_updates"] = target.stray_updates
    result["relay_rss_mib"] = {
        "with_sockets": round(rss_before / 1024, 1),
        "after_load": round(harness.rss_kib(relay.pid) / 1024, 1),
    }
    return result


def run(plan: WebhookPlan, out_dir: Path) -> dict[str, Any]:
    """Benchmarks 1 (relay) and 2 (floor); returns the JSON section."""
    with tempfile.TemporaryDirectory(prefix="profitringer-bench-") as tmp:
        data_dir = Path(tmp) / "relay"
        accounts = [BenchAccount(i, f"bench{i}@example.com") for i in range(plan.accounts)]
        harness.add_accounts(data_dir, [a.email for a in accounts])
        with run_in_thread(local_zoom()) as sim:
            env = {**zoom_env(sim.url), **harness.BENCH_LIVE_LIMITS}
            relay = harness.relay_process(data_dir, out_dir / "logs" / "webhook-relay.log", env)
            with relay:
                started = time.monotonic()
                _seed(relay.url, sim.url, accounts)
                seeded_in = time.monotonic() - started
                relay_result = harness.run_loop(
                    _relay_load(relay, accounts, plan, out_dir / "webhook-profile.txt")
                )
            # The same relay and data again with PROFITRINGER_DURABILITY=full: an
            # fsync of the WAL at every commit.
            full_env = {**env, "PROFITRINGER_DURABILITY": "full"}
            full = harness.relay_process(
                data_dir, out_dir / "logs" / "webhook-relay-full.log", full_env
            )
            with full:
                full_result = harness.run_loop(_relay_load(full, accounts, plan))
        floor = harness.floor_process(out_dir / "logs" / "floor.log")
        with floor:
            target = FloorTarget(f"127.0.0.1:{floor.port}", min(64, plan.accounts))
            floor_result = harness.run_loop(
                sweep(
                    target,
                    "127.0.0.1",
                    floor.port,
                    plan.rates,
                    plan.duration,
                    min(64, plan.accounts),
                    plan.ramp_duration,
                    plan.ramp_steps * 2,
                    end_to_end=False,
                    server_cpu=lambda: harness.cpu_seconds(floor.pid),
                )
            )
    ratio = (
        relay_result["max_sustained_per_s"] / floor_result["max_sustained_per_s"]
        if floor_result["max_sustained_per_s"]
        else None
    )
    return {
        "setup": {
            "accounts": plan.accounts,
            "connections": min(64, plan.accounts),
            "seconds_per_rate": plan.duration,
            "ramp_seconds_per_step": plan.ramp_duration,
            "seeding_seconds": round(seeded_in, 1),
        },
        "relay": relay_result,
        "relay_full_durability": full_result,
        "floor": floor_result,
        "relay_to_floor_throughput": round(ratio, 3) if ratio is not None else None,
        "notes": [
            "latency: request written -> matching live-socket update received (relay); "
            "request written -> 200 received (floor)",
            "sustained: no errors, every event delivered, >= 95 % of the offered rate "
            "achieved, p99 send lag behind schedule <= 100 ms",
            "one event in flight per account, at most 64 connections",
            "relay: PROFITRINGER_DURABILITY=normal (SQLite synchronous=NORMAL); "
            "relay_full_durability: the same with full (synchronous=FULL)",
        ],
    }
