"""Run the benchmarks: print a table, write JSON.

    python -m tests.bench.run [--quick] [--only NAME ...] [--out DIR]

Sections (``--only`` takes any of them, repeatable or comma-separated):

- ``webhook``: webhook to screen on the relay (with PROFITRINGER_DURABILITY
  normal, then full), and the floor (a bare uvicorn app under the same load)
  in the same run; see webhook.py.
- ``fanout``: 1,000 / 5,000 / 10,000 live sockets on one relay process; fanout.py.
- ``tray``: start to icon, memory, idle CPU and wake-ups of the tray; tray.py.
- ``hostile``: webhook latency alone, during a sign-in flood and during a
  header flood; hostile.py.
- ``cluster``: several relays on PostgreSQL and Redis: webhook on one relay,
  socket on another; the highest sustained rate of one, two and three relays;
  sockets per relay; cluster.py.

``--quick`` runs every section small and short (under a minute in all); CI
runs it through tests/bench/test_quick.py so the suite never rots.

The JSON goes to ``<out>/bench-<UTC timestamp>.json`` and ``<out>/latest.json``
(default ``bench-output/``), child-process logs to ``<out>/logs/``. Targets are
reported as met or missed; a missed target never changes the exit status,
which is non-zero only when a benchmark crashed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tests.bench import cluster, fanout, harness, hostile, tray, webhook

SECTIONS = ("webhook", "fanout", "tray", "hostile", "cluster")
SCHEMA = 1
#: Cores' worth of CPU used by other processes above which the table warns.
OTHER_LOAD_WARNING = 0.1


def plans(quick: bool) -> dict[str, Any]:
    if quick:
        return {
            "webhook": webhook.WebhookPlan(
                accounts=10, rates=[100.0], duration=2.0, ramp_duration=1.0, ramp_steps=2
            ),
            "fanout": fanout.FanoutPlan(stages=[50, 100], repeats=2),
            "tray": tray.TrayPlan(
                starts=1, updates=100, idle_seconds=3.0, strace_seconds=1.0, offline_seconds=3.0
            ),
            "hostile": hostile.HostilePlan(
                duration=2.0, rate=20.0, signin_concurrency=20, header_connections=4
            ),
            "cluster": cluster.ClusterPlan(
                accounts=6,
                rates=[50.0],
                duration=1.0,
                ramp_start=50.0,
                ramp_duration=0.5,
                ramp_steps=1,
                relays=2,
                sockets=[50],
            ),
        }
    return {
        "webhook": webhook.WebhookPlan(
            accounts=100,
            rates=[100.0, 500.0, 1000.0],
            duration=10.0,
            ramp_duration=4.0,
            ramp_steps=8,
            profile_seconds=8.0,
        ),
        "fanout": fanout.FanoutPlan(stages=[1000, 5000, 10000], repeats=5),
        "tray": tray.TrayPlan(
            starts=5, updates=3600, idle_seconds=60.0, strace_seconds=15.0, offline_seconds=60.0
        ),
        "hostile": hostile.HostilePlan(),
        "cluster": cluster.ClusterPlan(
            accounts=100,
            rates=[100.0, 500.0],
            duration=10.0,
            # Low enough for one relay on PostgreSQL to keep up with, so that its
            # own highest rate is found (x1.25 a step: 150 to about 1,400/s).
            ramp_start=150.0,
            ramp_duration=4.0,
            ramp_steps=10,
            relays=3,
            sockets=[1000, 5000, 10000],
        ),
    }


RUNNERS: dict[str, Callable[[Any, Path], dict[str, Any]]] = {
    "webhook": webhook.run,
    "fanout": fanout.run,
    "tray": tray.run,
    "hostile": hostile.run,
    "cluster": cluster.run,
}


# -- targets (reported, never enforced) -------------------------------------------------


def _rate_entry(section: dict[str, Any], rate: float) -> dict[str, Any] | None:
    for entry in section["relay"]["rates"]:
        if entry["offered_per_s"] == rate:
            return entry  # type: ignore[no-any-return]
    return None


def tray_targets(tr: dict[str, Any]) -> list[dict[str, Any]]:
    """The tray's targets (issue 16), each beside the figure from before it."""
    goals, before = tr["goals"], tr["previous"]
    rss = tr["rss_mib"]
    growth = tr["growth_between_batches_kib"]
    updates = 2 * tr["updates_per_batch"]
    offline = tr["idle_offline"]
    found: list[dict[str, Any]] = []

    def add(name: str, goal: str, measured: Any, met: bool | None, previous: Any) -> None:
        found.append(
            {"target": name, "goal": goal, "measured": measured, "met": met, "previous": previous}
        )

    start = tr["start_to_icon_ms"]["median"]
    add(
        "tray start to icon",
        f"<= {goals['start_to_icon_ms']:.0f} ms",
        start,
        None if start is None else start <= goals["start_to_icon_ms"],
        before["start_to_icon_ms"],
    )
    after_start = rss["after_start"]
    add(
        "tray resident memory after start",
        f"<= {goals['rss_mib']:.0f} MiB",
        after_start,
        None if after_start is None else after_start <= goals["rss_mib"],
        before["rss_after_start_mib"],
    )
    last = rss["after_second_updates"]
    add(
        f"tray resident memory after {updates:,} updates",
        f"<= {goals['rss_mib']:.0f} MiB",
        last,
        None if last is None else last <= goals["rss_mib"],
        before["rss_after_updates_mib"],
    )
    add(
        "tray memory growth per batch of updates",
        "none (<= 256 KiB)",
        growth,
        None if growth is None else growth <= 256,
        0,
    )
    add(
        f"tray survives {updates:,} updates",
        "no crash",
        tr["updates_sent"] if tr["survived_updates"] else f"died after {tr['updates_sent']}",
        tr["survived_updates"],
        None,
    )
    cpu = tr["idle"]["cpu_percent"]
    add(
        "tray idle CPU, relay reachable",
        "0.00 %",
        cpu,
        cpu < goals["idle_cpu_percent"],
        before["idle_cpu_percent"],
    )
    offline_cpu = offline.get("cpu_percent") if offline.get("measured") else None
    add(
        "tray idle CPU, relay unreachable (backoff)",
        "0.00 %",
        offline_cpu,
        None if offline_cpu is None else offline_cpu < goals["idle_cpu_percent"],
        None,
    )
    return found


