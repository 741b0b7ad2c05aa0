"""The live socket against the real relay, with shortened timings."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from desktop.client.live import Backoff, LiveConnection
from desktop.core.wire import MessageType, StateDocument
from tests.client.documents import raw_document

FAST = Backoff(base=0.05, factor=2.0, cap=0.3, jitter=0.0)


class Recorder:
    """A LiveListener that queues everything it hears."""

    def __init__(self) -> None:
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def on_message(self, kind: MessageType, document: StateDocument) -> None:
        self.events.put_nowait((kind, document))

    def on_online(self) -> None:
        self.events.put_nowait(("online", None))

    def on_offline(self, since: datetime, reason: str) -> None:
        self.events.put_nowait(("offline", since))

    def on_session_gone(self) -> None:
        self.events.put_nowait(("session_gone", None))

    async def next(self, *kinds: str, wait: float = 10.0) -> Any:
        """The payload of the next event of one of ``kinds``, skipping others."""
        while True:
            kind, payload = await asyncio.wait_for(self.events.get(), wait)
            if kind in kinds:
                return payload


@contextlib.asynccontextmanager
async def running(live: LiveConnection) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(live.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_snapshot_updates_offline_and_back_without_a_click(relay: Any) -> None:
    relay.add_user("ada@example.com", "pw")
    token = relay.sign_in("ada@example.com", "pw")
    headers = {"Authorization": f"Bearer {token}"}

    async def scenario() -> None:
        events = Recorder()
        live = LiveConnection(
            relay.ws_url, token, events, backoff=FAST, ping_interval=1, ping_timeout=1
        )
        async with running(live):
            await events.next("online")
            snapshot: StateDocument = await events.next("snapshot")
            async with httpx.AsyncClient(base_url=relay.url, headers=headers) as http:
                (await http.put("/api/v1/ringer", json={"on": False})).raise_for_status()
            update: StateDocument = await events.next("update")
            assert update.seq > snapshot.seq
            assert update.reason == "ringer_off"

            await asyncio.to_thread(relay.stop)
            since = await events.next("offline")
            assert isinstance(since, datetime)
            await asyncio.to_thread(relay.start)
            await events.next("online")
            fresh: StateDocument = await events.next("snapshot")
            assert fresh.reason == "ringer_off"
            assert fresh.seq >= update.seq

    asyncio.run(scenario())


def test_sign_out_elsewhere_closes_with_4401(relay: Any) -> None:
    relay.add_user("ada@example.com", "pw")
    token = relay.sign_in("ada@example.com", "pw")

    async def scenario() -> None:
        events = Recorder()
        live = LiveConnection(relay.ws_url, token, events, backoff=FAST)
        async with running(live) as task:
            await events.next("snapshot")
            async with httpx.AsyncClient(base_url=relay.url) as http:
                response = await http.delete(
                    "/api/v1/sessions/current", headers={"Authorization": f"Bearer {token}"}
                )
                assert response.status_code == 204
            await events.next("session_gone")
            await asyncio.wait_for(task, 5)  # the loop ends: no reconnecting

    asyncio.run(scenario())


def test_a_bad_token_is_session_gone(relay: Any) -> None:
    async def scenario() -> None:
        events = Recorder()
        live = LiveConnection(relay.ws_url, "not-a-token", events, backoff=FAST)
        async with running(live):
            await events.next("session_gone")

    asyncio.run(scenario())


def test_wake_retries_at_once_instead_of_waiting(relay: Any) -> None:
    relay.add_user("ada@example.com", "pw")
    token = relay.sign_in("ada@example.com", "pw")
    slow = Backoff(base=60.0, cap=60.0, jitter=0.0)

    async def scenario() -> None:
        events = Recorder()
        live = LiveConnection(
            relay.ws_url, token, events, backoff=slow, ping_interval=1, ping_timeout=1
        )
        async with running(live):
            await events.next("snapshot")
            await asyncio.to_thread(relay.stop)
            await events.next("offline")
            await asyncio.to_thread(relay.start)
            live.wake()  # without this the next try is a minute away
            await events.next("snapshot", wait=5)

    asyncio.run(scenario())


async def _silent_websocket_server(connected: asyncio.Event) -> tuple[asyncio.Server, int]:
    """A server that completes the WebSocket handshake, sends one snapshot, and
    then never answers anything again — not even pings: a dead socket."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(
            hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()  # noqa: S324
        )
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        payload = json.dumps({"type": "snapshot", "seq": 1, "state": raw_document()}).encode()
        writer.write(bytes([0x81, 126]) + len(payload).to_bytes(2, "big") + payload)
        await writer.drain()
        connected.set()
        with contextlib.suppress(Exception):
            while await reader.read(1024):
                pass  # swallow pings and close frames without answering
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, port


def test_a_silent_dead_socket_is_noticed_by_pings() -> None:
    async def scenario() -> None:
        connected = asyncio.Event()
        server, port = await _silent_websocket_server(connected)
        async with server:
            events = Recorder()
            live = LiveConnection(
                f"ws://127.0.0.1:{port}/api/v1/live",
                "token",
                events,
                backoff=Backoff(base=30, cap=30, jitter=0),
                ping_interval=0.2,
                ping_timeout=0.2,
            )
            async with running(live):
                await events.next("online")
                await events.next("offline", wait=5)

    asyncio.run(scenario())


@pytest.mark.parametrize("status", [401, 403])
def test_handshake_refusal_is_session_gone(status: int) -> None:
    async def scenario() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(f"HTTP/1.1 {status} No\r\nContent-Length: 0\r\n\r\n".encode())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            events = Recorder()
            live = LiveConnection(f"ws://127.0.0.1:{port}/", "t", events, backoff=FAST)
            async with running(live):
                await events.next("session_gone")

    asyncio.run(scenario())
