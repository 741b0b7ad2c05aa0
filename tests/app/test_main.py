"""``profitringer`` (the tray command): start, show, quit on request; one instance."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from desktop.app.main import main
from desktop.app.single_instance import SingleInstance, instance_key


@pytest.fixture
def qapp_restored(qapp: Any) -> Iterator[Any]:
    yield qapp
    qapp.setQuitOnLastWindowClosed(True)


def test_quit_after_start_in_process(
    qapp_restored: Any, tmp_path: Path, memory_keyring: Any, capsys: Any, relay: Any
) -> None:
    status = main(
        [
            "--quit-after-start",
            "--config-dir",
            str(tmp_path / "config"),
            "--log-dir",
            str(tmp_path / "log"),
            "--backend",
            relay.url,
        ]
    )
    assert status == 0
    assert "ProfitRinger started in the status window (no system tray): Signed out" in (
        capsys.readouterr().out
    )
    log = (tmp_path / "log" / "profitringer.log").read_text()
    assert "starting" in log
    assert "stopped" in log


def test_a_second_start_hands_over_and_exits(
    qtbot: Any, qapp_restored: Any, tmp_path: Path, capsys: Any
) -> None:
    config = tmp_path / "config"
    first = SingleInstance(instance_key(config))
    assert first.claim()
    try:
        with qtbot.waitSignal(first.activation_requested, timeout=5000):
            status = main(["--config-dir", str(config), "--log-dir", str(tmp_path / "log")])
        assert status == 0
        assert "already running" in capsys.readouterr().out
    finally:
        first.release()


def test_a_bad_backend_is_refused(tmp_path: Path, capsys: Any) -> None:
    assert main(["--backend", "ftp://x", "--config-dir", str(tmp_path)]) == 2
    assert "not a web address" in capsys.readouterr().err


def test_the_command_starts_offscreen_and_exits_cleanly(tmp_path: Path) -> None:
    """What the frozen build's smoke test runs."""
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "PROFITRINGER_CONFIG_DIR": str(tmp_path / "config"),
        "PROFITRINGER_LOG_DIR": str(tmp_path / "log"),
        "HOME": str(tmp_path / "home"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    done = subprocess.run(
        [sys.executable, "-m", "desktop", "--quit-after-start"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Signed out" in done.stdout
    assert (tmp_path / "log" / "profitringer.log").exists()
    assert not (tmp_path / "home").exists()


def test_help_lists_the_tray_options_and_the_subcommands(capsys: Any) -> None:
    from desktop.cli import main as profitringer

    with pytest.raises(SystemExit) as exited:
        profitringer(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for option in ("--backend", "--config-dir", "--log-dir", "--quit-after-start", "--version"):
        assert option in text
    for subcommand in ("relay", "zoom-sim", "demo"):
        assert f"  {subcommand} " in text


def test_help_does_not_load_qt() -> None:
    probe = (
        "import contextlib, sys\n"
        "from desktop.cli import main\n"
        "with contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "print('qt loaded' if 'PySide6' in sys.modules else 'no qt')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip().endswith("no qt"), done.stdout + done.stderr
