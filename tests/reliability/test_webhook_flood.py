"""A flood of badly signed webhooks does not crowd out correctly signed ones.

The relay runs as its own process. Several concurrent clients send 2,000
webhooks that are not provably from Zoom (wrong secret, tampered body, stale or
future timestamp, missing or garbage headers) while correctly signed presence
changes for one account go through the same endpoint. Asserted: every bad one
gets 401 ``invalid_signature``, every good one is applied and reaches the
account's live socket, each within a generous 5 s. The webhook-to-socket
latency is printed (p50/p99) with and without the flood; it is not asserted.
The bad ones all carry an ``event_ts`` far in the future, so had any of them
been applied, every later good one would have been ignored as stale.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from pathlib import Path

import httpx

from desktop.zoomsim.server import run_in_thread
from desktop.zoomsim.webhook_signing import sign
from tests.support.live import open_live
from tests.support.zoom import (
    WEBHOOK_SECRET,
    RelayProcess,
    Wire,
    add_accounts,
    people_with_zoom,
    sim_config,
    zoom_env,
)

BAD = 2000
CLIENTS = 4
GOOD = 40
QUIET = 10
SANITY_BOUND = 5.0


def presence_body(user_id: str, status: str, event_ts: int) -> bytes:
    event = {
        "event": "user.presence_status_updated",
        "event_ts": event_ts,
        "payload": {
            "account_id": "acct",
            "object": {
                "date_time": "2026-01-01T00:00:00Z",
                "email": "someone@example.com",
                "id": user_id,
                "presence_status": status,
            },
        },
    }
    return json.dumps(event, separators=(",", ":")).encode()


def headers(body: bytes, *, secret: str = WEBHOOK_SECRET, skew: int = 0) -> dict[str, str]:
    timestamp = int(time.time()) + skew
    return {
        "content-type": "application/json; charset=utf-8",
        "x-zm-request-timestamp": str(timestamp),
        "x-zm-signature": sign(secret, timestamp, body),
    }


def bad_request(n: int, user_id: str) -> tuple[bytes, dict[str, str]]:
    """The n-th badly signed delivery: five kinds in turn, all about the real user."""
    body = presence_body(user_id, "In_Meeting", int(time.time() * 1000) + 10_000_000)
    kind = n % 5
    if kind == 0:
        return body, headers(body, secret="not-the-secret")
    if kind == 1:
        signed = headers(body)
        return body.replace(b"In_Meeting", b"Presenting"), signed
    if kind == 2:
        return body, headers(body, skew=-3 * 3600)  # beyond the 2-hour window
    if kind == 3:
        return body, headers(body, skew=3600)
    return body, {"content-type": "application/json", "x-zm-signature": "v0=" + "0" * 64}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def test_bad_signatures_do_not_delay_good_ones(tmp_path: Path) -> None:
    data_dir = tmp_path / "relay"
    ids = add_accounts(data_dir, ["flood@example.com"])
    wire = Wire()
    with run_in_thread(sim_config()) as zoom:
        relay = RelayProcess(data_dir, zoom_env(zoom))
        relay.start()
        try:
            person = people_with_zoom(relay.url, zoom, wire, ["flood@example.com"], ids)[0]
            user_id = zoom.sim.find_user(person.zoom_email).id
            quiet, flooded, bad_statuses, sent = asyncio.run(
                scenario(relay.url, person.token, user_id)
            )
        finally:
            relay.stop()
    assert bad_statuses == {401: BAD}, bad_statuses
    assert len(flooded) == GOOD
    assert max(quiet + flooded) < SANITY_BOUND
    print(
        f"\nwebhook flood: {BAD} badly signed webhooks from {CLIENTS} clients, all 401; "
        f"{sent} good ones applied and pushed. Webhook-to-socket latency without flood "
        f"p50 {statistics.median(quiet) * 1000:.1f} ms / p99 {percentile(quiet, 0.99) * 1000:.1f}"
        f" ms; during the flood p50 {statistics.median(flooded) * 1000:.1f} ms / "
        f"p99 {percentile(flooded, 0.99) * 1000:.1f} ms"
    )


async def scenario(
    url: str, token: str, user_id: str
) -> tuple[list[float], list[float], dict[int, int], int]:
    ws = await open_live(url.replace("http://", "ws://") + "/api/v1/live", token)
    snapshot = json.loads(await asyncio.wait_for(ws.recv(), 10))
    in_meeting = snapshot["state"]["zoom"]["in_meeting"]
    event_ts = int(time.time() * 1000)
    bad_done = 0
    bad_statuses: dict[int, int] = {}
    progress = asyncio.Condition()
    sent = 0

    async def good_one(client: httpx.AsyncClient) -> float:
        """One correctly signed change; seconds until the socket shows it."""
        nonlocal in_meeting, event_ts, sent
        in_meeting = not in_meeting
        event_ts += 1
        body = presence_body(user_id, "In_Meeting" if in_meeting else "Available", event_ts)
        started = time.perf_counter()
        response = await client.post("/webhooks/zoom", content=body, headers=headers(body))
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "applied"}
        sent += 1
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), SANITY_BOUND))
            assert message["state"]["account"]["email"] == "flood@example.com"
            if message["state"]["zoom"]["in_meeting"] is in_meeting:
                return time.perf_counter() - started

    async def flood(client: httpx.AsyncClient, share: range) -> None:
        nonlocal bad_done
        for n in share:
            body, signed = bad_request(n, user_id)
            response = await client.post("/webhooks/zoom", content=body, headers=signed)
            bad_statuses[response.status_code] = bad_statuses.get(response.status_code, 0) + 1
            if response.status_code == 401:
                assert response.json()["error"]["code"] == "invalid_signature"
            async with progress:
                bad_done += 1
                progress.notify_all()

    async with httpx.AsyncClient(base_url=url, timeout=30) as good_client:
        quiet = [await good_one(good_client) for _ in range(QUIET)]
        flooded: list[float] = []

        async def good_during_flood() -> None:
            for number in range(GOOD):
                # Spread the good ones over the flood: wait for its next slice.
                def sliced(n: int = number) -> bool:
                    return bad_done >= n * BAD // (GOOD + 1)

                async with progress:
                    await progress.wait_for(sliced)
                flooded.append(await good_one(good_client))

        clients = [httpx.AsyncClient(base_url=url, timeout=30) for _ in range(CLIENTS)]
        try:
            await asyncio.wait_for(
                asyncio.gather(
                    good_during_flood(),
                    *(flood(client, range(k, BAD, CLIENTS)) for k, client in enumerate(clients)),
                ),
                90,
            )
        finally:
            for client in clients:
                await client.aclose()
    await ws.close()
    return quiet, flooded, bad_statuses, sent
