"""The relay's start page of a Zoom connect: it binds the flow to one browser
and names the account being connected (DESIGN.md "Connecting Zoom safely").

Without it, the connect link a client gets would be Zoom's authorize URL, and
anyone could ask for one for their own account and send it to someone else:
that person's approval at Zoom would link *their* Zoom to the sender's account
(the sender then sees their presence and creates meetings as them). So:

- ``POST /api/v1/integrations/zoom/connect`` answers with a link to
  ``GET /oauth/zoom/start?ticket=…`` (:meth:`ConnectStarts.link`), not to Zoom.
- The first browser that opens it gets a short-lived HttpOnly cookie whose
  hash is stored with the pending connect; the page names the ProfitRinger
  account and offers a plain link on to Zoom. Any other browser opening that
  start link is refused.
- The callback refuses a browser without the matching cookie
  (:meth:`ConnectStarts.binding_refusal`), so Zoom's authorize URL, copied out
  of the start page and forwarded, cannot complete a connect either.

Pending connects are bounded per account (``PROFITRINGER_ZOOM_PENDING_CONNECTS``;
a new one drops the oldest) and expired ones are purged by a background task
that sleeps until the next one runs out (nothing pending: it only waits).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import html
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse

from desktop.relay.config import RelaySettings
from desktop.relay.relay import Relay
from desktop.relay.zoom.connecting import STATE_LIFETIME, _state_hash
from desktop.relay.zoom.link_policy import policy_note
from desktop.relay.zoom.vault import TokenVault, VaultError

log = logging.getLogger(__name__)

START_PATH: Final = "/oauth/zoom/start"
COOKIE_NAME: Final = "profitringer_zoom_connect"
#: The start page and the callback, nothing else of the relay, see the cookie
#: (under the public URL's own path, if it has one).
COOKIE_PATH: Final = "/oauth/zoom"
#: As long as a pending connect lives: the cookie is of no use after that.
COOKIE_MAX_AGE: Final = int(STATE_LIFETIME.total_seconds())
#: What ``secrets.token_urlsafe(32)`` makes; anything else in the cookie is ignored.
_WELL_FORMED: Final = re.compile(r"[A-Za-z0-9_-]{43}")
MAX_TICKET: Final = 128
#: Seconds before a purge that failed is tried again.
PURGE_RETRY: Final = 60.0


@dataclass(frozen=True)
class Refusal:
    status: int
    title: str
    message: str


EXPIRED: Final = Refusal(
    400,
    "This Zoom connect link has expired or was already used",
    "Nothing was changed. Start again from ProfitRinger with Connect Zoom.",
)
OPENED_ELSEWHERE: Final = Refusal(
    403,
    "This Zoom connect link was opened in another browser",
    "Nothing was changed. A connect link works only in the first browser that opens it. "
    "If someone sent you this link, do not use it: it would connect your Zoom to their "
    "ProfitRinger account. To connect your own Zoom, use Connect Zoom in ProfitRinger, "
    "in the browser you want to use.",
)
NOT_BOUND: Final = Refusal(
    403,
    "This Zoom sign-in was not started in this browser",
    "Nothing was changed. Zoom can only be connected in the browser that opened the "
    "connect page from ProfitRinger. If someone sent you a Zoom link, do not use it: it "
    "would connect your Zoom to their ProfitRinger account. To connect your own Zoom, "
    "use Connect Zoom in ProfitRinger and finish in the browser it opens.",
)


@dataclass(frozen=True)
class Opened:
    """A start page that may be shown: to whom it belongs and where it leads."""

    account_email: str
    authorize_url: str
    binding: str


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _same(value: str | None, digest: str | None) -> bool:
    if not value or digest is None:
        return False
    return hmac.compare_digest(_digest(value), digest)


class ConnectStarts:
    """The start pages of pending connects: their links, bindings and purge."""

    def __init__(self, relay: Relay, vault: TokenVault | None) -> None:
        self.relay = relay
        self.settings = relay.settings
        self.vault = vault
        self._wake_event: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def _now(self) -> datetime:
        return self.relay.clock()

    def link(self, account_id: str, authorize_url: str) -> str:
        """The start page link for the pending connect behind ``authorize_url``
        (just made by ``begin_connect``); drops the account's oldest pending
        connects beyond the bound, and any expired ones."""
        assert self.vault is not None  # begin_connect refuses without Zoom configured
        state = parse_qs(urlsplit(authorize_url).query)["state"][0]
        ticket = secrets.token_urlsafe(32)
        self.relay.store.add_connect_start(
            _digest(ticket),
            _state_hash(state),
            self.vault.seal(authorize_url),
            account_id,
            self.settings.zoom_pending_connects,
            self._now(),
        )
        # Re-plan the purge on every connect: cheap, and right even if the clock moved.
        if self._wake_event is not None:
            self._wake_event.set()
        return f"{self.settings.base_url}{START_PATH}?ticket={ticket}"

    def open(self, ticket: str, cookie: str | None) -> Opened | Refusal:
        """The start page for ``ticket`` in the browser holding ``cookie``: the
        first browser to open it is bound to it; any other is refused."""
        if not ticket or self.vault is None:
            return EXPIRED
        start = self.relay.store.connect_start(_digest(ticket))
        if start is None or start.expires_at <= self._now():
            return EXPIRED
        try:
            authorize_url = self.vault.unseal(start.authorize_url)
        except VaultError as exc:
            # Only after a key rotation that retired the key it was sealed with.
            log.warning("a pending Zoom connect cannot be decrypted: %s", exc)
            return EXPIRED
        if start.binding_hash is not None:
            # Opened before: only by this browser (a reload, or Back from Zoom).
            if not _same(cookie, start.binding_hash):
                return OPENED_ELSEWHERE
            assert cookie is not None
            return Opened(start.email, authorize_url, cookie)
        # One binding per browser, shared by its pending connects: a second Connect
        # in another tab must not break the first one's callback.
        binding = cookie if cookie and _WELL_FORMED.fullmatch(cookie) else secrets.token_urlsafe(32)
        bound = self.relay.store.bind_connect_start(_digest(ticket), _digest(binding))
        return Opened(start.email, authorize_url, binding) if bound else OPENED_ELSEWHERE

    def binding_refusal(self, state: str, cookie: str | None) -> Refusal | None:
        """At the callback: a refusal unless this browser opened the start page of
        ``state``. An unknown state is left to the callback to report."""
        found = self.relay.store.connect_binding(_state_hash(state))
        if found is None or _same(cookie, found[0]):
            return None
        return NOT_BOUND

    # -- purge ----------------------------------------------------------------------------

    def purge(self) -> datetime | None:
        """Delete expired pending connects; when the next one expires (``None``: none)."""
        store = self.relay.store
        gone = store.purge_oauth_states(self._now())
        if gone:
            log.info("purged %d expired Zoom connect link(s)", gone)
        return store.next_oauth_expiry()

    async def start(self) -> None:
        self._wake_event = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._purge_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _purge_forever(self) -> None:
        assert self._wake_event is not None
        while True:
            self._wake_event.clear()
            timeout: float | None = None
            try:
                next_at = self.purge()
            except Exception as exc:  # the purge must outlive a busy or failing database
                log.warning("purging expired Zoom connect links failed: %s", exc)
                timeout = PURGE_RETRY
            else:
                if next_at is not None:
                    timeout = max(0.0, (next_at - self._now()).total_seconds())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_event.wait(), timeout)


# -- pages ------------------------------------------------------------------------------------

_PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:34em;margin:4em auto;padding:0 1em}}
a.go{{display:inline-block;padding:.6em 1.2em;background:#0b5cff;color:#fff;border-radius:.4em;
text-decoration:none}}</style></head><body><h1>{title}</h1>{body}</body></html>
"""

