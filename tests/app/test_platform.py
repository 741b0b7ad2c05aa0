"""Single instance, start at login, settings and the paths of the tray."""

from __future__ import annotations

import plistlib
from pathlib import Path
from typing import Any

import pytest

from desktop.app.autostart import RUN_VALUE_NAME, LoginItem
from desktop.app.settings import SettingsDialog
from desktop.app.single_instance import SingleInstance, instance_key
from desktop.client import paths
from desktop.client.settings import AppSettings, SettingsStore


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


@pytest.mark.parametrize(
    ("platform", "env", "config", "logs"),
    [
        ("linux", {"HOME": "/h"}, "/h/.config/profitringer", "/h/.local/state/profitringer/log"),
        (
            "linux",
            {"HOME": "/h", "XDG_CONFIG_HOME": "/x", "XDG_STATE_HOME": "/s"},
            "/x/profitringer",
            "/s/profitringer/log",
        ),
        (
            "darwin",
            {"HOME": "/Users/a"},
            "/Users/a/Library/Application Support/ProfitRinger",
            "/Users/a/Library/Logs/ProfitRinger",
        ),
        (
            "win32",
            {"APPDATA": "C:/r", "LOCALAPPDATA": "C:/l"},
            "C:/r/ProfitRinger",
            "C:/l/ProfitRinger/Logs",
        ),
        (
            "linux",
            {"HOME": "/h", "PROFITRINGER_CONFIG_DIR": "/c", "PROFITRINGER_LOG_DIR": "/l"},
            "/c",
            "/l",
        ),
    ],
)
def test_paths(platform: str, env: dict[str, str], config: str, logs: str) -> None:
    assert paths.config_dir(env, platform) == Path(config)
    assert paths.log_dir(env, platform) == Path(logs)
