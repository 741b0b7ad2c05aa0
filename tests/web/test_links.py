"""One-time sign-in links: the tray's client (or the demo) opens the page
signed in as its own account, after the browser confirms which account."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from selenium.webdriver.common.by import By

from desktop.client.web import open_web_page, sign_in_link
from tests.support.relay import RunningRelay
from tests.web import page
from tests.web.conftest import Person


def test_a_sign_in_link_opens_the_page_signed_in_after_confirming(
    browser: Any, web_relay: RunningRelay, person: Person
) -> None:
    token = web_relay.sign_in(person.email, person.password, device="tray")
    link = sign_in_link(web_relay.url, token)
    assert link.startswith(web_relay.url + "/web/sign-in?code=")
    assert token not in link

    browser.get(link)
    page.until(browser, lambda d: d.find_elements(By.ID, "confirm-sign-in"), "the confirmation")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert f"Sign in as {person.email} in this browser?" in body
    page.shot(browser, "18-sign-in-link-confirmation")
    page.click(browser, "confirm-sign-in")
    page.until(browser, lambda d: page.visible(d, "main-view"), "the signed-in page")
    assert page.text(browser, "who") == person.email
    page.assert_clean_console(browser)

    # the code is used up by its first use
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    browser.get(link)
    assert "does not work" in browser.find_element(By.TAG_NAME, "h1").text
    page.assert_clean_console(browser, allowed=("status of 400",))


def test_a_sign_in_link_is_refused_from_another_origin_and_when_made_up(
    web_relay: RunningRelay, person: Person
) -> None:
    token = web_relay.sign_in(person.email, person.password, device="tray")
    code = parse_qs(urlsplit(sign_in_link(web_relay.url, token)).query)["code"][0]
    with httpx.Client(base_url=web_relay.url) as http:
        foreign = http.post(
            "/web/sign-in", json={"code": code}, headers={"Origin": "http://127.0.0.1:1"}
        )
        assert foreign.status_code == 403
        assert "set-cookie" not in foreign.headers
        origin = {"Origin": web_relay.url}
        made_up = http.post("/web/sign-in", json={"code": "not-a-code"}, headers=origin)
        assert made_up.status_code == 400
        assert made_up.json()["error"]["code"] == "link_used_up"
        assert "set-cookie" not in made_up.headers
        # the refused attempts did not use the code up
        assert http.post("/web/sign-in", json={"code": code}, headers=origin).status_code == 204
        # (that answer set a cookie in this client: a change without CSRF is refused)
        assert http.post("/api/v1/web/sign-in-link").status_code == 403
    assert httpx.post(web_relay.url + "/api/v1/web/sign-in-link").status_code == 401
    # without a display the link is given to the person, not opened
    said = open_web_page(web_relay.url, token, has_display=False)
    assert said.startswith(f"your web page: open {web_relay.url}/web/sign-in?code=")
