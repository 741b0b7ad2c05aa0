"""The tray starts light: a resumed session shows its icon and goes online
without loading what only a click, a dialog or an outage needs (httpx, the
dialogs, the diagnostics, keyring backends it does not use, the network
reachability plugin), and without PySide6 keeping every module's source.
Resident memory and start-up time are the benchmark's to report
(tests/bench/tray.py); this checks the behaviour behind them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.support.relay import RunningRelay

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery"

#: Runs the real ``profitringer`` entry point; once the live socket is online,
#: prints what is loaded and quits.
CHILD = """
import json, linecache, sys
from PySide6.QtNetwork import QNetworkInformation
from PySide6.QtWidgets import QApplication
from desktop.app import application

started = []
start = application.TrayApplication.start

def report(status):
    app = started[0]
    if not app.controller.model.online:
        return
    print(json.dumps({
        "status": status.kind,
        "modules": sorted(sys.modules),
        "network_watch_started": app.wake.network_watch_started,
        "reachability_backend": QNetworkInformation.instance() is not None,
        "sources_cached": sorted(linecache.cache),
        "pyside_feature": {
            name: sys.modules["shibokensupport.feature"].pyside_feature_dict.get(name)
            for name in ("desktop.app.tray", "desktop.client.live")
        },
    }), flush=True)
    QApplication.quit()

def start_and_watch(self):
    started.append(self)
    self.controller.status_changed.connect(report)
    start(self)

application.TrayApplication.start = start_and_watch
from desktop.cli import main
sys.exit(main(sys.argv[1:]))
"""

#: Modules the first paint and the live socket do not need.
NOT_AT_START = (
    "httpx",
    "httpcore",
    "desktop.app.signin",
    "desktop.app.link_window",
    "desktop.client.diagnostics",
    "keyring.backends.SecretService",
    "keyring.backends.kwallet",
    "keyring.backends.libsecret",
    "keyring.backends.chainer",
    "secretstorage",
)


def test_a_resumed_session_goes_online_without_the_heavy_parts(
    relay: RunningRelay, tmp_path: Path
) -> None:
    relay.add_user(EMAIL, PASSWORD)
    token = relay.sign_in(EMAIL, PASSWORD)
    config = tmp_path / "config"
    config.mkdir()
    (config / "settings.json").write_text(json.dumps({"backend_url": relay.url, "email": EMAIL}))
    runtime = Path(tempfile.mkdtemp(prefix="pr-run-"))  # short enough for a socket path
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")},
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_RUNTIME_DIR": str(runtime),
        # keyring's own configuration: a backend that hands over the token
        "PYTHON_KEYRING_BACKEND": "tests.bench.bench_keyring.BenchKeyring",
        "PROFITRINGER_BENCH_TOKEN": token,
    }
    options = ["--backend", relay.url, "--config-dir", str(config)]
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *options, "--log-dir", str(tmp_path / "log")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    shutil.rmtree(runtime, ignore_errors=True)
    assert done.returncode == 0, done.stdout + done.stderr
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["status"] != "signed_out"
    loaded = set(found["modules"])
    assert "websockets" in loaded  # it did go online
    assert sorted(loaded & set(NOT_AT_START)) == []
    assert not found["network_watch_started"]
    assert not found["reachability_backend"]
    # PySide6's import hook no longer keeps the source of every module in
    # linecache (desktop/app/pyside_startup.py), and still tells modules that
    # use PySide6 (0: features off) from those that do not (-1: ignored).
    assert [path for path in found["sources_cached"] if "desktop" in Path(path).parts] == []
    assert len(found["sources_cached"]) < 20
    assert found["pyside_feature"] == {"desktop.app.tray": 0, "desktop.client.live": -1}