#: No cache keeps the ticket; no referrer carries it to Zoom; no frame hides the page.
_HEADERS: Final = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def _html(status: int, title: str, paragraphs: list[str], link: str = "") -> HTMLResponse:
    body = "".join(f"<p>{p}</p>" for p in paragraphs) + link
    return HTMLResponse(
        _PAGE.format(title=html.escape(title), body=body), status_code=status, headers=_HEADERS
    )


def refusal_page(refusal: Refusal) -> HTMLResponse:
    return _html(refusal.status, refusal.title, [html.escape(refusal.message)])


def start_page(opened: Opened, settings: RelaySettings) -> HTMLResponse:
    """The page that names the account, binds the browser and leads on to Zoom.

    It continues with a plain link the person clicks, not a redirect: a
    redirect would carry someone who opened a forwarded link straight to Zoom,
    which asks nothing of a user who has approved this app before, so their
    Zoom would be linked to the sender's account without them ever seeing
    whose account it is. The click comes after the page has said so.
    """
    email = html.escape(opened.account_email)
    paragraphs = [
        f"You are connecting a Zoom account to the ProfitRinger account <b>{email}</b>.",
        "If that is not your ProfitRinger account, close this page: someone may have sent "
        "you their link, and continuing would let them see your Zoom status and create "
        "meetings as you.",
    ]
    note = policy_note(settings.zoom_link_policy, opened.account_email)
    if note:
        paragraphs.append(html.escape(note))
    minutes = COOKIE_MAX_AGE // 60
    paragraphs.append(f"This page works only in this browser, for {minutes} minutes.")
    link = (
        f'<p><a class="go" id="continue" rel="noreferrer" '
        f'href="{html.escape(opened.authorize_url)}">Continue to Zoom</a></p>'
    )
    response = _html(200, "Connect Zoom to ProfitRinger", paragraphs, link)
    public = urlsplit(settings.base_url)
    response.set_cookie(
        COOKIE_NAME,
        opened.binding,
        max_age=COOKIE_MAX_AGE,
        path=public.path.rstrip("/") + COOKIE_PATH,
        secure=public.scheme == "https",
        httponly=True,
        # Lax, not Strict: the callback is a top-level redirect from Zoom (another
        # site), and a Strict cookie would not be sent with it.
        samesite="lax",
    )
    return response


