from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from desktop.serving import free_port
from desktop.zoomsim.cli import main
from desktop.zoomsim.server import RunningZoomSim
from tests.support.waiting import wait_until
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


@pytest.mark.parametrize("flag", ["--client-secret", "--webhook-secret"])
def test_serve_refuses_secrets_as_flags(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 12: a flag's value is visible to every user through ps."""
    assert run("--client-id", "x", flag, "hunter2-secret")[0] == 2
    err = capsys.readouterr().err
    assert "ps" in err
    assert "--secrets-stdin" in err
    assert "hunter2-secret" not in err


def test_serve_reads_its_secrets_from_stdin_and_ps_never_shows_them() -> None:
    """A real ``zoom-sim serve`` process: the secrets arrive on stdin, its command
    line (what ps shows) holds none of them, and the sim uses them."""
    port = free_port()
    client_secret, webhook_secret = "stdin-client-secret-42", "stdin-webhook-secret-43"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOOMSIM_")}
    with subprocess.Popen(
        [
            *(sys.executable, "-m", "desktop", "zoom-sim", "serve", "--port", str(port)),
            *("--client-id", "cli-id", "--secrets-stdin"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    ) as process:
        try:
            assert process.stdin is not None
            process.stdin.write(f"{client_secret}\n{webhook_secret}\n".encode())
            process.stdin.close()
            url = f"http://127.0.0.1:{port}"
            wait_until(lambda: _answers(url + "/_sim/users"), timeout=30, what="zoom-sim serving")
            cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes()
            assert client_secret.encode() not in cmdline
            assert webhook_secret.encode() not in cmdline
            good = httpx.post(url + "/oauth/token", auth=("cli-id", client_secret), data={})
            bad = httpx.post(url + "/oauth/token", auth=("cli-id", "guess"), data={})
            assert good.json()["error"] == "unsupported_grant_type"  # the client was accepted
            assert bad.status_code == 401
        finally:
            process.terminate()
            process.wait(15)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
