"""The benchmark suite's quick mode runs (so it never rots) and writes JSON of
the documented shape. Figures are not judged here: benchmarks report, they do
not pass or fail on time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.bench.harness import ROOT
from tests.bench.run import SECTIONS

pytestmark = pytest.mark.bench

SUMMARY_KEYS = {"count", "p50_ms", "p99_ms", "max_ms", "mean_ms"}
RATE_KEYS = {
    "offered_per_s",
    "achieved_per_s",
    "duration_s",
    "planned",
    "sent",
    "ok",
    "errors",
    "error_kinds",
    "latency",
    "http_latency",
    "send_lag",
    "sustained",
}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_sweep(sweep: dict[str, Any]) -> None:
    assert sweep["rates"], "no fixed-rate run"
    for entry in sweep["rates"] + sweep["ramp"]:
        assert entry.keys() >= RATE_KEYS
        assert entry["latency"].keys() >= SUMMARY_KEYS
        assert entry["ok"] > 0
        assert _number(entry["latency"]["p99_ms"])
    assert _number(sweep["max_sustained_per_s"])


@pytest.mark.timeout(150)
def test_quick_mode_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    done = subprocess.run(
        [sys.executable, "-m", "tests.bench.run", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=140,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "target" in done.stdout
    latest = json.loads((out / "latest.json").read_text())
    stamped = list(out.glob("bench-*.json"))
    assert len(stamped) == 1
    assert json.loads(stamped[0].read_text()) == latest

    assert latest["mode"] == "quick"
    assert {"nproc", "cpu_model", "python"} <= latest["machine"].keys()
    assert set(latest["sections"]) == set(SECTIONS)
    for name, section in latest["sections"].items():
        assert "error" not in section, f"{name}: {section.get('error')}"

    hook = latest["sections"]["webhook"]
    _check_sweep(hook["relay"])
    _check_sweep(hook["relay_full_durability"])
    _check_sweep(hook["floor"])
    assert hook["relay"]["rates"][0]["errors"] == 0
    assert "relay_to_floor_throughput" in hook

    fan = latest["sections"]["fanout"]
    assert fan["stages"]
    for stage in fan["stages"]:
        for key in ("sockets", "setup_per_s", "memory_per_socket_kib", "deliver_to_all_ms"):
            assert _number(stage[key]), key

    tray = latest["sections"]["tray"]
    assert _number(tray["start_to_icon_ms"]["median"])
    assert _number(tray["rss_mib"]["after_start"])
    assert isinstance(tray["survived_updates"], bool)
    assert _number(tray["idle"]["cpu_percent"])
    assert _number(tray["idle"]["wakeups_per_s"])
    assert _number(tray["rss_mib"]["after_second_updates"])
    assert _number(tray["rss_detail_after_start_mib"]["anonymous"])
    offline = tray["idle_offline"]
    assert offline["measured"], offline
    assert _number(offline["cpu_percent"])
    assert isinstance(offline["reconnect_attempts"], int)
    assert {"start_to_icon_ms", "rss_mib", "idle_cpu_percent"} <= tray["goals"].keys()
    assert {"start_to_icon_ms", "rss_after_start_mib"} <= tray["previous"].keys()
    tray_targets = [t for t in latest["targets"] if t["target"].startswith("tray ")]
    assert len(tray_targets) == 7
    assert all("previous" in t for t in tray_targets)

    assert latest["targets"]
    for target in latest["targets"]:
        assert {"target", "goal", "measured", "met"} <= target.keys()
        assert target["met"] in (True, False, None)
