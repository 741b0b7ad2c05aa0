"""Account linking (issue 12): a Zoom connect is bound to the browser that
opened the relay's start page, names the accounts, follows the operator's link
policy, and its pending states are bounded and purged.

A real relay (uvicorn on 127.0.0.1, SQLite on disk) and the real local Zoom;
each "browser" is its own httpx client with its own cookie jar. The local Zoom
approves at once (as Zoom does for a user who approved the app before, so a
forwarded link needs no click at Zoom) and picks the consenting user from
``login_hint``.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from desktop.core.wire import iso, now_utc
from desktop.relay.config import RelaySettings
from desktop.relay.storage import DB_FILENAME
from desktop.relay.zoom.start_page import COOKIE_NAME, START_PATH, continue_link
from desktop.zoomsim.server import RunningZoomSim, run_in_thread
from tests.support.relay import RunningRelay, start_relay
from tests.support.waiting import wait_until
from tests.support.zoom import PASSWORD, sim_config, state_of, zoom_link, zoom_settings

VICTIM_ZOOM = "victim@zoom.example"


@pytest.fixture
def sim() -> Iterator[RunningZoomSim]:
    with run_in_thread(sim_config()) as running:
        running.sim.add_user(VICTIM_ZOOM)
        yield running


@pytest.fixture
def relay(tmp_path: Path, sim: RunningZoomSim) -> Iterator[RunningRelay]:
    with start_relay(tmp_path / "relay", **zoom_settings(sim)) as running:
        yield running  # no webhooks: nothing here needs presence


def person(relay: RunningRelay, email: str) -> str:
    relay.add_user(email, PASSWORD)
    return relay.sign_in(email, PASSWORD)


def connect_link(relay: RunningRelay, token: str) -> str:
    response = httpx.post(
        relay.url + "/api/v1/integrations/zoom/connect",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    link: str = response.json()["authorize_url"]
    return link


def title(page: httpx.Response) -> str:
    found = re.search(r"<h1>(.*?)</h1>", page.text)
    assert found is not None, page.text
    return found.group(1)


def cookie_attributes(response: httpx.Response) -> dict[str, str]:
    """The binding cookie's Set-Cookie attributes, lower-cased names."""
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith(COOKIE_NAME)]
    assert len(headers) == 1, response.headers
    name_value, *attributes = (part.strip() for part in headers[0].split(";"))
    parsed = {"value": name_value.split("=", 1)[1]}
    for attribute in attributes:
        key, _, value = attribute.partition("=")
        parsed[key.lower()] = value
    return parsed


def database(relay: RunningRelay) -> sqlite3.Connection:
    return sqlite3.connect(relay.settings.data_dir / DB_FILENAME, isolation_level=None)


def pending(relay: RunningRelay) -> tuple[int, int]:
    """How many OAuth states and start pages the relay holds."""
    with database(relay) as db:
        states = db.execute("SELECT COUNT(*) FROM oauth_states").fetchone()[0]
        starts = db.execute("SELECT COUNT(*) FROM oauth_starts").fetchone()[0]
    return states, starts


def no_zoom_link_anywhere(relay: RunningRelay, sim: RunningZoomSim) -> bool:
    with database(relay) as db:
        linked = db.execute("SELECT COUNT(*) FROM zoom_connections").fetchone()[0]
    return linked == 0 and sim.sim.issued_tokens()["access_tokens"] == []


# -- the start page ---------------------------------------------------------------------------


def test_the_connect_link_is_a_start_page_that_names_the_account_and_binds_the_browser(
    relay: RunningRelay, sim: RunningZoomSim
) -> None:
    token = person(relay, "ada@example.com")
    link = connect_link(relay, token)
    assert link.startswith(relay.url + START_PATH + "?ticket=")
    with httpx.Client(timeout=15) as browser:
        page = browser.get(link)
        assert page.status_code == 200
        assert "ProfitRinger account <b>ada@example.com</b>" in page.text
        assert "someone may have sent you their link" in page.text
        # A plain link the person clicks, never a redirect that carries them on.
        assert "location" not in page.headers
        assert "refresh" not in page.text.lower()
        assert "<script" not in page.text.lower()
        zoom_url = continue_link(page.text)
        assert zoom_url is not None
        assert zoom_url.startswith(sim.url + "/oauth/authorize?")
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["referrer-policy"] == "no-referrer"

        cookie = cookie_attributes(page)
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", cookie["value"])
        assert "httponly" in cookie
        assert cookie["samesite"].lower() == "lax"  # sent with Zoom's redirect back
        assert 0 < int(cookie["max-age"]) <= 600
        assert cookie["path"] == "/oauth/zoom"
        assert "secure" not in cookie  # plain http on loopback

        # A reload in the same browser shows the page again.
        assert browser.get(link).status_code == 200
        done = browser.get(zoom_url, follow_redirects=True)
    assert done.status_code == 200, done.text
    assert "Zoom demo@zoom.example is now connected to ProfitRinger ada@example.com" in done.text
    assert state_of(relay.url, token)["zoom"]["state"] == "connected"


