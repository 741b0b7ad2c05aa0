"""The tray keeps no secret anywhere but the keyring, and says none.

What this proves (issue 8, the tray half):

- The keyring holds exactly one entry while signed in — the session token,
  which works at the relay — through settings changes, actions and a failed
  meeting link, and none after sign-out.
- After a full run (a wrong password, an unreachable backend, sign-in, actions,
  settings, "Copy diagnostics", sign-out) with the real log file at DEBUG, no
  file under the config dir, the log dir or the test HOME holds the password
  or the token; nor does anything shown to the person or logged.
- "Copy diagnostics" has versions, state and backend, and no secret.
- An unexpected exception — raised by the HTTP transport or by a live-message
  handler, its text carrying the token — reaches neither the log nor the
  person; the live socket keeps reconnecting after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.server import ServerConnection, serve

from desktop.app.application import AppOptions, TrayApplication
from desktop.app.autostart import LoginItem
from desktop.app.main import setup_logging
from desktop.app.notifier import RecordingNotifier
from desktop.client.api import RelayClient
from desktop.client.credentials import SERVICE_NAME, TokenKeyring
from desktop.client.live import Backoff, LiveConnection
from desktop.core.wire import MessageType, StateDocument
from desktop.serving import free_port
from tests.client.documents import raw_document
from tests.support.tray import AppFactory, Desktop

EMAIL = "secrets@example.com"
FAST = Backoff(base=0.05, factor=2.0, cap=0.3, jitter=0.1)


@pytest.fixture
def debug_log_file(tmp_path: Path) -> Iterator[Path]:
    """The app's real rotating log file, with everything at DEBUG."""
    quiet = ("websockets", "httpx", "httpcore")
    levels = {name: logging.getLogger(name).level for name in quiet}
    root = logging.getLogger()
    root_level = root.level
    path, handler = setup_logging(tmp_path / "log")
    assert path is not None
    assert handler is not None
    root.setLevel(logging.DEBUG)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(root_level)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def files_holding(roots: list[Path], needles: list[str]) -> list[str]:
    found = []
    for root in roots:
        for path in root.rglob("*"):
            if not path.is_file():
                continue
            with contextlib.suppress(OSError):
                data = path.read_bytes()
                found += [f"{path}: {n[:6]}…" for n in needles if n.encode() in data]
    return found


def test_only_the_token_in_the_keyring_and_no_secret_on_disk_or_screen(
    qtbot: Any,
    tmp_path: Path,
    relay: Any,
    memory_keyring: Any,
    debug_log_file: Path,
    caplog: Any,
    make_app: AppFactory,
    desktop: Desktop,
) -> None:
    caplog.set_level(logging.DEBUG)
    password = "pw-" + secrets.token_urlsafe(12)
    relay.add_user(EMAIL, password)
    notifier = desktop.notifier
    clipboard = desktop.clipboard
    errors: list[tuple[str, str]] = []
    config_dir = tmp_path / "config"
    app = make_app(
        config_dir=config_dir, backend_url=relay.url, log_file=debug_log_file, backoff=FAST
    )
    try:
        controller = app.controller
        controller.error.connect(lambda title, text: errors.append((title, text)))
        app.start()
        dialog = app.shell.sign_in_dialog
        assert dialog.isVisible()
        shown_errors: list[str] = []

        def submit(backend: str, secret: str) -> None:
            dialog.backend.setText(backend)
            dialog.email.setText(EMAIL)
            dialog.password.setText(secret)
            dialog.error_label.hide()
            dialog.sign_in_button.click()

        # wrong password, then an unreachable backend: clear words, no password
        submit(relay.url, password + "x")
        qtbot.waitUntil(lambda: not dialog.error_label.isHidden(), timeout=10_000)
        shown_errors.append(dialog.error_label.text())
        assert shown_errors[-1] == "The email or password is not right."
        nowhere = f"http://127.0.0.1:{free_port()}"
        submit(nowhere, password)
        qtbot.waitUntil(lambda: not dialog.error_label.isHidden(), timeout=15_000)
        shown_errors.append(dialog.error_label.text())
        assert shown_errors[-1].startswith(f"Cannot reach the backend at {nowhere}")
        assert memory_keyring.entries == {}

        with qtbot.waitSignal(dialog.signed_in, timeout=10_000):
            submit(relay.url, password)
        qtbot.waitUntil(lambda: controller.model.online, timeout=10_000)
        assert controller.client is not None
        token = controller.client.token
        assert token
        key = (SERVICE_NAME, f"{relay.url}|{EMAIL}")

        def only_the_token() -> None:
            assert memory_keyring.entries == {key: token}

        only_the_token()
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(relay.url + "/api/v1/state", headers=headers).status_code == 200

        # settings changed through the dialog
        app.shell.show_settings()
        settings_dialog = app.shell.settings_dialog
        assert settings_dialog is not None
        settings_dialog.paused.setChecked(False)
        settings_dialog.accept()
        qtbot.waitUntil(lambda: not controller.settings.notify_paused)
        assert not json.loads((config_dir / "settings.json").read_text())["notify_paused"]
        only_the_token()

        # actions: a change, and a meeting link the relay refuses (no Zoom)
        controller.set_preferred("unavailable")
        qtbot.waitUntil(lambda: controller.status().tooltip.startswith("ProfitRinger: Unavailable"))
        controller.new_meeting()
        qtbot.waitUntil(lambda: bool(errors), timeout=10_000)
        assert errors[0][0] == "Could not create a meeting link"
        only_the_token()

        app.shell.copy_diagnostics()
        diagnostics = clipboard[-1]
        for line in (
            "profitringer: ",
            "python: ",
            "qt: ",
            "pyside6: ",
            f"backend: {relay.url}",
            f"account: {EMAIL}",
            "connection: online",
            "preferred: unavailable",
            "keyring: system keyring",
        ):
            assert line in diagnostics, line
        assert token not in diagnostics
        assert password not in diagnostics
        assert "Bearer" not in diagnostics
        only_the_token()

        controller.sign_out()
        assert memory_keyring.entries == {}
        qtbot.waitUntil(
            lambda: httpx.get(relay.url + "/api/v1/state", headers=headers).status_code == 401,
            timeout=10_000,
        )
    finally:
        app.close()  # flushes the session's last log lines before the scan; safe twice

    for handler in logging.getLogger().handlers:
        handler.flush()
    assert debug_log_file.stat().st_size > 0
    needles = [password, token]
    home = Path(os.environ["HOME"])
    assert files_holding([config_dir, debug_log_file.parent, home], needles) == []
    said = shown_errors + [t + b for _, t, b in notifier.shown] + [t + m for t, m in errors]
    assert not [text for text in said if any(n in text for n in needles)]
    assert password not in caplog.text
    assert token not in caplog.text


