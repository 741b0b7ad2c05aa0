"""Suite-wide setup: Qt offscreen, no real home/keychain/network, shared fixtures."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.logcheck import _fail_on_unexpected_logs  # noqa: F401 - autouse

# Before anything imports Qt: no screen here unless a screen test asks for one.
if not os.environ.get("PROFITRINGER_SCREEN_TESTS"):
    os.environ["QT_QPA_PLATFORM"] = "offscreen"

# Nothing may read or write the person's home directory: point HOME and the XDG
# dirs at a throwaway folder for the whole run.
_FAKE_HOME = Path(tempfile.mkdtemp(prefix="profitringer-test-home-"))
os.environ["HOME"] = str(_FAKE_HOME)
for _name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
    os.environ[_name] = str(_FAKE_HOME / _name.lower())
# Only the screen test's session-bus phase may talk to a session bus (its own,
# from dbus-run-session); no other test may reach the person's desktop.
if os.environ.get("PROFITRINGER_SCREEN_TESTS") != "bus":
    os.environ.pop("DBUS_SESSION_BUS_ADDRESS", None)

# No network: pytest-socket (its options in pyproject.toml's addopts) lets a
# test connect to loopback (127.0.0.0/8, ::1, localhost) and to unix sockets
# only; anything else fails the test with SocketConnectBlockedError.


def pytest_unconfigure(config: pytest.Config) -> None:
    """The throwaway home goes when the run ends, so runs leave no folders behind."""
    shutil.rmtree(_FAKE_HOME, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Screen tests run only under scripts/screen-test.sh: ``screen`` ones in its
    XEmbed phase (PROFITRINGER_SCREEN_TESTS=1, trayer), ``screen_bus`` ones in
    its session-bus phase (PROFITRINGER_SCREEN_TESTS=bus: a StatusNotifierItem
    host, dunst and GNOME Keyring)."""
    phase = os.environ.get("PROFITRINGER_SCREEN_TESTS") if os.environ.get("DISPLAY") else None
    skip_screen = pytest.mark.skip(reason="real-screen test: run by scripts/screen-test.sh")
    from tests.support.relay import CLUSTER_MODE

    skip_sqlite = pytest.mark.skip(reason="reads or breaks the SQLite file itself (cluster mode)")
    for item in items:
        if CLUSTER_MODE and "sqlite_only" in item.keywords:
            item.add_marker(skip_sqlite)
        if "screen" not in item.keywords:
            continue
        wanted = "bus" if "screen_bus" in item.keywords else "1"
        if phase != wanted:
            item.add_marker(skip_screen)


@pytest.fixture
def memory_keyring() -> Iterator[Any]:
    """An in-memory keyring backend, installed for one test and removed after."""
    import keyring
    from keyring.backend import KeyringBackend

    class MemoryKeyring(KeyringBackend):
        priority = 1

        def __init__(self) -> None:
            # Named, not super(): mypy's untyped_calls_exclude misses calls
            # through super() (python/mypy#16653), and keyring's is untyped.
            KeyringBackend.__init__(self)
            self.entries: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.entries.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.entries[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            from keyring.errors import PasswordDeleteError

            if self.entries.pop((service, username), None) is None:
                raise PasswordDeleteError(username)

    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def relay_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings every test relay of this run gets: in cluster mode
    (``PROFITRINGER_TEST_CLUSTER=1``, tests/support/relay.py) a fresh PostgreSQL
    database and the Redis broker; with ``PROFITRINGER_TEST_BROKER=redis``, the
    Redis broker (a real redis-server)."""
    from tests.support.relay import CLUSTER_MODE

    overrides: dict[str, Any] = {}
    if CLUSTER_MODE:
        overrides["database_url"] = request.getfixturevalue("postgres_url")
    if CLUSTER_MODE or os.environ.get("PROFITRINGER_TEST_BROKER") == "redis":
        overrides["broker_url"] = request.getfixturevalue("redis_url")
    return overrides


@pytest.fixture
def relay(tmp_path: Path, relay_overrides: dict[str, Any]) -> Iterator[Any]:
    """A real relay on 127.0.0.1 with a temporary data dir (see ``relay_overrides``),
    beside a sibling relay in cluster mode."""
    from tests.support.relay import start_relay, with_sibling

    data_dir = tmp_path / "relay"
    with (
        start_relay(data_dir, **relay_overrides) as running,
        with_sibling(data_dir, **relay_overrides),
    ):
        yield running


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Any]:
    """One real redis-server for the whole run (tests/support/redis_server.py);
    a test that stops Redis starts its own RedisServer instead."""
    from tests.support.redis_server import RedisServer

    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: Any) -> str:
    """The shared redis-server's URL, flushed for each test."""
    redis_server.flush()
    url: str = redis_server.url
    return url


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Any]:
    """One throwaway PostgreSQL cluster for the run (tests/support/postgres.py).
    Skipped where PostgreSQL is not installed, except under CI, where it fails."""
    from tests.support.postgres import PostgresCluster, postgres_bin_dir

    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed (run scripts/setup.sh); CI needs it")
        pytest.skip("PostgreSQL is not installed (scripts/setup.sh installs it)")
    with PostgresCluster(bin_dir) as cluster:
        yield cluster


@pytest.fixture
def postgres_url(postgres_cluster: Any) -> str:
    """The URL of a fresh, empty PostgreSQL database for one test."""
    url: str = postgres_cluster.fresh_database()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs twice: on a SQLite file, and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'store' / 'relay.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    return url
