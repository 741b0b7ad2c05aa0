"""The demo's world, Qt-free: the local Zoom and the relay as supervised child
processes on free loopback ports, a demo account signed in, Zoom connected.

Everything flows as it would in production: the relay talks to the local Zoom
only over HTTP, the local Zoom sends signed webhooks to the relay, and the
tray (started by :mod:`desktop.demo.main`) only talks to the relay.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx

from desktop import dirs
from desktop.demo.services import Balancer, PostgresCluster, RedisServer
from desktop.demo.supervisor import ChildSpec, EventSink, Supervisor
from desktop.relay.zoom.start_page import continue_link
from desktop.serving import free_port

DEMO_EMAIL: Final = "you@profitringer.example"
#: The Zoom user the local Zoom creates at start; the demo connects as it.
ZOOM_EMAIL: Final = "demo@zoom.example"


class DemoError(RuntimeError):
    """The demo could not be set up; the message says what to look at."""


def default_data_dir() -> Path:
    return dirs.user_data_dir() / "demo"


@dataclass
class DemoSession:
    relay_url: str
    sim_url: str
    email: str
    token: str
    zoom_email: str
    data_dir: Path
    log_dir: Path


def _python_argv(*args: str) -> list[str]:
    """How to run ``profitringer`` again: the frozen executable, or this Python."""
    if getattr(sys, "frozen", False):
        return [sys.executable, *args]
    return [sys.executable, "-m", "desktop", *args]


class DemoWorld:
    """The local Zoom and ``relays`` relays. One relay runs as it does for a
    person: SQLite in its data dir. Several run as an organisation would run
    them: on one PostgreSQL, with Redis between them and haproxy in front,
    which is the only address the tray, the web page and the local Zoom see.
    The PostgreSQL cluster and Redis are throwaway, made afresh each run."""

    def __init__(
        self, data_dir: Path | None, fresh: bool, on_event: EventSink, relays: int = 1
    ) -> None:
        if relays < 1:
            raise DemoError("the demo needs at least one relay")
        self.relays = relays
        self._shared_env: dict[str, str] = {}
        self._cluster: PostgresCluster | None = None
        self._redis_dir: Path | None = None
        self._fresh_dir: Path | None = None
        if fresh:
            self._fresh_dir = Path(tempfile.mkdtemp(prefix="profitringer-demo-"))
            data_dir = self._fresh_dir
        self.data_dir = data_dir or default_data_dir()
        self.log_dir = self.data_dir / "logs"
        self.supervisor = Supervisor(on_event)
        self._on_event = on_event
        # Fresh credentials for the local Zoom app each run: they never leave
        # this machine, and the children get them through their environment.
        self._client_id = "demo-" + secrets.token_hex(8)
        self._client_secret = secrets.token_urlsafe(32)
        self._webhook_secret = secrets.token_urlsafe(32)

    def start(self) -> DemoSession:
        sim_port = free_port()
        relay_ports = [free_port() for _ in range(self.relays)]
        sim_url = f"http://127.0.0.1:{sim_port}"
        if self.relays > 1:
            balancer_port = free_port()
            public_url = f"http://127.0.0.1:{balancer_port}"
            self._start_shared_servers()
        else:
            public_url = f"http://127.0.0.1:{relay_ports[0]}"
        self.supervisor.start(
            ChildSpec(
                name="local Zoom",
                argv=_python_argv(
                    "zoom-sim",
                    "serve",
                    "--port",
                    str(sim_port),
                    "--auto-approve",
                    "--retry-time-scale",
                    "0.01",
                ),
                health_url=sim_url + "/_sim/users",
                log_path=self.log_dir / "zoom-sim.log",
                env={
                    "ZOOMSIM_CLIENT_ID": self._client_id,
                    "ZOOMSIM_CLIENT_SECRET": self._client_secret,
                    "ZOOMSIM_WEBHOOK_SECRET": self._webhook_secret,
                    "ZOOMSIM_WEBHOOK_URL": public_url + "/webhooks/zoom",
                },
            )
        )
        relay_env = {
            "PROFITRINGER_ZOOM_CLIENT_ID": self._client_id,
            "PROFITRINGER_ZOOM_CLIENT_SECRET": self._client_secret,
            "PROFITRINGER_ZOOM_WEBHOOK_SECRET": self._webhook_secret,
            "PROFITRINGER_ZOOM_OAUTH_URL": sim_url,
            "PROFITRINGER_ZOOM_API_URL": sim_url,
            "PROFITRINGER_PUBLIC_URL": public_url,
            # The demo restarts quickly; reconcile with Zoom soon after.
            "PROFITRINGER_ZOOM_RECONCILE_AFTER": "600",
            **self._shared_env,
        }
        for number, port in enumerate(relay_ports, start=1):
            self.supervisor.start(
                ChildSpec(
                    name=self.relay_name(number),
                    argv=_python_argv(
                        "relay", "--data-dir", str(self._relay_dir(number)), "--port", str(port)
                    ),
                    health_url=f"http://127.0.0.1:{port}/healthz",
                    log_path=self.log_dir / f"{self.relay_name(number).replace(' ', '-')}.log",
                    env=relay_env,
                )
            )
        if self.relays > 1:
            balancer = Balancer(self.data_dir / "balancer", balancer_port, relay_ports)
            balancer.write_config()
            self.supervisor.start(
                ChildSpec(
                    name="balancer",
                    argv=balancer.argv(),
                    health_url=public_url + "/readyz",
                    log_path=self.log_dir / "balancer.log",
                )
            )
        password = secrets.token_urlsafe(18)
        self._set_account(self._relay_dir(1), password)
        token = self._sign_in(public_url, password)
        self._connect_zoom(public_url, token)
        return DemoSession(
            relay_url=public_url,
            sim_url=sim_url,
            email=DEMO_EMAIL,
            token=token,
            zoom_email=ZOOM_EMAIL,
            data_dir=self.data_dir,
            log_dir=self.log_dir,
        )

    def relay_name(self, number: int) -> str:
        return "relay" if self.relays == 1 else f"relay {number}"

    def _relay_dir(self, number: int) -> Path:
        return self.data_dir / ("relay" if self.relays == 1 else f"relay-{number}")

    def _start_shared_servers(self) -> None:
        """PostgreSQL and Redis for several relays, and the settings they share:
        the database, the broker, and the keys that seal Zoom tokens."""
        from cryptography.fernet import Fernet

        cluster = PostgresCluster.create(free_port())
        self._cluster = cluster
        self.supervisor.start(
            ChildSpec(
                name="PostgreSQL",
                argv=cluster.argv(),
                health_url=None,
                health=cluster.answers,
                log_path=self.log_dir / "postgresql.log",
                user=cluster.user,
                stop_signal=signal.SIGINT,
            )
        )
        database_url = cluster.create_database()
        self._redis_dir = Path(tempfile.mkdtemp(prefix="profitringer-redis-"))
        redis = RedisServer(self._redis_dir, free_port())
        self.supervisor.start(
            ChildSpec(
                name="Redis",
                argv=redis.argv(),
                health_url=None,
                health=redis.answers,
                log_path=self.log_dir / "redis.log",
            )
        )
        self._shared_env = {
            "PROFITRINGER_DATABASE_URL": database_url,
            "PROFITRINGER_BROKER_URL": redis.url,
            "PROFITRINGER_TOKEN_KEYS": Fernet.generate_key().decode("ascii"),
            # haproxy says who the client is in X-Forwarded-For
            "PROFITRINGER_TRUSTED_PROXIES": "127.0.0.1",
        }

    def _set_account(self, relay_data: Path, password: str) -> None:
        """Create the demo account, or give it this run's password: the demo
        never stores a password anywhere."""
        for action in ("add", "passwd"):
            result = subprocess.run(
                _python_argv(
                    "relay",
                    "--data-dir",
                    str(relay_data),
                    "user",
                    action,
                    DEMO_EMAIL,
                    "--password-stdin",
                ),
                input=password + "\n",
                env={**os.environ, **self._shared_env},
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if result.returncode == 0:
                return
            if "already exists" not in result.stderr:
                raise DemoError(f"could not create the demo account: {result.stderr.strip()}")
        raise DemoError("could not set the demo account's password")

    def _sign_in(self, relay_url: str, password: str) -> str:
        response = httpx.post(
            relay_url + "/api/v1/sessions",
            json={"email": DEMO_EMAIL, "password": password, "device_name": "demo tray"},
            timeout=30,
        )
        if response.status_code != 201:
            raise DemoError(f"could not sign in to the demo relay: {response.text}")
        token: str = response.json()["token"]
        return token

    def _connect_zoom(self, relay_url: str, token: str) -> None:
        """Connect as a person would: ask the relay for the connect link, open its
        start page and follow "Continue to Zoom" through the local Zoom's consent
        (auto-approved) back to the relay, in one browser (the start page's
        cookie binds it)."""
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(timeout=30, headers=headers) as client:
            state: dict[str, Any] = client.get(relay_url + "/api/v1/state").json()
            if state["zoom"]["state"] == "connected":
                # Last run's local Zoom is gone, and its tokens with it.
                client.delete(relay_url + "/api/v1/integrations/zoom")
            response = client.post(relay_url + "/api/v1/integrations/zoom/connect")
            if response.status_code != 200:
                raise DemoError(f"the relay would not start the Zoom connection: {response.text}")
            start_url = response.json()["authorize_url"]
        with httpx.Client(timeout=30, follow_redirects=True) as browser:
            page = browser.get(start_url)
            zoom_url = continue_link(page.text) if page.status_code == 200 else None
            if zoom_url is not None:
                page = browser.get(zoom_url)
        if zoom_url is None or page.status_code != 200:
            raise DemoError(
                f"connecting Zoom failed at {page.url.copy_with(query=None)} "
                f"(HTTP {page.status_code}); see {self.log_dir}"
            )

    def stop(self) -> None:
        self.supervisor.stop_all()
        if self._cluster is not None:
            self._cluster.remove()
            self._cluster = None
        if self._redis_dir is not None:
            shutil.rmtree(self._redis_dir, ignore_errors=True)
            self._redis_dir = None
        if self._fresh_dir is not None:
            shutil.rmtree(self._fresh_dir, ignore_errors=True)


class SimControl:
    """The demo's "Simulate Zoom" actions, through the local Zoom's control API."""

    def __init__(self, sim_url: str, zoom_email: str, relay_url: str, token: str) -> None:
        self._sim_url = sim_url
        self._user = zoom_email
        self._relay_url = relay_url
        self._token = token

    def _post(self, path: str, body: dict[str, Any] | None = None) -> str:
        try:
            response = httpx.post(
                f"{self._sim_url}/_sim/users/{self._user}/{path}", json=body or {}, timeout=10
            )
        except httpx.TransportError as problem:
            return f"the local Zoom is not answering ({type(problem).__name__})"
        if response.is_success:
            return "sent"
        return f"the local Zoom answered {response.status_code}: {response.text[:200]}"

    def join_meeting(self) -> str:
        return self._post("presence", {"status": "In_Meeting"})

    def leave_meeting(self) -> str:
        return self._post("presence", {"status": "Available"})

    def remove_app(self) -> str:
        return self._post("deauthorize")

    def expire_token(self) -> str:
        """Kill the Zoom tokens at Zoom. The relay finds out the next time it
        uses them, as in production; the demo makes that happen at once by
        asking for a meeting link, which makes the relay call Zoom."""
        result = self._post("invalidate_tokens")
        if result != "sent":
            return result
        try:
            httpx.post(
                self._relay_url + "/api/v1/meetings",
                json={"topic": "ProfitRinger demo"},
                headers={"Authorization": f"Bearer {self._token}"},
                timeout=30,
            )
        except httpx.TransportError as problem:
            return f"tokens killed, but the relay is not answering ({type(problem).__name__})"
        return "sent"
