"""The ``profitringer`` command as a person runs it: real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from desktop import __version__
from desktop.serving import free_port

CMD = [sys.executable, "-m", "desktop"]


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CMD, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def test_version_and_help() -> None:
    assert run("--version").stdout.strip() == f"profitringer {__version__}"
    top = run("--help").stdout
    for sub in ("relay", "zoom-sim", "demo"):
        assert sub in top
    assert "--data-dir" in run("relay", "--help").stdout


def test_user_add_reads_the_password_from_stdin_only(tmp_path: Path) -> None:
    result = run(
        "relay", "--data-dir", str(tmp_path), "user", "add", "ada@example.com", "--password-stdin",
        stdin="s3cret-password\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "created account ada@example.com" in result.stdout
    assert "s3cret-password" not in result.stdout + result.stderr
    again = run(
        "relay", "--data-dir", str(tmp_path), "user", "add", "ada@example.com", "--password-stdin",
        stdin="another-password\n",
    )  # fmt: skip
    assert again.returncode == 1
    assert "already exists" in again.stderr
    short = run(
        "relay", "--data-dir", str(tmp_path), "user", "add", "b@example.com", "--password-stdin",
        stdin="short\n",
    )  # fmt: skip
    assert short.returncode == 2
    assert "at least 8" in short.stderr


def test_relay_serves_within_seconds_with_no_setup(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "fresh"
    run(
        "relay", "--data-dir", str(data), "user", "add", "ada@example.com", "--password-stdin",
        stdin="s3cret-password\n",
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROFITRINGER_")}
    process = subprocess.Popen(
        [*CMD, "relay", "--data-dir", str(data), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 20
        healthy = False
        while time.monotonic() < deadline and not healthy:
            try:
                healthy = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).is_success
            except httpx.TransportError:
                # Waits on the process (it must not exit) between attempts.
                try:
                    process.wait(timeout=0.05)
                except subprocess.TimeoutExpired:
                    continue
                raise AssertionError(process.communicate()[1]) from None
        assert healthy
        response = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/sessions",
            json={"email": "ada@example.com", "password": "s3cret-password"},
        )
        assert response.status_code == 201
        token = response.json()["token"]
        # a second relay on the same data dir refuses to start, clearly
        second = run("relay", "--data-dir", str(data), "--port", str(free_port()))
        assert second.returncode == 1
        assert "another relay is already using" in second.stderr
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=20)
    assert "relay serving on" in stderr
    assert "s3cret-password" not in stderr
    assert token not in stderr
    assert "POST /api/v1/sessions 201" in stderr


def test_the_version_is_written_once() -> None:
    """pyproject.toml takes its version from ``desktop.__version__``."""
    import importlib.metadata
    import tomllib
    from pathlib import Path

    project = tomllib.loads(Path(__file__).parents[1].joinpath("pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "desktop.__version__"}
    assert importlib.metadata.version("profitringer-desktop") == __version__
