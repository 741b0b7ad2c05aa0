"""The person's page in headless chromium, against a real relay, the local Zoom
and the tray's client library signed in beside it (issue 14)."""

from __future__ import annotations

from typing import Any

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from desktop.zoomsim.server import RunningZoomSim
from tests.support.relay import RunningRelay
from tests.web import page
from tests.web.conftest import ZOOM_USER, Person, TrayClient


def signed_in_with_zoom(
    browser: Any, relay: RunningRelay, person: Person, tray: TrayClient | None = None
) -> None:
    """The page signed in and connected to the local Zoom; the tray signed in too."""
    page.sign_in(browser, relay.url, person.email, person.password)
    if tray is not None:
        tray.sign_in(person.email, person.password)
    page.connect_zoom(browser, relay.url, ZOOM_USER)


def test_sign_in_says_what_is_wrong_then_shows_the_status(
    browser: Any, web_relay: RunningRelay, person: Person
) -> None:
    page.open_page(browser, web_relay.url)
    page.until(browser, lambda d: page.visible(d, "signin-view"), "the sign-in form")
    page.shot(browser, "01-sign-in")
    browser.find_element(By.ID, "signin-email").send_keys(person.email)
    browser.find_element(By.ID, "signin-password").send_keys("not the password")
    page.click(browser, "signin-submit")
    assert page.wait_text(browser, "signin-error", "not right") == (
        "The email or password is not right."
    )
    page.shot(browser, "02-sign-in-error")
    page.assert_clean_console(browser, allowed=("/web/session - Failed to load resource",))

    page.sign_in(browser, web_relay.url, person.email, person.password)
    assert page.status(browser) == "Zoom not connected — connect"
    assert "Available since" in page.text(browser, "status-detail")
    assert page.text(browser, "zoom-status").startswith("Not connected")
    assert page.text(browser, "who") == person.email
    icon = browser.find_element(By.ID, "status-icon").get_attribute("src")
    assert icon.endswith("/static/icons/zoom-action.svg")  # the tray's icon for this state
    page.shot(browser, "03-signed-in-zoom-not-connected")
    page.assert_clean_console(browser)

    # the session is in an HttpOnly cookie: nothing for a script to read
    assert browser.execute_script("return document.cookie") == ""
    cookie = next(c for c in browser.get_cookies() if c["name"] == "profitringer_session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    # and a reload keeps the person signed in
    page.open_page(browser, web_relay.url)
    page.until(browser, lambda d: page.visible(d, "main-view"), "the signed-in page")


def test_a_meeting_at_zoom_pauses_the_page_and_the_tray_alike(
    browser: Any, web_relay: RunningRelay, sim: RunningZoomSim, person: Person, tray: TrayClient
) -> None:
    signed_in_with_zoom(browser, web_relay, person, tray)
    assert page.wait_status(browser, "Available since")
    assert page.text(browser, "status-detail") == f"Zoom: connected as {ZOOM_USER}."
    page.shot(browser, "04-connected-available")
    tray.wait_for(lambda t: t.latest.zoom_state == "connected")

    sim.sim.set_presence(ZOOM_USER, "In_Meeting")
    assert page.wait_status(browser, "Paused — in a Zoom meeting since")
    tray.wait_for(
        lambda t: t.latest.reason == "in_meeting" and t.latest.availability != "available"
    )
    icon = browser.find_element(By.ID, "status-icon").get_attribute("src")
    assert icon.endswith("/static/icons/paused.svg")
    assert "In a meeting now." in page.text(browser, "zoom-status")
    page.shot(browser, "05-paused-by-meeting")

    page.click(browser, "override-meeting")
    assert page.wait_status(browser, "Available (override) until this meeting ends")
    tray.wait_for(lambda t: t.latest.reason == "override" and t.latest.availability == "available")
    page.shot(browser, "06-overridden-until-meeting-ends")

    sim.sim.set_presence(ZOOM_USER, "Available")
    assert page.wait_status(browser, "Available since")
    tray.wait_for(lambda t: t.latest.reason == "preferred" and not t.latest.in_meeting)
    page.assert_clean_console(browser)


def test_changes_on_the_page_reach_the_tray(
    browser: Any, web_relay: RunningRelay, person: Person, tray: TrayClient
) -> None:
    signed_in_with_zoom(browser, web_relay, person, tray)

    page.click(browser, "preferred-unavailable")
    assert page.wait_status(browser, "Unavailable since")
    tray.wait_for(lambda t: t.latest.preferred == "unavailable")
    page.shot(browser, "07-unavailable")

    page.click(browser, "override-30")
    assert page.wait_status(browser, "Unavailable (override) until ")
    tray.wait_for(lambda t: t.latest.override is not None and t.latest.override.until == "time")
    page.click(browser, "override-clear")
    assert page.wait_status(browser, "Unavailable since")
    tray.wait_for(lambda t: t.latest.override is None)

    page.click(browser, "auto-pause")
    tray.wait_for(lambda t: t.latest.auto_pause is False)
    page.until(browser, lambda d: not d.find_element(By.ID, "auto-pause").is_selected(), "off")

    page.click(browser, "ringer-on")
    assert page.wait_status(browser, "Ringer off since")
    tray.wait_for(lambda t: t.latest.ringer_on is False)
    page.shot(browser, "08-ringer-off")

    # and the other way: the tray's change shows on the page
    tray.run(tray.api.set_ringer(True))
    assert page.wait_status(browser, "Unavailable since")
    assert browser.find_element(By.ID, "ringer-on").is_selected()
    page.assert_clean_console(browser)


def test_disconnect_asks_first_and_says_what_is_deleted(
    browser: Any, web_relay: RunningRelay, person: Person, tray: TrayClient
) -> None:
    signed_in_with_zoom(browser, web_relay, person, tray)

    page.click(browser, "zoom-disconnect")
    page.until(browser, lambda d: page.visible(d, "disconnect-dialog"), "the confirmation")
    words = page.text(browser, "disconnect-text")
    assert ZOOM_USER in words
    assert "deletes the Zoom access tokens" in words
    assert "Your ProfitRinger account, availability and settings stay" in words
    page.shot(browser, "09-disconnect-confirmation")
    page.click(browser, "disconnect-cancel")
    page.until(browser, lambda d: not page.visible(d, "disconnect-dialog"), "no dialog")
    assert page.text(browser, "zoom-status").startswith("Connected as")

    page.click(browser, "zoom-disconnect")
    page.click(browser, "disconnect-confirm")
    page.wait_text(browser, "zoom-status", "Not connected")
    tray.wait_for(lambda t: t.latest.zoom_state == "disconnected")
    assert page.visible(browser, "zoom-connect")
    assert not page.visible(browser, "zoom-disconnect")
    page.assert_clean_console(browser)


def test_an_expired_connection_offers_reconnect(
    browser: Any, web_relay: RunningRelay, sim: RunningZoomSim, person: Person
) -> None:
    signed_in_with_zoom(browser, web_relay, person)
    assert sim.sim.invalidate_tokens(ZOOM_USER) > 0
    # the next call to Zoom finds the grant dead (ZOOM.md: invalid_grant)
    page.click(browser, "meeting-link")
    assert page.wait_status(browser, "Zoom connection expired — reconnect")
    assert page.wait_text(browser, "action-error", "connect Zoom")
    assert page.text(browser, "zoom-status").startswith("Expired since")
    assert browser.find_element(By.ID, "zoom-connect").text == "Reconnect"
    page.shot(browser, "10-zoom-expired")

    page.connect_zoom(browser, web_relay.url, ZOOM_USER)
    assert page.wait_status(browser, "Available since")
    page.assert_clean_console(browser, allowed=("/api/v1/meetings - Failed to load resource",))


def test_a_new_meeting_link_is_shown_and_copied(
    browser: Any, web_relay: RunningRelay, sim: RunningZoomSim, person: Person
) -> None:
    signed_in_with_zoom(browser, web_relay, person)
    browser.execute_cdp_cmd(
        "Browser.grantPermissions",
        {
            "origin": web_relay.url,
            "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"],
        },
    )
    page.click(browser, "meeting-link")
    page.wait_text(browser, "meeting-note", "Copied to the clipboard.")
    link = browser.find_element(By.ID, "meeting-url").get_attribute("value")
    assert link == sim.sim.meetings()[-1]["join_url"]
    copied = browser.execute_async_script(
        "const done = arguments[0]; navigator.clipboard.readText().then(done, (e) => done(null));"
    )
    assert copied == link
    page.shot(browser, "11-meeting-link-copied")
    page.assert_clean_console(browser)