def test_behind_https_the_binding_cookie_is_secure_and_under_the_public_path(
    tmp_path: Path, sim: RunningZoomSim
) -> None:
    public = "https://relay.example/ringer"  # a proxy that strips /ringer
    with start_relay(tmp_path / "relay", **zoom_settings(sim, public_url=public)) as relay:
        token = person(relay, "ada@example.com")
        link = connect_link(relay, token)
        assert link.startswith(public + START_PATH + "?ticket=")
        page = httpx.get(relay.url + link.removeprefix(public))
        assert page.status_code == 200
        cookie = cookie_attributes(page)
        assert "secure" in cookie
        assert cookie["path"] == "/ringer/oauth/zoom"


def test_two_pending_connects_in_one_browser_both_stay_usable(
    relay: RunningRelay, sim: RunningZoomSim
) -> None:
    token = person(relay, "ada@example.com")
    first, second = connect_link(relay, token), connect_link(relay, token)
    with httpx.Client(timeout=15) as browser:
        first_zoom = zoom_link(browser, first)
        zoom_link(browser, second)  # another tab: must not break the first
        assert browser.get(first_zoom, follow_redirects=True).status_code == 200
    assert state_of(relay.url, token)["zoom"]["state"] == "connected"


# -- the forwarded-link attack ----------------------------------------------------------------


def test_a_forwarded_start_link_already_opened_cannot_be_used_in_another_browser(
    relay: RunningRelay, sim: RunningZoomSim
) -> None:
    mallory = person(relay, "mallory@example.com")
    link = connect_link(relay, mallory)
    with httpx.Client(timeout=15) as mallorys_browser, httpx.Client(timeout=15) as victims:
        zoom_link(mallorys_browser, link)
        opened = victims.get(link)
    assert opened.status_code == 403
    assert title(opened) == "This Zoom connect link was opened in another browser"
    assert "do not use it" in opened.text
    assert continue_link(opened.text) is None
    assert COOKIE_NAME not in opened.headers.get("set-cookie", "")
    assert state_of(relay.url, mallory)["zoom"]["state"] == "disconnected"
    assert no_zoom_link_anywhere(relay, sim)


def test_a_forwarded_zoom_link_cannot_complete_in_another_browser(
    relay: RunningRelay, sim: RunningZoomSim
) -> None:
    """Mallory opens her own start page, copies the Zoom link behind "Continue"
    and sends it; the victim, signed in at Zoom, approves (at once)."""
    mallory = person(relay, "mallory@example.com")
    with httpx.Client(timeout=15) as mallorys_browser:
        zoom_url = zoom_link(mallorys_browser, connect_link(relay, mallory), VICTIM_ZOOM)
        with httpx.Client(timeout=15) as victims:
            refused = victims.get(zoom_url, follow_redirects=True)
        assert refused.status_code == 403
        assert str(refused.url).startswith(relay.url + "/oauth/zoom/callback")
        assert title(refused) == "This Zoom sign-in was not started in this browser"
        assert "would connect your Zoom to their ProfitRinger account" in refused.text
        assert state_of(relay.url, mallory)["zoom"]["state"] == "disconnected"
        assert no_zoom_link_anywhere(relay, sim)  # the victim's code was never exchanged
        # The state was used up by that attempt: nothing of it is left to use.
        assert pending(relay) == (0, 0)
        assert mallorys_browser.get(zoom_url, follow_redirects=True).status_code == 400


def test_a_made_up_binding_cookie_does_not_pass(relay: RunningRelay, sim: RunningZoomSim) -> None:
    mallory = person(relay, "mallory@example.com")
    with httpx.Client(timeout=15) as mallorys_browser:
        zoom_url = zoom_link(mallorys_browser, connect_link(relay, mallory), VICTIM_ZOOM)
    with httpx.Client(timeout=15) as victims:
        victims.cookies.set(COOKIE_NAME, "A" * 43, domain="127.0.0.1", path="/oauth/zoom")
        refused = victims.get(zoom_url, follow_redirects=True)
    assert refused.status_code == 403
    assert no_zoom_link_anywhere(relay, sim)


# -- the link policy -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "zoom_email", "linked"),
    [
        ("any", VICTIM_ZOOM, True),
        ("email", "ADA@Example.com", True),
        ("email", "ada@example.org", False),
        ("email", VICTIM_ZOOM, False),
        ("domain", "ann@EXAMPLE.com", True),
        ("domain", "ada@sub.example.com", False),
        ("domain", "ada@notexample.com", False),
    ],
)
def test_the_link_policy_decides_which_zoom_user_may_link(
    tmp_path: Path, sim: RunningZoomSim, policy: str, zoom_email: str, linked: bool
) -> None:
    if zoom_email != VICTIM_ZOOM:
        sim.sim.add_user(zoom_email)
    with start_relay(tmp_path / "relay", **zoom_settings(sim, zoom_link_policy=policy)) as relay:
        token = person(relay, "ada@example.com")
        before = state_of(relay.url, token)
        with httpx.Client(timeout=15) as browser:
            start = browser.get(connect_link(relay, token))
            assert ("only connects a Zoom account" in start.text) == (policy != "any")
            zoom_url = continue_link(start.text)
            assert zoom_url is not None
            page = browser.get(zoom_url + "&login_hint=" + zoom_email, follow_redirects=True)
        if linked:
            assert page.status_code == 200, page.text
            assert state_of(relay.url, token)["zoom"]["email"] == zoom_email
            return
        assert page.status_code == 403
        assert title(page) == "This Zoom account cannot be connected here"
        assert f"You signed in to Zoom as {zoom_email}" in page.text
        assert "Nothing was changed" in page.text
        assert state_of(relay.url, token) == before


