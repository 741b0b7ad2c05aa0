"""The page's defences (issue 14, "How it is built"): its CSP, the cookie's
flags, CSRF on every change, and a live socket that takes the cookie only from
the page's own origin. The browser tests use the real headless chromium; the
header and CSRF checks use httpx with the cookie the browser was given."""

from __future__ import annotations

import contextlib
import http.server
import re
import threading
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from desktop.serving import free_port
from tests.support.browser import console_errors
from tests.support.relay import RunningRelay, start_relay
from tests.web import page
from tests.web.conftest import Person

#: What the page script reports after trying the live socket: the first
#: message's type, or the close code.
PROBE = """
const [url, done] = arguments;
const socket = new WebSocket(url);
socket.onmessage = (event) => { done("message " + JSON.parse(event.data).type); socket.close(); };
socket.onclose = (event) => done("closed " + event.code);
"""


@contextlib.contextmanager
def other_origin_site(root: Path) -> Iterator[str]:
    """A plain web server on another port of 127.0.0.1: another origin, but the
    same site, so SameSite=Lax alone would still send the relay's cookie."""
    (root / "index.html").write_text("<!doctype html><title>elsewhere</title><p>elsewhere</p>")
    port = free_port()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def cookie_of(browser: Any) -> str:
    cookie = next(c for c in browser.get_cookies() if c["name"] == "profitringer_session")
    value: str = cookie["value"]
    return value


def test_the_page_has_a_strict_csp_and_no_inline_script(web_relay: RunningRelay) -> None:
    for path in ("/", "/static/app.js", "/static/style.css", "/static/icons/paused.svg"):
        response = httpx.get(web_relay.url + path)
        assert response.status_code == 200, path
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp
        assert "script-src 'self';" in csp
        assert "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert "unsafe-eval" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
    static = resources.files("desktop.relay.web").joinpath("static")
    html = static.joinpath("index.html").read_text()
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts == ['<script type="module" src="/static/app.js">']
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers
    for name in ("index.html", "app.js", "live.js", "link.js", "status.js", "style.css"):
        text = static.joinpath(name).read_text()
        assert not re.search(r"https?://", text), f"{name} names an outside address"
    assert httpx.get(web_relay.url + "/static/../web/__init__.py").status_code == 404
    assert httpx.get(web_relay.url + "/static/icons/nope.svg").status_code == 404


def test_the_page_runs_under_its_csp_without_console_errors(
    browser: Any, web_relay: RunningRelay, person: Person
) -> None:
    page.sign_in(browser, web_relay.url, person.email, person.password)
    page.click(browser, "preferred-unavailable")
    page.wait_status(browser, "Zoom not connected")
    page.wait_text(browser, "status-detail", "Unavailable since")
    # a script the CSP must stop: an inline one injected into the page
    blocked = browser.execute_script(
        "window.__ran = false; const s = document.createElement('script');"
        "s.textContent = 'window.__ran = true'; document.body.append(s); return window.__ran;"
    )
    assert blocked is False
    errors = console_errors(browser)
    assert len(errors) == 1, errors
    assert "Content Security Policy" in errors[0]
    page.assert_clean_console(browser)


def test_a_page_of_another_origin_cannot_open_the_live_socket_with_the_cookie(
    browser: Any, web_relay: RunningRelay, person: Person, tmp_path: Path
) -> None:
    page.sign_in(browser, web_relay.url, person.email, person.password)
    live = web_relay.ws_url
    # from the page's own origin the cookie opens the socket (the control)
    assert browser.execute_async_script(PROBE, live) == "message snapshot"
    with other_origin_site(tmp_path) as elsewhere:
        browser.get(elsewhere + "/")
        assert browser.execute_async_script(PROBE, live) == "closed 4401"
    # the localhost name is another origin too
    browser.get(web_relay.url.replace("127.0.0.1", "localhost") + "/static/style.css")
    assert browser.execute_async_script(PROBE, live) == "closed 4401"


def test_a_change_without_the_csrf_token_is_refused(
    browser: Any, web_relay: RunningRelay, person: Person
) -> None:
    page.sign_in(browser, web_relay.url, person.email, person.password)
    cookie = {"Cookie": f"profitringer_session={cookie_of(browser)}"}
    origin = {"Origin": web_relay.url}
    with httpx.Client(base_url=web_relay.url) as http:
        csrf = http.get("/web/session", headers=cookie).json()["csrf_token"]
        attempts = [
            {},  # no token at all
            {"X-CSRF-Token": "0" * 64},  # a made-up one
            {"X-CSRF-Token": csrf, "Origin": "http://127.0.0.1:1"},  # right token, other origin
        ]
        for extra in attempts:
            refused = http.put("/api/v1/ringer", json={"on": False}, headers=cookie | extra)
            assert refused.status_code == 403, extra
            assert refused.json()["error"]["code"] == "csrf_failed"
            out = http.delete("/web/session", headers=cookie | extra)
            assert out.status_code == 403, extra
        state = http.get("/api/v1/state", headers=cookie).json()
        assert state["ringer_on"] is True  # nothing changed
        allowed = http.put(
            "/api/v1/ringer", json={"on": False}, headers=cookie | origin | {"X-CSRF-Token": csrf}
        )
        assert allowed.status_code == 200
        assert allowed.json()["ringer_on"] is False
        # signing in from another origin is refused too (login CSRF)
        foreign = http.post(
            "/web/session",
            json={"email": person.email, "password": person.password},
            headers={"Origin": "http://127.0.0.1:1"},
        )
        assert foreign.status_code == 403
        assert "set-cookie" not in foreign.headers


def test_the_cookie_is_secure_behind_https(tmp_path: Path) -> None:
    with start_relay(tmp_path / "relay", public_url="https://relay.example") as relay:
        person = Person(relay)
        answer = httpx.post(
            relay.url + "/web/session",
            json={"email": person.email, "password": person.password},
            headers={"Origin": "https://relay.example"},
        )
        assert answer.status_code == 201
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith("__Host-profitringer=")
        for flag in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/"):
            assert flag in cookie
        assert "csrf_token" in answer.json()
        assert "token" not in {k for k in answer.json() if k != "csrf_token"}
        csp = httpx.get(relay.url + "/").headers["content-security-policy"]
        assert "connect-src 'self' wss://relay.example;" in csp


def test_bad_input_to_the_page_endpoints_is_a_clear_4xx(
    web_relay: RunningRelay, person: Person
) -> None:
    origin = {"Origin": web_relay.url}
    bodies: list[Any] = [
        {"email": person.email, "password": "x" * 2000},
        {"email": "", "password": "x"},
        {"email": 1, "password": "x"},
        {"email": person.email},
        {"email": person.email, "password": "x", "device": "unknown field"},
        [],
        "text",
    ]
    with httpx.Client(base_url=web_relay.url, headers=origin) as http:
        for body in bodies:
            for path in ("/web/session", "/web/sign-in"):
                answer = http.post(path, json=body)
                assert 400 <= answer.status_code < 500, (path, body, answer.text)
                assert "error" in answer.json()
                assert "set-cookie" not in answer.headers
        assert http.post("/web/session", content=b"{not json").status_code == 400
        assert http.get("/web/sign-in?code=" + "x" * 5000).status_code == 400