#: The relay's figures before issue 16 (the same benchmark on 3 Dec 2026 at commit
#: 927882e, 2 x AMD EPYC; memory per socket at 42e5779, whose sockets were the
#: same), printed beside this run's.
RELAY_PREVIOUS: dict[str, float] = {
    "p99_at_100_ms": 5.3,
    "p99_at_500_ms": 73.6,
    "p99_at_1000_ms": 130.0,
    "sustained_per_s": 1000.0,
    "relay_to_floor": 0.09,
    "memory_per_socket_kib": 42.0,
}


def targets(sections: dict[str, Any], quick: bool = False) -> list[dict[str, Any]]:
    """Each target with what was measured and whether it was met (``None``: not measured;
    quick mode's short ramps cannot measure throughput), and where there is one the
    figure from before issue 16."""
    found: list[dict[str, Any]] = []
    before = RELAY_PREVIOUS

    def add(name: str, goal: str, measured: Any, met: bool | None, previous: Any = None) -> None:
        found.append(
            {"target": name, "goal": goal, "measured": measured, "met": met, "previous": previous}
        )

    hook = sections.get("webhook")
    if hook and "error" not in hook:
        for rate, goal in ((100.0, None), (500.0, 25.0), (1000.0, 10.0)):
            entry = _rate_entry(hook, rate)
            p99 = entry["latency"]["p99_ms"] if entry else None
            previous = before[f"p99_at_{rate:.0f}_ms"]
            if goal is None:  # issue 16: no worse than before
                goal_text, met = (
                    f"<= {previous} ms (before)",
                    None if p99 is None else p99 <= previous,
                )
            else:
                goal_text, met = f"<= {goal:.0f} ms", None if p99 is None else p99 <= goal
            add(f"webhook p99 at {rate:,.0f}/s", goal_text, p99, met, previous)
        best = hook["relay"]["max_sustained_per_s"]
        at1000 = _rate_entry(hook, 1000.0)
        clean = at1000 is not None and at1000["errors"] == 0 and at1000["sustained"]
        add(
            "webhooks sustained, no errors",
            ">= 1000 /s",
            best,
            (best >= 1000.0 and clean) if at1000 is not None else None,
            before["sustained_per_s"],
        )
        ratio = hook["relay_to_floor_throughput"]
        add(
            "relay / floor throughput",
            ">= 0.5",
            ratio,
            None if ratio is None or quick else ratio >= 0.5,
            before["relay_to_floor"],
        )
    fan = sections.get("fanout")
    if fan and "error" not in fan and fan["stages"]:
        last = fan["stages"][-1]
        per_socket = last["memory_per_socket_kib"]
        add(
            f"memory per socket at {last['sockets']:,} sockets",
            "<= 32 KiB (at 10,000)",
            per_socket,
            per_socket <= 32.0 if last["sockets"] >= 10000 else None,
            before["memory_per_socket_kib"],
        )
    tr = sections.get("tray")
    if tr and "error" not in tr:
        found.extend(tray_targets(tr))
    hostile_section = sections.get("hostile")
    if hostile_section and "error" not in hostile_section:
        flood = hostile_section["phases"]["signin_flood"]["latency"]["p99_ms"]
        add(
            "webhook p99 during a sign-in flood",
            "<= 100 ms",
            flood,
            None if flood is None or quick else flood <= 100.0,
        )
    several = sections.get("cluster")
    if several and "error" not in several:
        at500 = next((e for e in several["cross"]["rates"] if e["offered_per_s"] == 500.0), None)
        p99 = at500["latency"]["p99_ms"] if at500 else None
        add(
            "cross-relay p99 at 500/s (webhook on A, socket on B)",
            "<= 15 ms",
            p99,
            None if p99 is None else p99 <= 15.0,
        )
        by_count = {entry["relays"]: entry["max_sustained_per_s"] for entry in several["scale"]}
        if 1 in by_count and 2 in by_count:
            add(
                "two relays sustain more than one",
                "> one relay's rate",
                f"{by_count[2]:,.0f} vs {by_count[1]:,.0f} /s",
                None if quick else by_count[2] > by_count[1],
            )
    return found


