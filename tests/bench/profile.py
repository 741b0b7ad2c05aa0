"""Where a webhook's time goes: py-spy samples the relay's process while the
load runs at the highest rate it sustained, and each sample is put to the
component its innermost recognised frame belongs to.

The raw samples (py-spy's collapsed stacks, ``frame;frame;... count``) are
kept beside the JSON, so a flame graph can be drawn from them later (e.g. with
inferno or flamegraph.pl).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Final

#: (component, substrings of a frame's "function (file:line)"), checked from the
#: innermost frame outwards; the first frame that matches names the sample.
COMPONENTS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("store: SQLite or PostgreSQL", ("sqlite3", "psycopg", "/relay/storage/")),
    ("JSON encode and decode", ("/json/",)),
    ("signature check, webhook parsing", ("/zoom/signatures", "/zoom/webhooks", "hmac")),
    ("availability rules, service, Zoom rows", ("/desktop/core/", "/relay/service", "/zoom/")),
    (
        "push: hub, broker, live sockets",
        ("/relay/hub", "/relay/broker", "/relay/live", "/websockets/"),
    ),
    ("relay middlewares: body limit, access log, headers", ("/desktop/relay/app.py",)),
    ("logging", ("/logging/",)),
    ("FastAPI, Starlette, pydantic", ("/fastapi/", "/starlette/", "/pydantic")),
    ("uvicorn, HTTP parsing, transport", ("/uvicorn/", "httptools", "/relay/http_protocol")),
    ("event loop: asyncio, uvloop", ("/asyncio/", "uvloop")),
)


def py_spy() -> str | None:
    """The py-spy beside this Python (the test extras install it), or on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def component_of(stack: str) -> str:
    frames = stack.split(";")
    for frame in reversed(frames):
        for name, needles in COMPONENTS:
            if any(needle in frame for needle in needles):
                return name
    return "other"


def summarise(raw: str) -> list[dict[str, Any]]:
    """``[{"component", "samples", "share_percent"}]``, largest first."""
    counts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            counts[component_of(stack)] += int(count)
    total = sum(counts.values())
    return [
        {"component": name, "samples": n, "share_percent": round(100 * n / total, 1)}
        for name, n in counts.most_common()
    ]


async def record(pid: int, seconds: float, out: Path, load: Any) -> dict[str, Any]:
    """Sample ``pid`` for ``seconds`` while awaiting ``load`` (the load at the
    chosen rate); returns the summary, or why there is none."""
    binary = py_spy()
    if binary is None:
        await load
        return {"error": "py-spy is not installed (pip install -e '.[test]')"}
    argv = [binary, "record", "--pid", str(pid), "--rate", "250", "--duration"]
    argv += [str(max(1, round(seconds))), "--format", "raw", "--output", str(out)]
    argv += ["--nonblocking", "--full-filenames"]
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    await load
    _, stderr = await process.communicate()
    raw = await asyncio.to_thread(_read, out)
    if process.returncode != 0 or raw is None:
        return {"error": f"py-spy failed: {stderr.decode(errors='replace').strip()[-300:]}"}
    return {"samples_file": out.name, "components": summarise(raw)}


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None
