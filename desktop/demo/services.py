"""The servers several relays need, started from Debian's packages for the demo
(``profitringer demo --relays N``) and for the tests: a throwaway PostgreSQL
cluster, a redis-server and an haproxy in front of the relays.

Each runs in a directory of its own, on a loopback port, as a child of the
demo's supervisor (so it is restarted, and stopped with the demo, like the
relays). PostgreSQL refuses to run as root, so when the demo is root the
cluster belongs to, and runs as, an unprivileged user (``nobody``).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

#: Where Debian puts PostgreSQL's server programs (version directories).
POSTGRES_LIB: Final = Path("/usr/lib/postgresql")
#: Who owns and runs a cluster when we are root.
UNPRIVILEGED_USER: Final = "nobody"
DATABASE_NAME: Final = "profitringer"
DATABASE_USER: Final = "profitringer"


class ServiceError(RuntimeError):
    """A server could not be prepared; the message says which and why."""


def postgres_bin(program: str) -> Path:
    """The newest installed PostgreSQL's ``program`` (``initdb``, ``postgres``)."""
    versions = sorted(
        (p for p in POSTGRES_LIB.glob("*/bin") if (p / program).exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1] / program
    found = shutil.which(program)
    if found:
        return Path(found)
    raise ServiceError(
        f"PostgreSQL's {program} is not installed: install Debian's postgresql package "
        "(scripts/setup.sh does)"
    )


def redis_bin() -> Path:
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if not found:
        raise ServiceError("redis-server is not installed: install Debian's redis-server package")
    return Path(found)


def haproxy_bin() -> Path:
    found = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
    )
    if not found:
        raise ServiceError("haproxy is not installed: install Debian's haproxy package")
    return Path(found)


def _as_root() -> bool:
    return os.geteuid() == 0


@dataclass
class PostgresCluster:
    """A cluster made by ``initdb`` in a fresh directory, reachable on
    127.0.0.1:``port`` with trust authentication (loopback only, throwaway)."""

    root: Path
    port: int

    @classmethod
    def create(cls, port: int) -> PostgresCluster:
        """``initdb`` a new cluster under the system temp dir (not under a root-only
        home, which the unprivileged owner could not enter)."""
        root = Path(tempfile.mkdtemp(prefix="profitringer-pg-"))
        cluster = cls(root=root, port=port)
        user = cluster.user
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        result = subprocess.run(
            [
                str(postgres_bin("initdb")),
                "-D",
                str(cluster.data_dir),
                "-U",
                DATABASE_USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-instructions",
            ],
            user=user,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=root,
        )
        if result.returncode != 0:
            shutil.rmtree(root, ignore_errors=True)
            raise ServiceError(f"initdb failed: {result.stderr.strip()[-400:]}")
        return cluster

    @property
    def user(self) -> str | None:
        return UNPRIVILEGED_USER if _as_root() else None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def argv(self) -> list[str]:
        return [
            str(postgres_bin("postgres")),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={self.root}",
            "-c",
            "max_connections=200",
            # a throwaway cluster: the demo's and the tests' data need not
            # survive a power cut, and fsync would only slow them down
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{DATABASE_USER}@127.0.0.1:{self.port}/{database}"

    def answers(self) -> bool:
        try:
            import psycopg
        except ImportError:  # pragma: no cover - a dependency
            return False
        try:
            with psycopg.connect(self.url(), connect_timeout=2) as connection:
                connection.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def create_database(self, name: str = DATABASE_NAME) -> str:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True, connect_timeout=5) as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if exists is None:
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class RedisServer:
    root: Path
    port: int

    def argv(self) -> list[str]:
        return [
            str(redis_bin()),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.root),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
        ]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


def haproxy_config(port: int, relays: Sequence[int]) -> str:
    """One HTTP front on ``port`` balancing ``relays`` (ports on 127.0.0.1).

    The live socket is a WebSocket upgrade, which haproxy passes through in
    http mode; ``timeout tunnel`` is how long an upgraded connection may stay
    quiet (the relay pings every 20 s). A relay is taken out as soon as its
    ``/readyz`` fails, and a connection that fails is retried on another.
    """
    servers = "\n".join(
        f"    server relay{n} 127.0.0.1:{relay_port} check inter 1s fall 1 rise 2"
        for n, relay_port in enumerate(relays, start=1)
    )
    return f"""global
    maxconn 4000

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    timeout http-request 10s
    option forwardfor
    retries 2
    option redispatch

frontend relays
    bind 127.0.0.1:{port}
    default_backend relays

backend relays
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
{servers}
"""


@dataclass
class Balancer:
    root: Path
    port: int
    relays: Sequence[int]

    def write_config(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / "haproxy.cfg"
        path.write_text(haproxy_config(self.port, self.relays))
        return path

    def argv(self) -> list[str]:
        # -db: stay in the foreground, log to stderr (the supervisor's log file)
        return [str(haproxy_bin()), "-db", "-f", str(self.root / "haproxy.cfg")]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
