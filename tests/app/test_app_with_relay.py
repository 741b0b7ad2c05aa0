"""The tray app against a real relay on 127.0.0.1: sign-in, keyring, actions,
offline and back, session gone."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from keyring.backends.fail import Keyring as FailKeyring

from desktop.app.application import TrayApplication
from desktop.client.credentials import SERVICE_NAME, TokenKeyring
from desktop.client.live import Backoff
from tests.support.tray import AppFactory, Desktop, sign_in_through_dialog

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery"
NEW_PASSWORD = "a new password"


def kind(app: TrayApplication) -> str:
    return app.controller.status().kind


def start_signed_in(qtbot: Any, make_app: AppFactory, relay: Any, **kwargs: Any) -> TrayApplication:
    relay.add_user(EMAIL, PASSWORD)
    app = make_app(backend_url=relay.url, **kwargs)
    app.start()
    assert app.shell.sign_in_dialog.isVisible()
    sign_in_through_dialog(qtbot, app, EMAIL, PASSWORD)
    qtbot.waitUntil(lambda: kind(app) == "zoom_action", timeout=10_000)
    return app


def test_sign_in_errors_then_success_then_reuse(
    qtbot: Any, make_app: AppFactory, relay: Any, memory_keyring: Any, tmp_path: Any
) -> None:
    relay.add_user(EMAIL, PASSWORD)
    app = make_app(backend_url=relay.url)
    with qtbot.waitSignal(app.controller.sign_in_required):
        app.start()
    assert kind(app) == "signed_out"
    dialog = app.shell.sign_in_dialog
    assert dialog.isVisible()
    assert dialog.backend.text() == relay.url

    dialog.email.setText(EMAIL)
    dialog.password.setText("wrong password")
    dialog.sign_in_button.click()
    qtbot.waitUntil(lambda: not dialog.error_label.isHidden(), timeout=10_000)
    assert dialog.error_label.text() == "The email or password is not right."
    assert dialog.isVisible()

    sign_in_through_dialog(qtbot, app, EMAIL, PASSWORD)
    assert not dialog.isVisible()
    # Zoom is not connected yet, so the tray asks for that; the words say available too.
    qtbot.waitUntil(lambda: app.controller.model.online, timeout=10_000)
    status = app.controller.status()
    assert (status.kind, status.zoom_problem) == ("zoom_action", "Zoom not connected — connect")
    assert status.title.startswith("Available since")
    assert app.tray is not None
    assert app.tray.tray.toolTip() == status.tooltip

    # only the token is stored, keyed by backend and email
    key = (SERVICE_NAME, f"{relay.url}|{EMAIL}")
    assert list(memory_keyring.entries) == [key]
    assert PASSWORD not in str(memory_keyring.entries)
    app.close()

    # the next start reuses the token: no dialog
    again = make_app()
    again.start()
    assert not again.shell.sign_in_dialog.isVisible()
    qtbot.waitUntil(lambda: again.controller.model.online, timeout=10_000)
    assert again.controller.settings.email == EMAIL

    # sign out forgets it and ends the session at the relay
    token = memory_keyring.entries[key]
    again.controller.sign_out()
    assert kind(again) == "signed_out"
    assert key not in memory_keyring.entries

    def session_ended() -> bool:
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.get(relay.url + "/api/v1/state", headers=headers).status_code == 401

    qtbot.waitUntil(session_ended, timeout=10_000)


def test_unreachable_backend_is_said_in_the_dialog(
    qtbot: Any, make_app: AppFactory, relay: Any
) -> None:
    url = relay.url
    relay.stop()
    app = make_app(backend_url=url)
    app.start()
    dialog = app.shell.sign_in_dialog
    dialog.email.setText(EMAIL)
    dialog.password.setText(PASSWORD)
    dialog.sign_in_button.click()
    qtbot.waitUntil(lambda: not dialog.error_label.isHidden(), timeout=15_000)
    assert dialog.error_label.text().startswith(f"Cannot reach the backend at {url}")
    dialog.backend.setText("ftp://nowhere")
    dialog.sign_in_button.click()
    assert "is not a web address" in dialog.error_label.text()
    relay.start()


@pytest.mark.expect_log("keyring write failed: NoKeyringError")
def test_without_a_keyring_it_works_and_says_so(
    qtbot: Any, make_app: AppFactory, relay: Any, desktop: Desktop
) -> None:
    app = start_signed_in(qtbot, make_app, relay, keyring=TokenKeyring(FailKeyring()))
    assert ("warning", "Cannot remember your sign-in") in [
        (k, title) for k, title, _ in desktop.notifier.shown
    ]
    assert "unavailable" in app.controller.keyring_note
    qtbot.waitUntil(lambda: app.controller.model.online, timeout=10_000)


def test_menu_actions_change_the_state_without_notifications(
    qtbot: Any, make_app: AppFactory, relay: Any, desktop: Desktop
) -> None:
    app = start_signed_in(qtbot, make_app, relay)
    menu = app.menu

    def click(action_id: str) -> None:
        menu.rebuild()
        action = menu.action(action_id)
        assert action is not None, action_id
        assert action.isEnabled(), action_id
        action.trigger()

    def reason() -> str | None:
        document = app.controller.model.document
        return document.reason if document else None

    click("availability.unavailable")
    qtbot.waitUntil(lambda: app.controller.model.document.preferred == "unavailable")  # type: ignore[union-attr]
    click("override.pause_30")
    qtbot.waitUntil(lambda: reason() == "override")
    menu.rebuild()
    assert menu.action("override.clear").isEnabled()  # type: ignore[union-attr]
    assert not menu.action("override.meeting").isEnabled()  # type: ignore[union-attr]
    click("override.clear")
    qtbot.waitUntil(lambda: reason() == "preferred")
    click("ringer")
    qtbot.waitUntil(lambda: reason() == "ringer_off")
    assert kind(app) == "ringer_off"
    click("ringer")
    qtbot.waitUntil(lambda: reason() == "preferred")
    click("override.manual")
    qtbot.waitUntil(lambda: reason() == "override")
    tooltip = app.controller.status().tooltip
    assert tooltip.startswith("ProfitRinger: Unavailable (override) until you resume")

    # a refused request is said in words (no meeting to override until its end)
    app.controller.take_calls_during_meeting()
    qtbot.waitUntil(lambda: any(k == "warning" for k, _, _ in desktop.notifier.shown))
    _, title, body = desktop.notifier.shown[-1]
    assert title == "Could not take calls during this meeting"
    assert "meeting" in body
    # none of the person's own actions caused a paused/resumed notification
    assert not {"paused", "resumed"} & set(desktop.notifier.kinds())


def test_offline_since_and_back_without_a_click(
    qtbot: Any, make_app: AppFactory, relay: Any
) -> None:
    app = start_signed_in(qtbot, make_app, relay)
    qtbot.waitUntil(lambda: app.controller.model.online, timeout=10_000)
    relay.stop()
    qtbot.waitUntil(lambda: kind(app) == "offline", timeout=10_000)
    status = app.controller.status()
    assert status.title.startswith("Offline since ")
    assert status.since is not None
    assert "vailable" not in status.title
    app.menu.rebuild()
    assert app.menu.action("status").text() == status.title  # type: ignore[union-attr]
    assert not app.menu.action("availability.available").isEnabled()  # type: ignore[union-attr]
    relay.start()
    qtbot.waitUntil(lambda: app.controller.model.online, timeout=10_000)
    assert kind(app) == "zoom_action"


def test_session_ended_elsewhere_asks_to_sign_in_again(
    qtbot: Any, make_app: AppFactory, relay: Any, memory_keyring: Any
) -> None:
    app = start_signed_in(qtbot, make_app, relay)
    qtbot.waitUntil(lambda: app.controller.model.online, timeout=10_000)
    token = next(iter(memory_keyring.entries.values()))
    with qtbot.waitSignal(app.controller.sign_in_required, timeout=10_000) as asked:
        httpx.delete(
            relay.url + "/api/v1/sessions/current", headers={"Authorization": f"Bearer {token}"}
        ).raise_for_status()
    assert "session has ended" in asked.args[0]
    assert kind(app) == "signed_out"
    assert memory_keyring.entries == {}
    dialog = app.shell.sign_in_dialog
    assert dialog.isVisible()
    assert dialog.email.text() == EMAIL


def test_waking_up_reconnects_at_once(qtbot: Any, make_app: AppFactory, relay: Any) -> None:
    slow = Backoff(base=60.0, cap=60.0, jitter=0.0)
    app = start_signed_in(qtbot, make_app, relay, backoff=slow)
    qtbot.waitUntil(lambda: app.controller.model.online, timeout=10_000)
    # The network's reachability is only watched once it matters: offline.
    # (Read into a name, so that mypy does not take it for False for good.)
    watched_while_online = app.wake.network_watch_started
    assert not watched_while_online
    relay.stop()
    qtbot.waitUntil(lambda: kind(app) == "offline", timeout=10_000)
    assert app.wake.network_watch_started
    relay.start()
    app.wake.simulate_wake()  # without it, the next try is a minute away
    qtbot.waitUntil(lambda: app.controller.model.online, timeout=5_000)


def test_refused_sign_in_and_no_secrets_in_the_log(
    qtbot: Any, make_app: AppFactory, relay: Any, caplog: Any, memory_keyring: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    relay.add_user(EMAIL, PASSWORD)
    app = make_app(backend_url=relay.url)
    app.start()
    dialog = app.shell.sign_in_dialog
    dialog.email.setText(EMAIL)
    for _ in range(12):
        dialog.password.setText("wrong password")
        dialog.error_label.hide()
        dialog.sign_in_button.click()
        qtbot.waitUntil(lambda: not dialog.error_label.isHidden(), timeout=10_000)
        if "Too many" in dialog.error_label.text():
            break
    assert dialog.error_label.text() == (
        "Too many failed sign-ins. Wait a few minutes, then try again."
    )
    # The throttle is in the relay's store: a restart does not lift it, a new
    # password set by the operator does.
    relay.stop()
    relay.start()
    dialog.password.setText(PASSWORD)
    dialog.error_label.hide()
    dialog.sign_in_button.click()
    qtbot.waitUntil(lambda: not dialog.error_label.isHidden(), timeout=10_000)
    assert "Too many" in dialog.error_label.text()
    relay.set_password(EMAIL, NEW_PASSWORD)
    sign_in_through_dialog(qtbot, app, EMAIL, NEW_PASSWORD)
    qtbot.waitUntil(lambda: app.controller.model.online, timeout=10_000)
    token = next(iter(memory_keyring.entries.values()))
    assert token not in caplog.text
    assert PASSWORD not in caplog.text
    assert NEW_PASSWORD not in caplog.text
