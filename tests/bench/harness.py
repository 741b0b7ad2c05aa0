"""What every benchmark shares: server child processes, /proc readings,
percentiles, the machine's description and the file-descriptor limit."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar

import httpx

from desktop.core.wire import now_utc
from desktop.relay.passwords import hash_password
from desktop.relay.storage import Store
from desktop.serving import free_port

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "bench-password-0123"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def raise_nofile(wanted: int = 65536) -> int:
    """Raise this process's open-file limit (children inherit it); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def summary_ms(samples: Sequence[float]) -> dict[str, float | int | None]:
    """p50 / p99 / max / mean of durations given in seconds, reported in milliseconds."""
    if not samples:
        return {"count": 0, "p50_ms": None, "p99_ms": None, "max_ms": None, "mean_ms": None}
    ordered = sorted(samples)

    def pick(q: float) -> float:
        index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
        return round(ordered[index] * 1000, 3)

    return {
        "count": len(ordered),
        "p50_ms": pick(0.50),
        "p99_ms": pick(0.99),
        "max_ms": round(ordered[-1] * 1000, 3),
        "mean_ms": round(sum(ordered) / len(ordered) * 1000, 3),
    }


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_kib = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


# -- /proc ------------------------------------------------------------------------------


def _status_fields(pid: int) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return fields


def rss_kib(pid: int) -> int:
    """Resident memory (VmRSS) of ``pid`` in KiB."""
    return int(_status_fields(pid)["VmRSS"].split()[0])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` (all its threads) in seconds."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    after_name = raw[raw.rindex(")") + 2 :].split()
    utime, stime = int(after_name[11]), int(after_name[12])
    return (utime + stime) / CLK_TCK


def context_switches(pid: int) -> dict[str, int]:
    """Voluntary and involuntary context switches summed over ``pid``'s threads.

    A thread that sleeps in poll/epoll and is woken (by a timer or I/O) counts
    one voluntary switch when it goes back to sleep, so over an idle window the
    voluntary count is the number of wake-ups.
    """
    voluntary = involuntary = threads = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, KeyError, ValueError):
            fields = _status_fields_path(task / "status")
            voluntary += int(fields["voluntary_ctxt_switches"])
            involuntary += int(fields["nonvoluntary_ctxt_switches"])
            threads += 1
    return {"voluntary": voluntary, "involuntary": involuntary, "threads": threads}


def _status_fields_path(path: Path) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in path.read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return fields


def established_to(pid: int, port: int) -> int:
    """How many TCP connections ``pid`` holds ESTABLISHED to 127.0.0.1:``port``."""
    inodes: set[str] = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                parts = line.split()
                remote_port = int(parts[2].rsplit(":", 1)[1], 16)
                if parts[3] == "01" and remote_port == port and parts[9] in inodes:
                    count += 1
    return count


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has spent busy since boot (/proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def own_cpu_seconds() -> float:
    """CPU seconds of this process and its finished (waited-for) children."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


# -- server children --------------------------------------------------------------------


class ServerProcess:
    """A server in a child process (its own CPU and GIL), logging to a file.

    Started with ``argv``; ready once ``GET <url><health_path>`` answers 200.
    Stopped with SIGINT (a clean uvicorn shutdown), then SIGKILL if it hangs.
    """

    def __init__(
        self,
        argv: Sequence[str],
        port: int,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        health_path: str = "/healthz",
    ) -> None:
        self.argv = list(argv)
        self.port = port
        self.log_path = log_path
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.env.setdefault("PYTHONPATH", str(ROOT))
        self.health_path = health_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 30.0) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log_file:
            self.process = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.argv[:4]} exited with {self.process.returncode}; see {self.log_path}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + self.health_path, timeout=1.0).status_code == 200:
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"{self.argv[:4]} did not answer within {timeout} s; see {self.log_path}"
        )

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


#: The benchmarks open thousands of live sockets on one account, from one
#: address, hundreds of handshakes at a time: lift the per-account and
#: per-address socket caps that a real deployment keeps (live.py).
BENCH_LIVE_LIMITS: Final = {
    "PROFITRINGER_MAX_SOCKETS_PER_ACCOUNT": "1000000",
    "PROFITRINGER_MAX_UNAUTHENTICATED_SOCKETS_PER_ADDRESS": "1000000",
}


def relay_process(
    data_dir: Path, log_path: Path, env: Mapping[str, str] | None = None
) -> ServerProcess:
    """``profitringer relay`` on a free port, as a user would run it."""
    port = free_port()
    argv = [sys.executable, "-m", "desktop", "relay", "--data-dir", str(data_dir)]
    argv += ["--port", str(port)]
    return ServerProcess(argv, port, log_path, env)


def floor_process(log_path: Path) -> ServerProcess:
    """The floor: uvicorn with the relay's settings serving an app that only answers 200."""
    port = free_port()
    argv = [sys.executable, "-m", "tests.bench.floor_app", "--port", str(port)]
    return ServerProcess(argv, port, log_path, health_path="/")


def add_accounts(data_dir: Path, emails: Sequence[str], database_url: str | None = None) -> None:
    """Create accounts as ``profitringer relay user add`` does (one Argon2 hash, reused,
    so seeding many accounts stays quick), in ``database_url`` if given."""
    store = Store.open_url(database_url, data_dir)
    try:
        password_hash = hash_password(PASSWORD)
        for email in emails:
            store.add_account(email, password_hash, now_utc())
    finally:
        store.close()


def sign_in(client: httpx.Client, email: str, device: str = "bench") -> str:
    response = client.post(
        "/api/v1/sessions", json={"email": email, "password": PASSWORD, "device_name": device}
    )
    response.raise_for_status()
    token: str = response.json()["token"]
    return token


def run_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on a fresh uvloop loop (the load side must be cheap too)."""
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


@contextlib.contextmanager
def timed() -> Iterator[list[float]]:
    """``with timed() as took:`` then ``took[0]`` is the block's wall time in seconds."""
    holder: list[float] = []
    started = time.perf_counter()
    try:
        yield holder
    finally:
        holder.append(time.perf_counter() - started)