def test_a_refused_reconnect_keeps_the_working_connection(
    tmp_path: Path, sim: RunningZoomSim
) -> None:
    sim.sim.add_user("ada@example.com")
    with start_relay(tmp_path / "relay", **zoom_settings(sim, zoom_link_policy="email")) as relay:
        token = person(relay, "ada@example.com")
        with httpx.Client(timeout=15) as browser:
            url = zoom_link(browser, connect_link(relay, token), "ada@example.com")
            assert browser.get(url, follow_redirects=True).status_code == 200
            with database(relay) as db:
                tokens_before = db.execute("SELECT * FROM zoom_connections").fetchall()
            before = state_of(relay.url, token)
            url = zoom_link(browser, connect_link(relay, token), VICTIM_ZOOM)
            assert browser.get(url, follow_redirects=True).status_code == 403
        with database(relay) as db:
            assert db.execute("SELECT * FROM zoom_connections").fetchall() == tokens_before
        assert state_of(relay.url, token) == before
        meeting = httpx.post(
            relay.url + "/api/v1/meetings",
            headers={"Authorization": f"Bearer {token}"},
            json={"topic": "still connected"},
        )
        assert meeting.status_code == 201, meeting.text


def test_an_unknown_link_policy_is_refused_at_start() -> None:
    assert RelaySettings.from_env({}).zoom_link_policy == "any"
    assert RelaySettings.from_env({"PROFITRINGER_ZOOM_LINK_POLICY": "Domain"}).zoom_link_policy == (
        "domain"
    )
    with pytest.raises(ValueError, match="must be one of any, email, domain"):
        RelaySettings.from_env({"PROFITRINGER_ZOOM_LINK_POLICY": "same"})
    with pytest.raises(ValueError, match="ZOOM_PENDING_CONNECTS"):
        RelaySettings.from_env({"PROFITRINGER_ZOOM_PENDING_CONNECTS": "0"})


# -- bound and purge ------------------------------------------------------------------------------


def test_pending_connects_per_account_are_bounded_oldest_dropped(
    tmp_path: Path, sim: RunningZoomSim
) -> None:
    with start_relay(tmp_path / "relay", **zoom_settings(sim, zoom_pending_connects=3)) as relay:
        ada = person(relay, "ada@example.com")
        bob = person(relay, "bob@example.com")
        bobs = connect_link(relay, bob)
        links = [connect_link(relay, ada) for _ in range(5)]
        assert pending(relay) == (4, 4)  # ada's newest 3, bob's 1
        with httpx.Client(timeout=15) as browser:
            for dropped in links[:2]:
                page = browser.get(dropped)
                assert page.status_code == 400
                assert "expired or was already used" in title(page)
            for kept in [*links[2:], bobs]:
                assert browser.get(kept).status_code == 200


def test_expired_pending_connects_are_purged_when_they_run_out(
    relay: RunningRelay, sim: RunningZoomSim
) -> None:
    ada = person(relay, "ada@example.com")
    bob = person(relay, "bob@example.com")
    connect_link(relay, ada)
    # Ada's link is made to run out a moment from now (as ten minutes would);
    # Bob's connect makes the purge look again, and it plans for Ada's.
    with database(relay) as db:
        soon = iso(now_utc() + timedelta(seconds=3))  # stored to the second
        db.execute("UPDATE oauth_states SET expires_at = ?", (soon,))
    connect_link(relay, bob)
    assert pending(relay) == (2, 2)
    wait_until(lambda: pending(relay) == (1, 1), what="Ada's expired link purged")
    with database(relay) as db:
        owners = db.execute(
            "SELECT a.email FROM oauth_states JOIN accounts a ON a.id = account_id"
        ).fetchall()
    assert owners == [("bob@example.com",)]


def test_links_that_expired_while_the_relay_was_down_are_purged_at_start(
    relay: RunningRelay, sim: RunningZoomSim
) -> None:
    ada = person(relay, "ada@example.com")
    connect_link(relay, ada)
    relay.stop()
    with database(relay) as db:
        db.execute(
            "UPDATE oauth_states SET expires_at = ?", (iso(now_utc() - timedelta(seconds=1)),)
        )
    relay.start()
    wait_until(lambda: pending(relay) == (0, 0), what="the expired link purged at start")
