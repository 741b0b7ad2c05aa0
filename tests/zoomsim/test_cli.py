from __future__ import annotations

import io
import json

import httpx
import pytest

from desktop.zoomsim.cli import main
from desktop.zoomsim.server import RunningZoomSim
from tests.zoomsim.conftest import WebhookReceiver


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(list(argv), out=out)
    return status, out.getvalue()


def test_presence_command_drives_a_running_sim(
    zoom: RunningZoomSim, receiver: WebhookReceiver
) -> None:
    status, text = run("webhook-url", receiver.url, "--sim", zoom.url)
    assert (status, text.strip()) == (0, f"webhooks now go to {receiver.url}")
    status, text = run("add-user", "cli@zoom.example", "--sim", zoom.url)
    assert status == 0
    status, text = run("presence", "cli@zoom.example", "In_Meeting", "--sim", zoom.url)
    assert status == 0, text
    assert "cli@zoom.example is now In_Meeting" in text
    assert "delivered (HTTP 200)" in text
    assert json.loads(receiver.received[-1].body)["payload"]["object"]["presence_status"] == (
        "In_Meeting"
    )
    status, text = run("users", "--sim", zoom.url)
    assert "cli@zoom.example  In_Meeting  not authorized" in text


def test_presence_command_reports_failed_delivery(
    zoom: RunningZoomSim, http: httpx.Client, receiver: WebhookReceiver
) -> None:
    http.put("/_sim/config", json={"webhook_url": receiver.url})
    receiver.statuses = [500]
    zoom.sim.default_user()
    status, text = run("presence", "demo@zoom.example", "Away", "--sim", zoom.url)
    assert status == 1
    assert "NOT delivered (HTTP 500); Zoom will retry later" in text


def test_other_control_commands(
    zoom: RunningZoomSim, http: httpx.Client, receiver: WebhookReceiver
) -> None:
    http.put("/_sim/config", json={"webhook_url": receiver.url})
    zoom.sim.default_user()
    assert run("validate-endpoint", "--sim", zoom.url)[0] == 0
    status, text = run("invalidate-tokens", "demo@zoom.example", "--sim", zoom.url)
    assert (status, text.strip()) == (0, "0 token(s) of demo@zoom.example invalidated")
    status, text = run("deauthorize", "demo@zoom.example", "--sim", zoom.url)
    assert status == 0
    assert "app_deauthorized delivered" in text
    status, text = run("deliveries", "--sim", zoom.url, "--json")
    assert status == 0
    assert len(json.loads(text)["deliveries"]) == 2


def test_unknown_user_and_bad_status(
    zoom: RunningZoomSim, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("presence", "ghost@zoom.example", "Away", "--sim", zoom.url)[0] == 1
    assert "There is no Zoom user" in capsys.readouterr().err
    zoom.sim.default_user()
    assert run("presence", "demo@zoom.example", "Napping", "--sim", zoom.url)[0] == 1
    assert "not a Zoom presence" in capsys.readouterr().err


def test_unreachable_sim(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("users", "--sim", "http://127.0.0.1:9")[0] == 1
    assert "cannot reach the local Zoom" in capsys.readouterr().err


def test_serve_needs_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("ZOOMSIM_CLIENT_ID", "ZOOMSIM_CLIENT_SECRET", "ZOOMSIM_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    assert run("--client-id", "x")[0] == 2
    err = capsys.readouterr().err
    assert "ZOOMSIM_CLIENT_SECRET" in err
    assert "ZOOMSIM_WEBHOOK_SECRET" in err


@pytest.mark.parametrize("argv", [["--help"], ["presence", "--help"], ["serve", "--help"]])
def test_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    assert "usage: profitringer zoom-sim" in capsys.readouterr().out
