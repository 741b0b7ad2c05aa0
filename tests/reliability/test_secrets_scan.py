"""A full run end to end, then a scan for every secret it involved.

The relay runs as its own process with ``--debug`` logging (its stderr is
kept). The run: sign-ins (one with a wrong password), Zoom connected through
OAuth for two accounts, live sockets, presence webhooks, meeting links, an
access token expiring (refresh), a failed refresh, a dead grant (expired) and
a reconnect, a disconnect (revoke) and a reconnect, a removal at Zoom
(``app_deauthorized``) and a reconnect, badly signed webhooks, a sign-out and
an account deletion. Afterwards none of these appears where it must not:

- every access token, refresh token and authorization code the local Zoom
  issued, the Zoom client secret, the webhook secret and the token encryption
  key: not in the data dir's files, not in any HTTP answer or socket message
  the clients saw, not in the relay's log;
- every password used (right and wrong): nowhere either;
- the relay's session tokens: not in the data dir's files nor the log (the
  sign-in answer is the one place they belong).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from cryptography.fernet import Fernet

from desktop.zoomsim.server import RunningZoomSim, run_in_thread
from desktop.zoomsim.webhook_signing import sign
from tests.support.live import open_live
from tests.support.waiting import wait_until
from tests.support.zoom import (
    CLIENT_SECRET,
    PASSWORD,
    WEBHOOK_SECRET,
    RelayProcess,
    Wire,
    add_accounts,
    connect_zoom,
    issued_secrets,
    sign_in,
    sim_config,
    zoom_env,
)

OTHER_PASSWORD = "another long passphrase 42"
WRONG_PASSWORD = "a wrong guess 12345"


def test_no_secret_leaks_anywhere_in_a_full_run(tmp_path: Path) -> None:
    data_dir = tmp_path / "relay"
    add_accounts(data_dir, ["ada@example.com"])
    add_accounts(data_dir, ["bob@example.com"], password=OTHER_PASSWORD)
    key = Fernet.generate_key().decode()
    wire = Wire()
    sessions: list[str] = []
    with run_in_thread(sim_config()) as zoom:
        relay = RelayProcess(
            data_dir, zoom_env(zoom, PROFITRINGER_TOKEN_KEYS=key), extra_args=("--debug",)
        )
        relay.start()
        try:
            zoom.sim.set_webhook_url(relay.url + "/webhooks/zoom")
            zoom.sim.add_user("ada@zoom.example")
            zoom.sim.add_user("bob@zoom.example")
            run(relay, zoom, wire, sessions)
        finally:
            relay.stop()
        secrets = [*issued_secrets(zoom), CLIENT_SECRET, WEBHOOK_SECRET, key]
    passwords = [PASSWORD, OTHER_PASSWORD, WRONG_PASSWORD]
    stored = b"".join(p.read_bytes() for p in sorted(data_dir.iterdir()) if p.is_file())
    log = relay.log()
    assert "Zoom connected for account" in log  # the log is really there
    assert len(wire.seen) > 25
    assert len(secrets) > 15
    for secret in [*secrets, *passwords]:
        assert secret.encode() not in stored
        assert secret not in log
        for seen in wire.seen:
            assert secret not in seen
    for session in sessions:
        assert session.encode() not in stored
        assert session not in log
    print(
        f"\nsecrets scan: {len(secrets)} Zoom secrets, {len(passwords)} passwords and "
        f"{len(sessions)} session tokens checked against {len(stored)} bytes of data files, "
        f"{len(log)} bytes of relay log and {len(wire.seen)} answers and socket messages: "
        "none found"
    )


def run(relay: RelayProcess, zoom: RunningZoomSim, wire: Wire, sessions: list[str]) -> None:
    url = relay.url
    with wire.client(url) as anonymous:
        refused = anonymous.post(
            "/api/v1/sessions", json={"email": "ada@example.com", "password": WRONG_PASSWORD}
        )
        assert refused.status_code == 401
    ada = sign_in(url, "ada@example.com", wire)
    bob = sign_in(url, "bob@example.com", wire, password=OTHER_PASSWORD)
    spare = sign_in(url, "ada@example.com", wire)
    sessions += [ada, bob, spare]
    assert connect_zoom(url, wire, ada, login_hint="ada@zoom.example").status_code == 200
    assert connect_zoom(url, wire, bob, login_hint="bob@zoom.example").status_code == 200

    async def live_part() -> None:
        ws = await open_live(url.replace("http://", "ws://") + "/api/v1/live", ada)
        await wire.next(ws)
        async with wire.async_client(url, ada) as api:
            for status in ("In_Meeting", "Available"):
                await asyncio.to_thread(zoom.sim.set_presence, "ada@zoom.example", status)
                await wire.next(ws)
            assert (await api.post("/api/v1/meetings", json={"topic": "one"})).status_code == 201
            zoom.sim.expire_access_tokens("ada@zoom.example")
            assert (await api.post("/api/v1/meetings", json={"topic": "two"})).status_code == 201
            zoom.sim.expire_access_tokens("ada@zoom.example")
            zoom.sim.inject_fault("token", "500", 1)
            assert (await api.post("/api/v1/meetings", json={"topic": "x"})).status_code == 502
            # Removed at Zoom: app_deauthorized, then connected again.
            await asyncio.to_thread(zoom.sim.deauthorize, "ada@zoom.example")
            assert (await wire.next(ws))["state"]["zoom"]["state"] == "disconnected"
        await ws.close()

    asyncio.run(live_part())
    assert connect_zoom(url, wire, ada, login_hint="ada@zoom.example").status_code == 200
    with wire.client(url, ada) as api:
        # Disconnect (revoke at Zoom) and connect again.
        assert api.delete("/api/v1/integrations/zoom").status_code == 200
        assert connect_zoom(url, wire, ada, login_hint="ada@zoom.example").status_code == 200
        assert api.post("/api/v1/meetings", json={"topic": "three"}).status_code == 201
    # Bob's grant dies at Zoom: expired on the next use, then reconnected.
    zoom.sim.invalidate_tokens("bob@zoom.example")
    with wire.client(url, bob) as api:
        assert api.post("/api/v1/meetings", json={"topic": "dead"}).status_code == 409
        assert api.get("/api/v1/state").json()["zoom"]["state"] == "expired"
    assert connect_zoom(url, wire, bob, login_hint="bob@zoom.example").status_code == 200
    # Badly signed webhooks (logged as refused).
    body = b'{"event":"app_deauthorized","payload":{"user_id":"x"}}'
    for secret in ("wrong-secret", WEBHOOK_SECRET):
        headers = {"x-zm-request-timestamp": "1000", "x-zm-signature": sign(secret, 1000, body)}
        with wire.client(url) as client:
            assert client.post("/webhooks/zoom", content=body, headers=headers).status_code == 401
    with wire.client(url, spare) as api:
        assert api.delete("/api/v1/sessions/current").status_code == 204
        assert api.get("/api/v1/state").status_code == 401
    with wire.client(url, bob) as api:
        deleted = api.request("DELETE", "/api/v1/account", json={"password": OTHER_PASSWORD})
        assert deleted.status_code == 204
    wait_until(
        lambda: (
            not next(u for u in zoom.sim.users() if u["email"] == "bob@zoom.example")["authorized"]
        ),
        timeout=10,
        what="Bob's grant revoked at Zoom",
    )
