"""Signed-in devices and the password, against a real relay (issue 12, "Sessions").

A session ended by any of these closes its live sockets with 4401 at once; a
password set by ``relay user passwd`` from another process closes them within
the sweep interval.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from tests.support.live import close_code, next_message, open_live
from tests.support.relay import RunningRelay, start_relay

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase"
RELAY_CLI = (sys.executable, "-m", "desktop", "relay")


def client(relay: RunningRelay, token: str) -> httpx.Client:
    return httpx.Client(base_url=relay.url, headers={"Authorization": f"Bearer {token}"})


def works(relay: RunningRelay, token: str) -> bool:
    with client(relay, token) as api:
        return api.get("/api/v1/state").status_code == 200


def test_devices_are_listed_without_tokens(relay: RunningRelay) -> None:
    relay.add_user(EMAIL, PASSWORD)
    tray = relay.sign_in(EMAIL, PASSWORD, device="ada-laptop (tray)")
    web = relay.sign_in(EMAIL, PASSWORD, device="Chrome on Linux (web)")
    with client(relay, web) as api:
        response = api.get("/api/v1/sessions")
    assert response.status_code == 200
    sessions = response.json()["sessions"]
    assert [s["device_name"] for s in sessions] == ["Chrome on Linux (web)", "ada-laptop (tray)"]
    assert [s["current"] for s in sessions] == [True, False]
    assert set(sessions[0]) == {"id", "device_name", "created_at", "last_seen_at", "current"}
    assert sessions[0]["last_seen_at"] is not None  # this request used it
    assert tray not in response.text
    assert web not in response.text


def test_signing_out_one_device_closes_its_socket_and_only_its(relay: RunningRelay) -> None:
    relay.add_user(EMAIL, PASSWORD)
    relay.add_user("bob@example.com", PASSWORD)
    here = relay.sign_in(EMAIL, PASSWORD, device="web")
    tray = relay.sign_in(EMAIL, PASSWORD, device="tray")
    bob = relay.sign_in("bob@example.com", PASSWORD)
    with client(relay, here) as api:
        ids = {s["device_name"]: s["id"] for s in api.get("/api/v1/sessions").json()["sessions"]}
    with client(relay, bob) as api:
        bob_id = api.get("/api/v1/sessions").json()["sessions"][0]["id"]

    async def scenario() -> None:
        ws = await open_live(relay.ws_url, tray)
        await next_message(ws)
        with client(relay, here) as api:
            # another account's device is not this account's to sign out
            refused = api.delete(f"/api/v1/sessions/{bob_id}")
            assert refused.status_code == 404
            assert refused.json()["error"]["code"] == "not_found"
            assert api.delete(f"/api/v1/sessions/{ids['tray']}").status_code == 204
        assert await close_code(ws) == 4401

    asyncio.run(scenario())
    assert not works(relay, tray)
    assert works(relay, here)
    assert works(relay, bob)


@pytest.mark.parametrize("session_id", ["0", "-1", str(2**63), "70006561322393413877760", "x"])
def test_a_device_id_out_of_range_is_a_clear_422(relay: RunningRelay, session_id: str) -> None:
    """Ids past 64 bits once reached the database driver and came back as a 500
    (found by the OpenAPI fuzz test)."""
    relay.add_user(EMAIL, PASSWORD)
    token = relay.sign_in(EMAIL, PASSWORD)
    with client(relay, token) as api:
        refused = api.delete(f"/api/v1/sessions/{session_id}")
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "invalid_field"
        assert len(api.get("/api/v1/sessions").json()["sessions"]) == 1


def test_sign_out_everywhere_else_keeps_only_this_session(relay: RunningRelay) -> None:
    relay.add_user(EMAIL, PASSWORD)
    here = relay.sign_in(EMAIL, PASSWORD, device="web")
    others = [relay.sign_in(EMAIL, PASSWORD, device=f"d{i}") for i in range(2)]

    async def scenario() -> None:
        sockets = [await open_live(relay.ws_url, token) for token in others]
        for ws in sockets:
            await next_message(ws)
        with client(relay, here) as api:
            assert api.delete("/api/v1/sessions").status_code == 204
        assert [await close_code(ws) for ws in sockets] == [4401, 4401]

    asyncio.run(scenario())
    assert [works(relay, token) for token in others] == [False, False]
    with client(relay, here) as api:
        assert [s["current"] for s in api.get("/api/v1/sessions").json()["sessions"]] == [True]


def test_password_change_needs_the_current_one_and_ends_the_other_sessions(
    relay: RunningRelay,
) -> None:
    relay.add_user(EMAIL, PASSWORD)
    here = relay.sign_in(EMAIL, PASSWORD, device="web")
    tray = relay.sign_in(EMAIL, PASSWORD, device="tray")
    with client(relay, here) as api:
        wrong = api.put(
            "/api/v1/account/password",
            json={"current_password": "not it at all", "new_password": NEW_PASSWORD},
        )
        assert wrong.status_code == 403
        assert wrong.json()["error"]["code"] == "wrong_password"
        short = api.put(
            "/api/v1/account/password", json={"current_password": PASSWORD, "new_password": "x"}
        )
        assert short.status_code == 422
    assert works(relay, tray)  # refusals changed nothing

    async def scenario() -> None:
        ws = await open_live(relay.ws_url, tray)
        await next_message(ws)
        with client(relay, here) as api:
            changed = api.put(
                "/api/v1/account/password",
                json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            )
            assert changed.status_code == 204
        assert await close_code(ws) == 4401

    asyncio.run(scenario())
    assert not works(relay, tray)
    assert works(relay, here)
    old = httpx.post(relay.url + "/api/v1/sessions", json={"email": EMAIL, "password": PASSWORD})
    assert old.status_code == 401
    assert works(relay, relay.sign_in(EMAIL, NEW_PASSWORD))


def test_relay_user_passwd_ends_every_session_and_closes_their_sockets(tmp_path: Path) -> None:
    with start_relay(tmp_path / "relay", session_sweep_interval=0.2) as relay:
        relay.add_user(EMAIL, PASSWORD)
        tray = relay.sign_in(EMAIL, PASSWORD, device="tray")

        data_dir = relay.settings.data_dir

        async def scenario() -> None:
            ws = await open_live(relay.ws_url, tray)
            await next_message(ws)
            done = await asyncio.to_thread(
                subprocess.run,
                [
                    *RELAY_CLI,
                    "--data-dir",
                    str(data_dir),
                    "user",
                    "passwd",
                    EMAIL,
                    "--password-stdin",
                ],
                input=NEW_PASSWORD + "\n",
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 0, done.stderr
            assert "1 session(s) signed out" in done.stdout
            assert await close_code(ws) == 4401

        asyncio.run(scenario())
        assert not works(relay, tray)
        assert works(relay, relay.sign_in(EMAIL, NEW_PASSWORD))


def test_deleting_the_account_needs_the_password_again(relay: RunningRelay) -> None:
    relay.add_user(EMAIL, PASSWORD)
    token = relay.sign_in(EMAIL, PASSWORD)
    with client(relay, token) as api:
        bare = api.delete("/api/v1/account")
        assert bare.status_code == 400
        wrong = api.request("DELETE", "/api/v1/account", json={"password": "not it at all"})
        assert wrong.status_code == 403
        assert wrong.json()["error"]["code"] == "wrong_password"
        assert api.get("/api/v1/state").status_code == 200  # nothing was deleted
        right = api.request("DELETE", "/api/v1/account", json={"password": PASSWORD})
        assert right.status_code == 204
        assert api.get("/api/v1/state").status_code == 401


def test_a_signed_in_request_reads_its_session_on_the_event_loop(relay: RunningRelay) -> None:
    """The store's SQLite connection belongs to the event loop's thread: a
    dependency FastAPI ran in a worker thread wrote the session row there while
    the loop wrote too (a 500 under a sign-in flood)."""
    relay.add_user("loop@example.com", "correct horse battery")
    token = relay.sign_in("loop@example.com", "correct horse battery")
    threads: list[str] = []
    real = relay.relay.session_for

    def recording(session_token: str) -> object:
        threads.append(threading.current_thread().name)
        return real(session_token)

    relay.relay.session_for = recording
    try:
        with httpx.Client(base_url=relay.url) as client:
            for path in ("/api/v1/state", "/api/v1/sessions"):
                answer = client.get(path, headers={"Authorization": f"Bearer {token}"})
                assert answer.status_code == 200, path
    finally:
        relay.relay.session_for = real
    assert threads
    assert set(threads) == {"relay"}