# -- the human table ---------------------------------------------------------------------


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        text = f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
    else:
        text = f"{value:,}" if isinstance(value, int) else str(value)
    return text + unit


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for number, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if number == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render(report: dict[str, Any]) -> str:
    out: list[str] = []
    m = report["machine"]
    out.append(
        f"ProfitRinger benchmarks ({report['mode']}) on {m['nproc']} x {m['cpu_model']}, "
        f"{m['memory_gib']} GiB, Python {m['python']}"
    )
    sections = report["sections"]
    hook = sections.get("webhook")
    if hook and "error" not in hook:
        out.append("")
        out.append(
            f"Webhook to screen ({hook['setup']['accounts']} accounts, one live socket each) "
            "vs. the floor (bare uvicorn answering 200)"
        )
        rows = [
            ["server", "offered/s", "achieved/s", "p50 ms", "p99 ms", "max ms", "errors", "kept up"]
        ]
        sides = {"relay": "relay", "relay_full_durability": "relay (full)", "floor": "floor"}
        for side, label in sides.items():
            if side not in hook:
                continue
            entries = hook[side]["rates"] + hook[side]["ramp"]
            for entry in entries:
                rows.append(
                    [
                        label,
                        _fmt(entry["offered_per_s"]),
                        _fmt(entry["achieved_per_s"]),
                        _fmt(entry["latency"]["p50_ms"]),
                        _fmt(entry["latency"]["p99_ms"]),
                        _fmt(entry["latency"]["max_ms"]),
                        _fmt(entry["errors"]),
                        "yes" if entry["sustained"] else "no",
                    ]
                )
        out.append(_table(rows))
        out.append(
            f"highest sustained: relay {_fmt(hook['relay']['max_sustained_per_s'])}/s, "
            + (
                f"relay with full durability "
                f"{_fmt(hook['relay_full_durability']['max_sustained_per_s'])}/s, "
                if "relay_full_durability" in hook
                else ""
            )
            + f"floor {_fmt(hook['floor']['max_sustained_per_s'])}/s, "
            f"ratio {_fmt(hook['relay_to_floor_throughput'])}"
        )
        prof = hook["relay"].get("profile")
        if prof:
            out.append("")
            if "error" in prof:
                out.append(f"profile of the webhook path: {prof['error']}")
            else:
                samples = sum(c["samples"] for c in prof["components"])
                out.append(
                    f"Where the relay's CPU goes at {_fmt(prof['rate_per_s'])}/s "
                    f"(py-spy, {samples} samples; stacks in {prof['samples_file']})"
                )
                rows = [["component", "share %"]]
                rows += [[c["component"], _fmt(c["share_percent"])] for c in prof["components"]]
                out.append(_table(rows))
    fan = sections.get("fanout")
    if fan and "error" not in fan:
        out.append("")
        out.append(
            f"Fan-out (one account, one relay process; relay RSS before sockets "
            f"{fan['relay_rss_before_sockets_mib']} MiB)"
        )
        rows = [["sockets", "set-up/s", "KiB/socket", "relay RSS MiB", "all delivered ms", "worst"]]
        for stage in fan["stages"]:
            rows.append(
                [
                    _fmt(stage["sockets"]),
                    _fmt(stage["setup_per_s"]),
                    _fmt(stage["memory_per_socket_kib"]),
                    _fmt(stage["relay_rss_mib"]),
                    _fmt(stage["deliver_to_all_ms"]),
                    _fmt(stage["deliver_to_all_worst_ms"]),
                ]
            )
        out.append(_table(rows))
    tr = sections.get("tray")
    if tr and "error" not in tr:
        out.append("")
        out.append(f"Tray (offscreen); before: {tr['previous']['when']}, the README's figures")
        rss = tr["rss_mib"]
        offline = tr["idle_offline"]
        before = tr["previous"]
        detail = tr["rss_detail_after_start_mib"]
        rows = [
            ["measure", "value", "goal", "before"],
            [
                "start to icon (median)",
                _fmt(tr["start_to_icon_ms"]["median"], " ms"),
                f"<= {tr['goals']['start_to_icon_ms']:.0f} ms",
                _fmt(before["start_to_icon_ms"], " ms"),
            ],
            [
                "RSS after start",
                _fmt(rss["after_start"], " MiB"),
                f"<= {tr['goals']['rss_mib']:.0f} MiB",
                _fmt(before["rss_after_start_mib"], " MiB"),
            ],
            [
                "  of which anonymous / file-backed",
                f"{_fmt(detail['anonymous'])} / {_fmt(detail['file_backed'])} MiB",
                "",
                "",
            ],
            [
                f"RSS after {tr['updates_per_batch']:,} updates",
                _fmt(rss["after_updates"], " MiB"),
                "flat",
                "",
            ],
            [
                f"RSS after {2 * tr['updates_per_batch']:,} updates",
                _fmt(rss["after_second_updates"], " MiB"),
                f"<= {tr['goals']['rss_mib']:.0f} MiB, flat",
                _fmt(before["rss_after_updates_mib"], " MiB"),
            ],
            ["survived the updates", "yes" if tr["survived_updates"] else "NO (crashed)", "", ""],
            [
                f"idle CPU over {tr['idle']['seconds']} s",
                _fmt(tr["idle"]["cpu_percent"], " %"),
                "0.00 %",
                _fmt(before["idle_cpu_percent"], " %"),
            ],
            ["idle wake-ups (ctx switches)", _fmt(tr["idle"]["wakeups_per_s"], " /s"), "", ""],
        ]
        traced = tr["idle_wait_syscalls_strace"]
        if traced.get("available"):
            rows.append(["idle wait syscalls (strace)", _fmt(traced["per_second"], " /s"), "", ""])
        if offline.get("measured"):
            rows.append(
                [
                    f"idle CPU, relay gone, over {offline['seconds']} s",
                    f"{_fmt(offline['cpu_percent'], ' %')} "
                    f"({offline['reconnect_attempts']} retries)",
                    "0.00 %",
                    "",
                ]
            )
            rows.append(["RSS with the relay gone", _fmt(offline["rss_mib"], " MiB"), "", ""])
        out.append(_table(rows))
        if tr["crash"]:
            out.append(
                f"tray crash: {tr['crash']['first_error_line']} (logs: {tr['crash']['logs']})"
            )
    hostile_section = sections.get("hostile")
    if hostile_section and "error" not in hostile_section:
        plan = hostile_section["plan"]
        out.append("")
        out.append(
            f"Webhooks at {_fmt(plan['webhooks_per_s'])}/s under hostile clients "
            f"({plan['signin_concurrency']} sign-in attackers, {plan['header_connections']} "
            "endless headers)"
        )
        rows = [["phase", "p50 ms", "p99 ms", "max ms", "errors", "flood answers"]]
        for phase, entry in hostile_section["phases"].items():
            flood = entry.get("flood", {})
            answers = ", ".join(f"{k}: {v}" for k, v in flood.get("statuses", {}).items())
            if flood.get("refused_headers_431"):
                answers = f"431: {flood['refused_headers_431']}"
            rows.append(
                [
                    phase,
                    _fmt(entry["latency"]["p50_ms"]),
                    _fmt(entry["latency"]["p99_ms"]),
                    _fmt(entry["latency"]["max_ms"]),
                    _fmt(entry["errors"]),
                    answers or "-",
                ]
            )
        out.append(_table(rows))
    several = sections.get("cluster")
    if several and "error" not in several:
        out.append("")
        out.append(
            f"Several relays ({several['setup']['store']}; {several['setup']['broker']}; "
            f"{several['setup']['accounts']} accounts)"
        )
        rows = [["run", "offered/s", "achieved/s", "p50 ms", "p99 ms", "max ms", "kept up"]]
        runs = [("A -> B", e) for e in several["cross"]["rates"]]
        runs += [
            (f"{e['relays']} relay(s), best", e["max_sustained"])
            for e in several["scale"]
            if e["max_sustained"]
        ]
        for label, entry in runs:
            rows.append(
                [
                    label,
                    _fmt(entry["offered_per_s"]),
                    _fmt(entry["achieved_per_s"]),
                    _fmt(entry["latency"]["p50_ms"]),
                    _fmt(entry["latency"]["p99_ms"]),
                    _fmt(entry["latency"]["max_ms"]),
                    "yes" if entry["sustained"] else "no",
                ]
            )
        out.append(_table(rows))
        for stage in several["sockets"]["stages"]:
            out.append(
                f"{stage['sockets']:,} sockets on one relay: "
                f"{_fmt(stage['memory_per_socket_kib'])} KiB each, "
                f"update to all in {_fmt(stage['deliver_to_all_ms'])} ms"
            )
    for name, section in sections.items():
        if "error" in section:
            out.append("")
            out.append(f"{name}: CRASHED: {section['error']}")
    noisy = [
        f"{name} ({section['machine_load']['other_cores']} cores)"
        for name, section in sections.items()
        if section.get("machine_load", {}).get("other_cores", 0.0) > OTHER_LOAD_WARNING
    ]
    if noisy:
        out.append("")
        out.append(
            "WARNING: other processes kept the machine busy during "
            + ", ".join(noisy)
            + "; those figures are pessimistic. Run again on a quiet machine."
        )
    out.append("")
    rows = [["target", "goal", "measured", "met", "before"]]
    for target in report["targets"]:
        met = {True: "yes", False: "MISSED", None: "not measured"}[target["met"]]
        rows.append(
            [
                target["target"],
                target["goal"],
                _fmt(target["measured"]),
                met,
                _fmt(target.get("previous")),
            ]
        )
    out.append(_table(rows))
    return "\n".join(out)


