"""A keyring backend for the tray benchmark: hands the tray the session token
the benchmark signed in with, so the tray starts signed in with no prompt.

Selected in the tray's child process with
``PYTHON_KEYRING_BACKEND=tests.bench.bench_keyring.BenchKeyring``; the token
comes from ``PROFITRINGER_BENCH_TOKEN``. Nothing is ever written anywhere.
"""

from __future__ import annotations

import os

from keyring.backend import KeyringBackend


class BenchKeyring(KeyringBackend):
    priority = 1

    def get_password(self, service: str, username: str) -> str | None:
        return os.environ.get("PROFITRINGER_BENCH_TOKEN")

    def set_password(self, service: str, username: str, password: str) -> None:
        return None

    def delete_password(self, service: str, username: str) -> None:
        return None
