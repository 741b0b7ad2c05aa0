"""A real websockets client for the relay's live socket, for tests."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection


async def open_live(ws_url: str, token: str) -> ClientConnection:
    return await websockets.connect(
        ws_url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=10
    )


async def next_message(ws: ClientConnection, wait: float = 10.0) -> dict[str, Any]:
    raw = await asyncio.wait_for(ws.recv(), wait)
    message: dict[str, Any] = json.loads(raw)
    return message


async def nothing_within(ws: ClientConnection, wait: float) -> bool:
    """True when no message arrives within ``wait`` seconds (used to prove
    another account's socket stays silent, after a marker update has arrived)."""
    try:
        await asyncio.wait_for(ws.recv(), wait)
    except TimeoutError:
        return True
    return False


async def close_code(ws: ClientConnection, wait: float = 10.0) -> int | None:
    """Read (skipping messages) until the socket closes; the code the server sent."""
    from websockets.exceptions import ConnectionClosed

    async with asyncio.timeout(wait):
        try:
            while True:
                await ws.recv()
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else None