# -- main --------------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small and short (CI)")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help=f"run only these sections ({', '.join(SECTIONS)}); repeatable",
    )
    parser.add_argument("--out", type=Path, default=harness.ROOT / "bench-output")
    args = parser.parse_args(list(argv))
    chosen = [name for item in args.only for name in item.split(",") if name]
    unknown = [name for name in chosen if name not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    args.sections = [name for name in SECTIONS if not chosen or name in chosen]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    harness.raise_nofile()
    chosen_plans = plans(args.quick)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "mode": "quick" if args.quick else "full",
        "started_at": stamp,
        "machine": harness.machine(),
        "sections": {},
    }
    crashed = False
    started = time.monotonic()
    for name in args.sections:
        print(f"bench: running {name} ...", file=sys.stderr, flush=True)
        section_started = time.monotonic()
        busy_before, own_before = harness.machine_busy_seconds(), harness.own_cpu_seconds()
        try:
            section = RUNNERS[name](chosen_plans[name], out)
        except Exception as exc:
            crashed = True
            section = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
            print(section["traceback"], file=sys.stderr)
        wall = time.monotonic() - section_started
        section["seconds"] = round(wall, 1)
        busy = harness.machine_busy_seconds() - busy_before
        own = harness.own_cpu_seconds() - own_before
        # Other work on the machine while this section ran skews its figures: say so.
        section["machine_load"] = {
            "busy_cores": round(busy / wall, 2),
            "benchmark_cores": round(own / wall, 2),
            "other_cores": round(max(0.0, busy - own) / wall, 2),
        }
        report["sections"][name] = section
    report["seconds"] = round(time.monotonic() - started, 1)
    report["targets"] = targets(report["sections"], quick=args.quick)
    text = json.dumps(report, indent=2) + "\n"
    path = out / f"bench-{stamp}.json"
    path.write_text(text)
    (out / "latest.json").write_text(text)
    print(render(report))
    print(f"\nJSON: {path} (and {out / 'latest.json'})")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
