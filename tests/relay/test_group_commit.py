"""Group commit (AvailabilityService.change_soon), on both backends: the
changes of one event-loop pass share one transaction, each is resolved only
after that commit, and a failure commits and pushes none of them."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from desktop.core import availability as rules
from desktop.relay.broker import Broker
from desktop.relay.hub import LiveHub
from desktop.relay.service import AccountGone, AvailabilityService, GroupCommitFailed, Transition
from desktop.relay.storage import Store, Transaction

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


class RecordingBroker(Broker):
    def __init__(self) -> None:
        super().__init__(LiveHub())
        self.published: list[tuple[str, int, str]] = []

    def publish_state(self, account_id: str, seq: int, text: str) -> None:
        self.published.append((account_id, seq, json.loads(text)["state"]["cause"]))


class CountingExecutor:
    """The transaction's executor, counting the statements sent through it (on
    PostgreSQL each is a round trip)."""

    def __init__(self, executor: Any, counts: CountingStore) -> None:
        self._executor = executor
        self._counts = counts

    def __getattr__(self, name: str) -> object:
        found = getattr(self._executor, name)
        if name in ("all", "one", "run"):
            self._counts.statements += 1
        return found


class CountingStore:
    """Counts the transactions the service opens on a real store and the
    statements sent in them, and can make the next commit fail."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.transactions = 0
        self.statements = 0
        self.fail_next = False

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        self.transactions += 1
        with self.store.transaction() as tx:
            tx._q = CountingExecutor(tx._q, self)  # type: ignore[assignment]
            yield tx
            if self.fail_next:
                self.fail_next = False
                raise RuntimeError("the disk is full")

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)


@pytest.fixture
def counting(store: Store) -> CountingStore:
    return CountingStore(store)


def service(counting: CountingStore, broker: Broker) -> AvailabilityService:
    return AvailabilityService(counting, broker, lambda: NOW)  # type: ignore[arg-type]


def ringer(on: bool) -> Transition:
    return lambda s, now: rules.set_ringer(s, on, now)


def accounts(store: Store, count: int) -> list[str]:
    return [store.add_account(f"p{n}@example.com", "x", NOW).id for n in range(count)]


def test_changes_of_one_loop_pass_share_one_commit(store: Store, counting: CountingStore) -> None:
    ids = accounts(store, 5)
    broker = RecordingBroker()
    changes = service(counting, broker)

    async def burst() -> list[object]:
        # Submitted without yielding to the loop, as webhooks arriving together are.
        futures = [changes.change_soon(a, ringer(False), "ringer_changed") for a in ids]
        futures.append(changes.change_soon(ids[0], ringer(True), "ringer_changed"))
        assert counting.transactions == 0  # nothing is committed before the pass ends
        return list(await asyncio.gather(*futures))

    documents = asyncio.run(burst())
    assert counting.transactions == 1
    for account_id, document in zip([*ids, ids[0]], documents, strict=True):
        assert isinstance(document, dict)
        assert document["account"]["id"] == account_id
    # One person's changes keep their order, each with its own seq.
    first, last = documents[0], documents[-1]
    assert isinstance(first, dict)
    assert isinstance(last, dict)
    assert (first["ringer_on"], last["ringer_on"]) == (False, True)
    assert last["seq"] == first["seq"] + 1
    assert len(broker.published) == 6
    assert store.load_state(ids[0]).state.ringer_on is True  # type: ignore[union-attr]
    assert all(store.load_state(a).state.ringer_on is False for a in ids[1:])  # type: ignore[union-attr]


def test_a_group_costs_two_statements_whatever_its_size(
    store: Store, counting: CountingStore
) -> None:
    # On PostgreSQL every statement is a round trip: one reads and locks the
    # group's rows, one writes them, however many webhooks the group holds.
    ids = accounts(store, 40)
    broker = RecordingBroker()
    changes = service(counting, broker)

    async def burst() -> list[object]:
        futures = [changes.change_soon(a, ringer(False), "ringer_changed") for a in ids]
        futures += [changes.change_soon(a, ringer(True), "ringer_changed") for a in ids[:5]]
        return list(await asyncio.gather(*futures))

    documents = asyncio.run(burst())
    assert (counting.transactions, counting.statements) == (1, 2)
    assert all(isinstance(d, dict) for d in documents)
    assert len(broker.published) == 45
    for account_id in ids[:5]:
        stored = store.load_state(account_id)
        assert stored is not None
        assert (stored.state.ringer_on, stored.seq) == (True, 2)
    stored = store.load_state(ids[5])
    assert stored is not None
    assert (stored.state.ringer_on, stored.seq) == (False, 1)


def test_a_no_op_and_a_deleted_account_do_not_spoil_the_group(
    store: Store, counting: CountingStore
) -> None:
    ids = accounts(store, 3)
    store.delete_account(ids[2])
    broker = RecordingBroker()
    changes = service(counting, broker)

    async def burst() -> list[object]:
        futures = [
            changes.change_soon(ids[0], ringer(False), "ringer_changed"),
            changes.change_soon(ids[1], ringer(True), "ringer_changed"),  # already on
            changes.change_soon(ids[2], ringer(False), "ringer_changed"),
        ]
        return list(await asyncio.gather(*futures, return_exceptions=True))

    changed, unchanged, gone = asyncio.run(burst())
    assert isinstance(changed, dict)
    assert changed["ringer_on"] is False
    assert unchanged is None
    assert isinstance(gone, AccountGone)
    assert [p[0] for p in broker.published] == [ids[0]]


def test_a_failed_commit_resolves_every_change_with_an_error_and_pushes_none(
    store: Store, counting: CountingStore
) -> None:
    ids = accounts(store, 3)
    broker = RecordingBroker()
    changes = service(counting, broker)
    counting.fail_next = True

    async def burst() -> list[object]:
        futures = [changes.change_soon(a, ringer(False), "ringer_changed") for a in ids]
        return list(await asyncio.gather(*futures, return_exceptions=True))

    outcomes = asyncio.run(burst())
    assert all(isinstance(o, GroupCommitFailed) for o in outcomes)
    assert "disk" not in str(outcomes[0])  # the cause is chained, not repeated
    assert broker.published == []
    assert all(store.load_state(a).state.ringer_on is True for a in ids)  # type: ignore[union-attr]
    # The next pass commits again.
    again = asyncio.run(burst())
    assert all(isinstance(o, dict) and o["ringer_on"] is False for o in again)
