"""The commands of the README as people type them: options before or after
the subcommand."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from desktop.relay.cli import main as relay_main
from desktop.relay.storage import Store


@pytest.mark.parametrize(
    "argv",
    [
        ["user", "add", "ada@example.com", "--password-stdin", "--data-dir", "{dir}"],
        ["--data-dir", "{dir}", "user", "add", "ada@example.com", "--password-stdin"],
        ["user", "--data-dir", "{dir}", "add", "ada@example.com", "--password-stdin"],
    ],
)
def test_relay_options_work_before_or_after_the_command(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = tmp_path / "data"
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    assert relay_main([part.format(dir=data) for part in argv]) == 0
    assert "created account ada@example.com" in capsys.readouterr().out
    store = Store.open(data)
    try:
        assert store.account_by_email("ada@example.com") is not None
    finally:
        store.close()


def test_an_option_before_the_command_is_not_undone_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    assert (
        relay_main(["--data-dir", str(data), "user", "add", "a@example.com", "--password-stdin"])
        == 0
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("another password\n"))
    assert (
        relay_main(["--data-dir", str(data), "user", "passwd", "a@example.com", "--password-stdin"])
        == 0
    )
