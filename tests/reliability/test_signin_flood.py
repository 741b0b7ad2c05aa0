"""A sign-in flood does not hold up the event loop (issue 12, "Argon2id off the
event loop"). How fast webhooks stay meanwhile is measured, not asserted here:
``python -m tests.bench.hostile`` (README "Reliability and security").

- Passwords are checked in a thread pool: while 24 sign-ins wait for the one
  password thread, a health check and a state read are answered before the
  last sign-in is.
- Past ``password_queue`` waiting sign-ins, the others get 503 with
  Retry-After at once instead of piling up.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.support.relay import start_relay

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery"
FLOOD = 24


async def flood(url: str, token: str) -> tuple[list[int], list[str]]:
    """Send FLOOD sign-ins at once, then a health check and a state read; return
    the sign-ins' statuses and the order in which everything was answered."""
    order: list[str] = []
    limits = httpx.Limits(max_connections=FLOOD + 4)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def sign_in(i: int) -> int:
            response = await client.post(
                "/api/v1/sessions", json={"email": f"nobody{i}@example.com", "password": "x"}
            )
            order.append("sign-in")
            return response.status_code

        async def other(path: str, name: str) -> None:
            headers = {"Authorization": f"Bearer {token}"}
            response = await client.get(path, headers=headers)
            assert response.status_code == 200
            order.append(name)

        sign_ins = [asyncio.create_task(sign_in(i)) for i in range(FLOOD)]
        # Let the flood reach the relay before the others are sent.
        await asyncio.wait(sign_ins, return_when=asyncio.FIRST_COMPLETED)
        await asyncio.gather(other("/healthz", "health"), other("/api/v1/state", "state"))
        statuses = await asyncio.gather(*sign_ins)
    return list(statuses), order


def test_other_requests_are_answered_while_passwords_are_checked(tmp_path: Path) -> None:
    with start_relay(
        tmp_path / "relay",
        password_workers=1,
        signin_address_refuse_after=1000,
    ) as relay:
        relay.add_user(EMAIL, PASSWORD)
        token = relay.sign_in(EMAIL, PASSWORD)
        statuses, order = asyncio.run(flood(relay.url, token))
    assert statuses == [401] * FLOOD
    last_sign_in = len(order) - 1 - order[::-1].index("sign-in")
    assert order.index("health") < last_sign_in
    assert order.index("state") < last_sign_in


def test_sign_ins_past_the_queue_get_503(tmp_path: Path) -> None:
    with start_relay(
        tmp_path / "relay",
        password_workers=1,
        password_queue=2,
        signin_address_refuse_after=1000,
    ) as relay:
        relay.add_user(EMAIL, PASSWORD)
        token = relay.sign_in(EMAIL, PASSWORD)
        statuses, _ = asyncio.run(flood(relay.url, token))
        assert statuses.count(401) >= 3
        assert 503 in statuses
        assert set(statuses) <= {401, 503}
        response = httpx.post(
            relay.url + "/api/v1/sessions", json={"email": EMAIL, "password": PASSWORD}
        )
        assert response.status_code == 201