def test_devices_sign_out_one_and_everywhere(
    browser: Any, web_relay: RunningRelay, person: Person, tray: TrayClient
) -> None:
    phone = web_relay.sign_in(person.email, person.password, device="ada-phone")
    tray.sign_in(person.email, person.password)
    page.sign_in(browser, web_relay.url, person.email, person.password)
    page.until(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#devices li")) == 3, "3")
    names = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#devices li")]
    assert "— this browser" in names[0]
    assert any("ada-laptop (tray)" in n for n in names)
    page.shot(browser, "12-devices")

    browser.find_element(By.CSS_SELECTOR, "button[aria-label='Sign out ada-phone']").click()
    page.until(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#devices li")) == 2, "2")
    headers = {"Authorization": f"Bearer {phone}"}
    assert httpx.get(web_relay.url + "/api/v1/state", headers=headers).status_code == 401
    assert not tray.session_gone

    page.click(browser, "sign-out-everywhere")
    page.until(browser, lambda d: page.visible(d, "everywhere-dialog"), "the confirmation")
    page.shot(browser, "13-sign-out-everywhere-confirmation")
    page.click(browser, "everywhere-confirm")
    tray.wait_for(lambda t: t.session_gone)  # the tray's socket closed with 4401
    page.until(browser, lambda d: page.visible(d, "signin-view"), "the sign-in form")
    assert page.text(browser, "signin-note") == "You are signed out."
    page.assert_clean_console(browser)


def test_a_session_ended_elsewhere_sends_the_page_back_to_sign_in(
    browser: Any, web_relay: RunningRelay, person: Person, tray: TrayClient
) -> None:
    page.sign_in(browser, web_relay.url, person.email, person.password)
    tray.sign_in(person.email, person.password)
    tray.wait_for(lambda t: bool(t.documents))
    response = httpx.delete(
        web_relay.url + "/api/v1/sessions", headers={"Authorization": f"Bearer {tray.api.token}"}
    )
    assert response.status_code == 204
    page.until(browser, lambda d: page.visible(d, "signin-view"), "the sign-in form (4401)")
    assert page.text(browser, "signin-note") == "Your session has ended; sign in again."
    page.shot(browser, "14-session-ended")
    assert not tray.session_gone
    page.assert_clean_console(browser)


def test_keyboard_labels_and_phone_width(
    browser: Any, web_relay: RunningRelay, person: Person
) -> None:
    page.open_page(browser, web_relay.url)
    page.until(browser, lambda d: page.visible(d, "signin-view"), "the sign-in form")
    # focus starts in the email field; Tab moves to the password; Enter submits
    assert browser.switch_to.active_element.get_attribute("id") == "signin-email"
    browser.switch_to.active_element.send_keys(person.email, Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("id") == "signin-password"
    browser.switch_to.active_element.send_keys(person.password, Keys.ENTER)
    page.until(browser, lambda d: page.visible(d, "main-view"), "the signed-in page")
    page.until(browser, lambda d: not page.status(d).startswith("Connecting"), "a status")

    status = browser.find_element(By.ID, "status")
    assert status.get_attribute("aria-live") == "polite"
    unlabeled = browser.execute_script(
        "return [...document.querySelectorAll('input')]"
        ".filter((i) => !i.labels || i.labels.length === 0).map((i) => i.id)"
    )
    assert unlabeled == []
    unnamed = browser.execute_script(
        "return [...document.querySelectorAll('button')]"
        ".filter((b) => !(b.getAttribute('aria-label') || b.textContent.trim())).length"
    )
    assert unnamed == 0

    browser.set_window_size(390, 844)
    try:
        page.until(
            browser,
            lambda d: d.execute_script(
                "return document.documentElement.scrollWidth <= window.innerWidth"
            ),
            "no sideways scrolling at phone width",
        )
        page.shot(browser, "15-phone-width")
    finally:
        browser.set_window_size(1100, 1500)
    page.assert_clean_console(browser)


def test_changing_the_password_on_the_page_signs_the_tray_out(
    browser: Any, web_relay: RunningRelay, person: Person, tray: TrayClient
) -> None:
    tray.sign_in(person.email, person.password)
    tray.wait_for(lambda t: bool(t.documents))
    page.sign_in(browser, web_relay.url, person.email, person.password)
    browser.find_element(By.ID, "current-password").send_keys("not the password")
    browser.find_element(By.ID, "new-password").send_keys("a brand new passphrase")
    page.click(browser, "password-submit")
    page.wait_text(browser, "password-note", "The current password is not right.")
    assert not tray.session_gone

    browser.find_element(By.ID, "current-password").clear()
    browser.find_element(By.ID, "current-password").send_keys(person.password)
    page.click(browser, "password-submit")
    page.wait_text(browser, "password-note", "Every other device was signed out.")
    tray.wait_for(lambda t: t.session_gone)  # its socket closed with 4401
    page.until(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#devices li")) == 1, "1")
    page.shot(browser, "19-password-changed")
    person.password = "a brand new passphrase"  # so the teardown can delete the account
    assert web_relay.sign_in(person.email, person.password)
    page.assert_clean_console(browser, allowed=("/api/v1/account/password - Failed to load",))