def continue_link(page: str) -> str | None:
    """The "Continue to Zoom" link of a start page, for programs that connect
    through the real flow (the demo, tests, benchmarks) as a browser would."""
    found = re.search(r'id="continue" rel="noreferrer" href="([^"]+)"', page)
    return html.unescape(found.group(1)) if found else None


# -- routes ------------------------------------------------------------------------------------

router = APIRouter()


def get_starts(request: Request) -> ConnectStarts:
    starts: ConnectStarts = request.app.state.zoom_starts
    return starts


@router.get(START_PATH, response_class=HTMLResponse)
async def start(request: Request) -> HTMLResponse:
    """Where a connect link leads: names the account, binds this browser, links to Zoom."""
    starts = get_starts(request)
    if starts.vault is None:
        return refusal_page(
            Refusal(503, "Zoom is not configured", "The relay's operator must set up Zoom first.")
        )
    ticket = request.query_params.get("ticket", "")[:MAX_TICKET]
    opened = starts.open(ticket, request.cookies.get(COOKIE_NAME))
    if isinstance(opened, Refusal):
        return refusal_page(opened)
    return start_page(opened, starts.settings)


def install(app: FastAPI, relay: Relay, vault: TokenVault | None) -> ConnectStarts:
    """Add the start page and the purge to ``app`` (called by routes.install)."""
    starts = ConnectStarts(relay, vault)
    app.state.zoom_starts = starts
    app.include_router(router)

    async def begin(_: Relay) -> None:
        await starts.start()

    async def end(_: Relay) -> None:
        await starts.stop()

    app.state.start_hooks.append(begin)
    app.state.stop_hooks.append(end)
    return starts
