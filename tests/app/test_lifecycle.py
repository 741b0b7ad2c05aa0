"""The tray process as the desktop treats it: Ctrl-C and SIGTERM quit it
cleanly, and its single-instance socket lives where only its user can reach it."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from desktop.app.single_instance import SingleInstance, instance_key, runtime_dir
from tests.support.waiting import wait_until


def tray_env(tmp_path: Path, runtime: Path) -> dict[str, str]:
    return {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "PROFITRINGER_CONFIG_DIR": str(tmp_path / "config"),
        "PROFITRINGER_LOG_DIR": str(tmp_path / "log"),
        "XDG_RUNTIME_DIR": str(runtime),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_quit_signal_stops_the_tray_cleanly(tmp_path: Path, signum: signal.Signals) -> None:
    log = tmp_path / "log" / "profitringer.log"
    # Short, like /run/user/UID: pytest's tmp_path is too long for a socket path.
    runtime = Path(tempfile.mkdtemp(prefix="pr-run-"))
    sockets = runtime / "profitringer"
    tray = subprocess.Popen(
        [sys.executable, "-m", "desktop", "--backend", "http://127.0.0.1:9"],
        env=tray_env(tmp_path, runtime),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(
            lambda: log.exists() and "showing the" in log.read_text(),
            timeout=60,
            what="the tray started",
        )
        assert len(list(sockets.glob("profitringer-*"))) == 1
        tray.send_signal(signum)
        output, _ = tray.communicate(timeout=60)
    finally:
        if tray.poll() is None:
            tray.kill()
            tray.wait(30)
        shutil.rmtree(runtime, ignore_errors=True)
    assert tray.returncode == 0, output
    text = log.read_text()
    assert f"received {signum.name}; quitting" in text
    assert "ProfitRinger stopped" in text
    assert list(sockets.glob("profitringer-*")) == []  # the lock is released


def test_the_instance_socket_is_in_a_private_folder(qtbot: object, tmp_path: Path) -> None:
    key = Path(instance_key(tmp_path / "config"))
    folder = key.parent
    info = folder.lstat()
    assert info.st_uid == os.getuid()
    assert stat.S_IMODE(info.st_mode) == 0o700
    first = SingleInstance(str(key))
    assert first.claim()
    try:
        assert key.exists()
    finally:
        first.release()
    assert not key.exists()


def test_the_runtime_dir_is_used_only_when_private(tmp_path: Path) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    assert runtime_dir({"XDG_RUNTIME_DIR": str(runtime)}) == runtime / "profitringer"
    runtime.chmod(0o777)
    assert runtime_dir({"XDG_RUNTIME_DIR": str(runtime)}) != runtime / "profitringer"


def test_a_socket_path_too_long_for_the_system_is_not_chosen(tmp_path: Path) -> None:
    runtime = tmp_path / ("r" * 90)
    runtime.mkdir(mode=0o700)
    chosen = runtime_dir({"XDG_RUNTIME_DIR": str(runtime)}, name="profitringer-0123456789abcdef")
    assert chosen != runtime / "profitringer"
    assert len(str(chosen / "profitringer-0123456789abcdef")) <= 100


@pytest.mark.expect_log("for the instance socket: not a private folder")
def test_a_squatted_temp_folder_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    squatted = temp / f"profitringer-{os.getuid()}"
    squatted.mkdir(mode=0o777)
    squatted.chmod(0o777)  # another user made it first, open to all
    fallback = tmp_path / "config" / "run"
    fallback.parent.mkdir()
    assert runtime_dir({}, fallback=fallback) == fallback
    assert stat.S_IMODE(fallback.stat().st_mode) == 0o700