def test_unexpected_transport_errors_carry_no_token_to_log_or_person(
    qtbot: Any, tmp_path: Path, memory_keyring: Any, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    token = "tok-" + secrets.token_urlsafe(24)
    failures = iter(
        [
            RuntimeError(f"transport broke while sending Bearer {token}"),
            httpx.ConnectError(f"refused: Authorization: Bearer {token}"),
            ValueError(f"bad header {token}"),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/sessions":
            return httpx.Response(
                201, json={"token": token, "account": {"id": "a1", "email": EMAIL}}
            )
        raise next(failures)

    def client_factory(url: str, session: str | None) -> RelayClient:
        return RelayClient(url, session, transport=httpx.MockTransport(handler))

    # Nothing listens there: the live socket just stays offline.
    backend = f"http://127.0.0.1:{free_port()}"
    notifier = RecordingNotifier()
    app = TrayApplication(
        AppOptions(
            config_dir=tmp_path / "config",
            backend_url=backend,
            tray_available=True,
            backoff=Backoff(base=5, cap=5, jitter=0),
            watch_system_bus=False,
        ),
        keyring=TokenKeyring(),
        notifier=notifier,
        browser=lambda url: None,
        clipboard=lambda text: None,
        confirm=lambda title, text: True,
        login_item=LoginItem(["profitringer"], platform="linux", home=tmp_path / "h", env={}),
        quit_app=lambda: None,
        client_factory=client_factory,
    )
    errors: list[tuple[str, str]] = []
    try:
        app.controller.error.connect(lambda title, text: errors.append((title, text)))
        app.start()
        done: list[str | None] = []
        app.controller.sign_in(backend, EMAIL, "irrelevant password", done.append)
        qtbot.waitUntil(lambda: done == [None], timeout=10_000)
        app.controller.set_ringer(False)
        qtbot.waitUntil(lambda: len(errors) == 1, timeout=10_000)
        app.controller.set_preferred("unavailable")
        qtbot.waitUntil(lambda: len(errors) == 2, timeout=10_000)
        app.controller.clear_override()
        qtbot.waitUntil(lambda: len(errors) == 3, timeout=10_000)
    finally:
        app.close()
        app.deleteLater()
    assert errors[0] == (
        "Could not turn the ringer off",
        "Something unexpected went wrong (RuntimeError); try again.",
    )
    assert errors[1][1].startswith(f"Cannot reach the backend at {backend}")
    assert "ValueError" in errors[2][1]
    said = [t + m for t, m in errors] + [t + b for _, t, b in notifier.shown]
    assert not [text for text in said if token in text]
    assert token not in caplog.text


class Listener:
    """A LiveListener whose first message handler crashes with the token in
    its text, as a bug in a handler would."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.snapshots = 0
        self.offline = 0
        self.online = asyncio.Event()
        self.second_snapshot = asyncio.Event()

    def on_message(self, kind: MessageType, document: StateDocument) -> None:
        self.snapshots += kind == "snapshot"
        if self.snapshots == 1:
            raise RuntimeError(f"handler bug while holding Bearer {self.token}")
        self.second_snapshot.set()

    def on_online(self) -> None:
        self.online.set()

    def on_offline(self, since: datetime, reason: str) -> None:
        self.offline += 1

    def on_session_gone(self) -> None:
        raise AssertionError("the session is not gone")


def test_a_crash_in_a_live_handler_is_logged_without_the_token_and_reconnects(
    caplog: Any,
) -> None:
    caplog.set_level(logging.DEBUG)
    token = "tok-" + secrets.token_urlsafe(24)
    message = json.dumps({"type": "snapshot", "seq": 1, "state": raw_document()})

    async def handler(connection: ServerConnection) -> None:
        await connection.send(message)
        with contextlib.suppress(Exception):
            await connection.wait_closed()

    async def scenario() -> None:
        # The fake relay's own debug log would show the header it received.
        quiet = logging.getLogger("tests.fake_relay")
        quiet.setLevel(logging.WARNING)
        async with serve(handler, "127.0.0.1", 0, logger=quiet) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            listener = Listener(token)
            live = LiveConnection(
                f"ws://127.0.0.1:{port}/api/v1/live", token, listener, backoff=FAST
            )
            task = asyncio.create_task(live.run())
            try:
                await asyncio.wait_for(listener.second_snapshot.wait(), 10)
                assert not task.done()
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            assert listener.offline == 1

    asyncio.run(scenario())
    assert token not in caplog.text
    assert "the live socket failed unexpectedly (RuntimeError)" in caplog.text
