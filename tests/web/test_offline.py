"""The page when its relay goes away: an honest "offline since …", controls
that cannot be used, then back by itself with a fresh snapshot when the relay
returns on the same address (issue 14, "Live")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from selenium.webdriver.common.by import By

from tests.support.relay import start_relay
from tests.web import page
from tests.web.conftest import Person


def test_the_relay_restarted_page_says_offline_then_comes_back(
    browser: Any, tmp_path: Path
) -> None:
    with start_relay(tmp_path / "relay") as relay:
        person = Person(relay)
        page.sign_in(browser, relay.url, person.email, person.password)
        assert page.wait_status(browser, "Zoom not connected")

        relay.stop()
        offline = page.wait_status(browser, "Offline since ")
        assert offline.endswith("— reconnecting…")
        assert page.text(browser, "status-detail") == (
            "Your ringer's state is unknown until the relay answers again."
        )
        ringer = browser.find_element(By.ID, "ringer-on")
        assert not ringer.is_enabled()
        # no stale state: the switch says "unknown", not "on"
        assert browser.execute_script("return arguments[0].indeterminate", ringer) is True
        assert not browser.find_element(By.ID, "preferred-available").is_selected()
        assert page.text(browser, "zoom-status") == "Unknown while offline."
        assert (
            browser.find_element(By.ID, "status-icon")
            .get_attribute("src")
            .endswith("/static/icons/offline.svg")
        )
        page.shot(browser, "16-offline")

        # While it was away, another client changed something: the page must
        # show the relay's state after it returns, not what it had before.
        relay.start()
        token = relay.sign_in(person.email, person.password)
        changed = httpx.put(
            relay.url + "/api/v1/ringer",
            json={"on": False},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert changed.status_code == 200
        page.wait_status(browser, "Ringer off since", wait=30)
        assert not browser.find_element(By.ID, "ringer-on").is_selected()
        assert browser.find_element(By.ID, "ringer-on").is_enabled()
        assert browser.execute_script("return arguments[0].indeterminate", ringer) is False
        page.shot(browser, "17-back-online")
        page.assert_clean_console(browser, allowed=("WebSocket connection to",))
