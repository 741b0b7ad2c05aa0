"""Single instance, start at login, settings and the paths of the tray."""

from __future__ import annotations

import plistlib
import sys
from pathlib import Path
from typing import Any

import pytest

from desktop.app.autostart import RUN_VALUE_NAME, LoginItem
from desktop.app.settings import SettingsDialog
from desktop.app.single_instance import SingleInstance, instance_key
from desktop.client import paths
from desktop.client.settings import AppSettings, SettingsStore
from desktop.demo.world import default_data_dir as demo_data_dir
from desktop.relay.config import default_data_dir as relay_data_dir


def test_second_instance_asks_the_first_to_show(qtbot: Any, tmp_path: Path) -> None:
    key = instance_key(tmp_path)
    first = SingleInstance(key)
    assert first.claim()
    second = SingleInstance(key)
    with qtbot.waitSignal(first.activation_requested, timeout=5000):
        assert not second.claim()
    first.release()
    third = SingleInstance(key)
    assert third.claim()  # the slot is free again
    third.release()


def test_instance_keys_differ_per_user_and_config(tmp_path: Path) -> None:
    assert instance_key(tmp_path, "ada") != instance_key(tmp_path, "bob")
    assert instance_key(tmp_path / "a", "ada") != instance_key(tmp_path / "b", "ada")
    assert instance_key(tmp_path, "ada") == instance_key(tmp_path, "ada")


def test_linux_autostart_desktop_file(tmp_path: Path) -> None:
    item = LoginItem(
        ["/opt/pr/profitringer", "--backend", "http://h:1"],
        platform="linux",
        home=tmp_path,
        env={"XDG_CONFIG_HOME": str(tmp_path / "cfg")},
    )
    assert not item.is_enabled()
    item.set_enabled(True)
    path = tmp_path / "cfg" / "autostart" / "profitringer.desktop"
    assert item.path == path
    assert item.is_enabled()
    text = path.read_text()
    assert "[Desktop Entry]" in text
    assert "Exec=/opt/pr/profitringer --backend http://h:1\n" in text
    item.set_enabled(False)
    assert not path.exists()
    assert not item.is_enabled()
    item.disable()  # twice is fine


def test_macos_launch_agent(tmp_path: Path) -> None:
    item = LoginItem(
        ["/Applications/ProfitRinger.app/Contents/MacOS/profitringer"],
        platform="darwin",
        home=tmp_path,
        env={},
    )
    item.enable()
    path = tmp_path / "Library" / "LaunchAgents" / "com.profitringer.desktop.plist"
    plist = plistlib.loads(path.read_bytes())
    assert plist["RunAtLoad"] is True
    assert plist["ProgramArguments"] == [
        "/Applications/ProfitRinger.app/Contents/MacOS/profitringer"
    ]
    item.disable()
    assert not path.exists()


class FakeRunKey:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def set(self, name: str, command: str) -> None:
        self.values[name] = command

    def delete(self, name: str) -> None:
        self.values.pop(name, None)


def test_windows_run_key(tmp_path: Path) -> None:
    run_key = FakeRunKey()
    item = LoginItem(
        [r"C:\Program Files\ProfitRinger\profitringer.exe"],
        platform="win32",
        home=tmp_path,
        env={},
        run_key=run_key,
    )
    item.enable()
    assert run_key.values == {RUN_VALUE_NAME: r'"C:\Program Files\ProfitRinger\profitringer.exe"'}
    assert item.is_enabled()
    assert item.path is None
    item.disable()
    assert not item.is_enabled()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.expect_log("settings file unreadable, using defaults")
def test_settings_round_trip_and_bad_files(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "cfg")
    assert store.load() == AppSettings()
    settings = AppSettings(backend_url="http://h:1", email="a@b.c", notify_paused=False)
    store.save(settings)
    assert store.load() == settings
    assert "token" not in store.path.read_text()
    store.path.write_text('{"email": 5, "notify_resumed": false, "extra": 1}')
    loaded = store.load()
    assert loaded.email == ""
    assert loaded.notify_resumed is False
    store.path.write_text("not json")
    assert store.load() == AppSettings()


def test_settings_dialog(qtbot: Any) -> None:
    settings = AppSettings()
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    dialog.resumed.setChecked(False)
    dialog.start_at_login.setChecked(True)
    dialog.apply_to(settings)
    assert settings.notification_prefs.resumed is False
    assert settings.notification_prefs.paused is True
    assert settings.start_at_login is True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the XDG folders are Linux's")
@pytest.mark.parametrize(
    ("env", "config", "logs", "data"),
    [
        (
            {"HOME": "/h"},
            "/h/.config/profitringer",
            "/h/.local/state/profitringer/log",
            "/h/.local/share/profitringer",
        ),
        (
            {"HOME": "/h", "XDG_CONFIG_HOME": "/x", "XDG_STATE_HOME": "/s", "XDG_DATA_HOME": "/d"},
            "/x/profitringer",
            "/s/profitringer/log",
            "/d/profitringer",
        ),
        (
            {"HOME": "/h", "XDG_CONFIG_HOME": "", "XDG_STATE_HOME": "", "XDG_DATA_HOME": ""},
            "/h/.config/profitringer",
            "/h/.local/state/profitringer/log",
            "/h/.local/share/profitringer",
        ),
        (
            {"HOME": "/h", "PROFITRINGER_CONFIG_DIR": "/c", "PROFITRINGER_LOG_DIR": "/l"},
            "/c",
            "/l",
            "/h/.local/share/profitringer",
        ),
    ],
)
def test_paths_on_linux_stay_where_they_were(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], config: str, logs: str, data: str
) -> None:
    """platformdirs finds the same folders the hand-written code used, so
    existing settings, logs and relay data are found."""
    for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name in ("PROFITRINGER_CONFIG_DIR", "PROFITRINGER_LOG_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert paths.config_dir() == Path(config)
    assert paths.log_dir() == Path(logs)
    assert relay_data_dir() == Path(data) / "relay"
    assert demo_data_dir() == Path(data) / "demo"
