"""The store's contract, on both backends: every test runs on a SQLite file and
on a fresh PostgreSQL database (the ``database_url`` fixture)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from desktop.core.availability import AccountAvailability
from desktop.relay.storage import (
    MIGRATIONS,
    POSTGRES_MIGRATIONS,
    LinkConflict,
    SealedGrant,
    StorageError,
    Store,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def grant(tag: str) -> SealedGrant:
    return SealedGrant(
        access_token=f"access-{tag}".encode(),
        refresh_token=f"refresh-{tag}".encode(),
        access_expires_at=NOW + timedelta(hours=1),
        refresh_expires_at=NOW + timedelta(days=90),
        api_url="https://api.example",
    )


def test_both_backends_reach_the_same_schema_version(store: Store) -> None:
    assert len(MIGRATIONS) == len(POSTGRES_MIGRATIONS)
    assert store.schema_version == len(MIGRATIONS)
    store.ping()


def test_accounts_match_email_in_any_case_and_refuse_a_duplicate(store: Store) -> None:
    account = store.add_account("Ada@Example.com", "hash", NOW)
    found = store.account_by_email("ada@EXAMPLE.com")
    assert found == account
    with pytest.raises(ValueError, match="already exists"):
        store.add_account("ada@example.COM", "other", NOW)
    assert store.account_by_id(account.id) == account
    assert store.account_ids() == [account.id]


def test_sessions_and_devices(store: Store) -> None:
    account = store.add_account("a@example.com", "hash", NOW)
    first = store.add_session(account.id, "t1", "laptop", NOW, NOW + timedelta(days=1))
    second = store.add_session(
        account.id, "t2", "phone", NOW + timedelta(seconds=1), NOW - timedelta(seconds=1)
    )
    third = store.add_session(account.id, "t3", "tablet", NOW, NOW + timedelta(days=1))
    session = store.session_by_token_hash("t1")
    assert session is not None
    assert (session.id, session.email, session.last_seen_at) == (first, "a@example.com", None)
    store.touch_session(first, NOW + timedelta(minutes=5))
    touched = store.session_by_token_hash("t1")
    assert touched is not None
    assert touched.last_seen_at == NOW + timedelta(minutes=5)
    assert [d.device_name for d in store.devices(account.id)] == ["phone", "tablet", "laptop"]
    assert store.delete_expired_sessions(NOW) == 1
    assert store.existing_session_ids({first, second, third, 999}) == {first, third}
    assert store.delete_account_sessions(account.id, only=third) == [third]
    assert store.delete_account_sessions(account.id, keep=first) == []
    assert store.set_password(account.id, "new-hash", keep_session=None) == [first]
    updated = store.account_by_id(account.id)
    assert updated is not None
    assert updated.password_hash == "new-hash"


def test_state_changes_grow_seq_and_roll_back_on_error(store: Store) -> None:
    account = store.add_account("a@example.com", "hash", NOW)
    with store.transaction() as tx:
        stored = tx.load_state_for_update(account.id)
        assert stored is not None
        assert stored.seq == 0
        seq = tx.save_state(account.id, AccountAvailability(ringer_on=False))
    assert seq == 1

    def fail_midway() -> None:
        with store.transaction() as tx:
            tx.save_state(account.id, AccountAvailability(preferred="unavailable"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_midway()
    after = store.load_state(account.id)
    assert after is not None
    assert (after.seq, after.state.ringer_on, after.state.preferred) == (1, False, "available")
    with pytest.raises(LookupError), store.transaction() as tx:
        tx.save_state("nobody", AccountAvailability())


def test_meta_is_upserted(store: Store) -> None:
    assert store.get_meta("k") is None
    store.set_meta("k", "1")
    store.set_meta("k", "2")
    assert store.get_meta("k") == "2"


def test_zoom_connections(store: Store) -> None:
    a = store.add_account("a@example.com", "hash", NOW).id
    b = store.add_account("b@example.com", "hash", NOW).id
    with store.transaction() as tx:
        tx.link_zoom(a, "ZoomUser", "a@zoom.example", grant("1"), NOW)
    row = store.zoom_by_user("zoomuser")
    assert row is not None
    assert row.account_id == a
    assert row.usable
    assert row.access_token == b"access-1"
    assert row.connected_at_ms == int(NOW.timestamp() * 1000)
    with pytest.raises(LinkConflict), store.transaction() as tx:
        tx.link_zoom(b, "ZOOMUSER", "b@zoom.example", grant("2"), NOW)
    assert [c.account_id for c in store.zoom_connected()] == [a]
    # A refresh commits only over the refresh token it refreshed.
    assert not store.replace_zoom_tokens(a, lambda sealed: sealed == b"other", grant("3"))
    assert store.replace_zoom_tokens(a, lambda sealed: sealed == b"refresh-1", grant("3"))
    now_row = store.zoom_connection(a)
    assert now_row is not None
    assert now_row.refresh_token == b"refresh-3"
    with store.transaction() as tx:
        tx.end_zoom(a, "expired", NOW, ("zoom_expired", "Zoom ended it"))
    summary = store.zoom_summary(a)
    assert summary.email == "a@zoom.example"
    assert summary.problem == {"code": "zoom_expired", "message": "Zoom ended it"}
    ended = store.zoom_connection(a)
    assert ended is not None
    assert ended.access_token is None
    assert ended.zoom_user_id is None
    with store.transaction() as tx:
        tx.end_zoom(b, "disconnected", NOW)
    assert store.zoom_summary(b).email is None
    assert store.zoom_connected() == []


def test_oauth_states_and_connect_starts(store: Store) -> None:
    a = store.add_account("a@example.com", "hash", NOW).id
    for n in range(4):
        store.add_oauth_state(f"s{n}", a, b"verifier", NOW + timedelta(minutes=10 + n), NOW)
        store.add_connect_start(f"t{n}", f"s{n}", b"url", a, 2, NOW)
    # Only the two newest pending connects are kept.
    assert store.connect_start("t0") is None
    assert store.connect_start("t1") is None
    start = store.connect_start("t3")
    assert start is not None
    assert (start.email, start.binding_hash, start.authorize_url) == ("a@example.com", None, b"url")
    assert store.bind_connect_start("t3", "browser")
    assert not store.bind_connect_start("t3", "another")
    assert store.connect_binding("s3") == ("browser",)
    assert store.connect_binding("s2") == (None,)
    assert store.connect_binding("nope") is None
    assert store.take_oauth_state("s3") == (a, b"verifier", NOW + timedelta(minutes=13))
    assert store.take_oauth_state("s3") is None
    assert store.next_oauth_expiry() == NOW + timedelta(minutes=12)
    assert store.purge_oauth_states(NOW + timedelta(hours=1)) == 1
    assert store.next_oauth_expiry() is None


def test_reseal_all_and_account_deletion(store: Store) -> None:
    a = store.add_account("a@example.com", "hash", NOW).id
    with store.transaction() as tx:
        tx.link_zoom(a, "z", "a@zoom.example", grant("1"), NOW)
    store.add_oauth_state("s", a, b"old-verifier", NOW + timedelta(minutes=10), NOW)

    def reseal(sealed: bytes) -> bytes | None:
        return None if sealed.startswith(b"new-") else b"new-" + sealed

    with store.transaction() as tx:
        assert tx.reseal_all(reseal) == 3
    with store.transaction() as tx:
        assert tx.reseal_all(reseal) == 0
    row = store.zoom_connection(a)
    assert row is not None
    assert row.refresh_token == b"new-refresh-1"
    store.delete_account(a)
    assert store.account_by_id(a) is None
    assert store.zoom_connection(a) is None
    assert store.take_oauth_state("s") is None


def test_read_modify_writes_from_two_stores_are_serialised(
    database_url: str, tmp_path: Path
) -> None:
    """Two stores (two relays) incrementing one account's state at once lose nothing:
    the row is read under the write lock (FOR UPDATE / BEGIN IMMEDIATE)."""
    stores = [Store.open_url(database_url, tmp_path / "data") for _ in range(2)]
    account = stores[0].add_account("a@example.com", "hash", NOW).id
    rounds = 40
    errors: list[BaseException] = []

    def bump(store: Store) -> None:
        try:
            for _ in range(rounds):
                with store.transaction() as tx:
                    stored = tx.load_state_for_update(account)
                    assert stored is not None
                    since = stored.state.in_meeting_since or NOW
                    tx.save_state(
                        account,
                        AccountAvailability(in_meeting_since=since + timedelta(seconds=1)),
                    )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=bump, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        final = stores[1].load_state(account)
        assert final is not None
        assert final.seq == 2 * rounds
        assert final.state.in_meeting_since == NOW + timedelta(seconds=2 * rounds)
    finally:
        for store in stores:
            store.close()


def test_postgres_relays_started_together_migrate_once(postgres_url: str, tmp_path: Path) -> None:
    opened: list[Store] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            opened.append(Store.open_url(postgres_url, tmp_path))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert [s.schema_version for s in opened] == [len(POSTGRES_MIGRATIONS)] * 4
    finally:
        for store in opened:
            store.close()


def test_postgres_errors_name_the_database_without_its_password(tmp_path: Path) -> None:
    from tests.support.postgres import _free_port

    url = f"postgresql://user:s3cret-pw@127.0.0.1:{_free_port()}/relaydb?connect_timeout=1"
    with pytest.raises(StorageError) as caught:
        Store.open_url(url, tmp_path)
    text = str(caught.value)
    assert "relaydb on 127.0.0.1" in text
    assert "s3cret-pw" not in text


def test_an_unknown_database_url_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="must start with"):
        Store.open_url("mysql://x/y", tmp_path)


def test_claims_go_to_one_holder_until_they_run_out(store: Store) -> None:
    later = NOW + timedelta(seconds=30)
    assert store.take_claim("refresh:a", "relay-1", NOW, later)
    assert not store.take_claim("refresh:a", "relay-2", NOW, later), "held by relay-1"
    assert store.take_claim("refresh:b", "relay-2", NOW, later), "another name is free"
    assert store.take_claim("refresh:a", "relay-1", NOW, later + timedelta(seconds=5))
    holder, until = store.claim_of("refresh:a") or ("", NOW)
    assert (holder, until) == ("relay-1", later + timedelta(seconds=5))
    # relay-1 is killed: its claim runs out, and then relay-2 may take it.
    assert not store.take_claim("refresh:a", "relay-2", later, later + timedelta(seconds=30))
    expired = later + timedelta(seconds=5)
    assert store.take_claim("refresh:a", "relay-2", expired, expired + timedelta(seconds=30))
    store.release_claim("refresh:a", "relay-1")  # not its claim any more: no effect
    assert (store.claim_of("refresh:a") or ("",))[0] == "relay-2"
    store.release_claim("refresh:a", "relay-2")
    assert store.claim_of("refresh:a") is None
    assert store.purge_claims(later + timedelta(seconds=1)) == 1  # refresh:b ran out
    assert store.claim_of("refresh:b") is None


def test_a_claim_raced_from_two_stores_has_one_winner(
    database_url: str, tmp_path: Path, store: Store
) -> None:
    other = Store.open_url(database_url, tmp_path / "data")
    try:
        barrier = threading.Barrier(2)
        won: list[str] = []

        def race(who: str, on: Store) -> None:
            barrier.wait()
            for n in range(50):
                if on.take_claim(f"job:{n}", who, NOW, NOW + timedelta(seconds=30)):
                    won.append(f"{n}:{who}")

        threads = [
            threading.Thread(target=race, args=("one", store)),
            threading.Thread(target=race, args=("two", other)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(int(w.split(":")[0]) for w in won) == list(range(50))
    finally:
        other.close()


@pytest.mark.parametrize("durability", ["normal", "full"])
def test_durability_sets_what_a_commit_waits_for(
    database_url: str, tmp_path: Path, durability: str
) -> None:
    """normal: SQLite synchronous=NORMAL, PostgreSQL synchronous_commit=off;
    full: FULL and on. make_durable() then flushes what was committed."""
    store = Store.open_url(database_url, tmp_path / "data", durability=durability)
    try:
        sqlite = not store.shared
        with store.backend.reading() as db:
            row = db.one("PRAGMA synchronous" if sqlite else "SHOW synchronous_commit")
        assert row is not None
        expected = {("normal", True): 1, ("full", True): 2, ("normal", False): "off"}
        assert row[0] == expected.get((durability, sqlite), "on")
        store.set_meta("durable", durability)
        store.make_durable()
        assert store.get_meta("durable") == durability
    finally:
        store.close()
