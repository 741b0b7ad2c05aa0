"""A throwaway PostgreSQL cluster for the tests: Debian's ``initdb`` and
``postgres`` in a temp dir, on a free loopback port, as an unprivileged user
(the test machines run as root, and PostgreSQL refuses to), with fsync off.

Each test gets a fresh database (``fresh_database``), made empty from
``template0``: the store's own migrations build the schema, as in production.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Final

import psycopg

from tests.support.waiting import wait_until

#: Who runs the cluster when the tests run as root.
UNPRIVILEGED_USER: Final = "nobody"


def postgres_bin_dir() -> Path | None:
    """Debian's PostgreSQL binaries (the newest installed), or ``None``."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("postgres")
    return Path(on_path).parent if on_path else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PostgresCluster:
    """Start with :meth:`start`, stop with :meth:`stop` (or use it as a context)."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="profitringer-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log = self.root / "postgres.log"
        self._names = itertools.count(1)
        self._as: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam(UNPRIVILEGED_USER)
            # setpriv execs (no fork), so the pid we signal is postgres itself.
            self._as = [
                "setpriv",
                f"--reuid={user.pw_uid}",
                f"--regid={user.pw_gid}",
                "--clear-groups",
                "--",
            ]
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self.sockets.mkdir()
        if self._as:
            user = pwd.getpwnam(UNPRIVILEGED_USER)
            os.chown(self.sockets, user.pw_uid, user.pw_gid)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        subprocess.run(
            [
                *self._as,
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )
        self.port = _free_port()
        log = open(self._log, "wb")  # noqa: SIM115 - closed by the child's end
        self._process = subprocess.Popen(
            [
                *self._as,
                str(self.bin_dir / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-k",
                str(self.sockets),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=300",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_until(self._answers, timeout=30, what="the test PostgreSQL cluster to start")

    def _answers(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            raise RuntimeError(
                f"the test PostgreSQL cluster exited: {self._log.read_text(errors='replace')}"
            )
        try:
            with psycopg.connect(self.url(), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def fresh_database(self) -> str:
        """A new empty database; its URL."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url(name)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            # SIGINT: "fast" shutdown (SIGTERM would wait for clients to leave).
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresCluster:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
