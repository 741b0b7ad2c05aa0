"""Several relay processes on one PostgreSQL and one redis-server, all started
by the test itself (Debian's programs, temp dirs, free loopback ports,
PostgreSQL as an unprivileged user when we are root) and stopped after."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet

from desktop.demo.services import PostgresCluster, RedisServer
from desktop.serving import free_port
from tests.support.zoom import RelayProcess


def _wait_for(answers: Callable[[], bool], process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while not answers():
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} while starting")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not answer within 60 s")
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.05)


@dataclass
class SharedServers:
    database_url: str
    broker_url: str
    token_keys: str
    postgres: PostgresCluster
    redis: RedisServer
    redis_process: subprocess.Popen[bytes] | None = None

    def stop_redis(self) -> None:
        if self.redis_process is not None:
            self.redis_process.terminate()
            self.redis_process.wait(15)
            self.redis_process = None

    def start_redis(self) -> None:
        assert self.redis_process is None
        self.redis_process = subprocess.Popen(
            self.redis.argv(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_for(self.redis.answers, self.redis_process, "redis-server")

    def relay_env(self, base: dict[str, str]) -> dict[str, str]:
        return {
            **base,
            "PROFITRINGER_DATABASE_URL": self.database_url,
            "PROFITRINGER_BROKER_URL": self.broker_url,
            "PROFITRINGER_TOKEN_KEYS": self.token_keys,
        }


@contextlib.contextmanager
def shared_servers(log_dir: Path) -> Iterator[SharedServers]:
    """A fresh PostgreSQL cluster with one database, and a redis-server."""
    cluster = PostgresCluster.create(free_port())
    redis_dir = Path(tempfile.mkdtemp(prefix="profitringer-redis-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / "postgresql.log", "ab") as log:
        postgres = subprocess.Popen(
            cluster.argv(), stdout=log, stderr=log, user=cluster.user, stdin=subprocess.DEVNULL
        )
    servers: SharedServers | None = None
    try:
        _wait_for(cluster.answers, postgres, "PostgreSQL")
        servers = SharedServers(
            database_url=cluster.create_database(),
            broker_url="",
            token_keys=Fernet.generate_key().decode("ascii"),
            postgres=cluster,
            redis=RedisServer(redis_dir, free_port()),
        )
        servers.broker_url = servers.redis.url
        servers.start_redis()
        yield servers
    finally:
        if servers is not None:
            servers.stop_redis()
        postgres.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
        try:
            postgres.wait(30)
        except subprocess.TimeoutExpired:
            postgres.kill()
            postgres.wait(10)
        cluster.remove()
        import shutil

        shutil.rmtree(redis_dir, ignore_errors=True)


def relay_processes(root: Path, env: dict[str, str], count: int) -> list[RelayProcess]:
    return [RelayProcess(root / f"relay-{n}", env) for n in range(1, count + 1)]
