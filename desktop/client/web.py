"""Open the person's web page signed in, from a client that already is.

The relay hands out a one-time sign-in link (``POST /api/v1/web/sign-in-link``);
the browser that opens it asks "Sign in as … in this browser?" and then has its
own session (an HttpOnly cookie). The session token never goes into a URL.
"""

from __future__ import annotations

import webbrowser

import httpx

from desktop.client.api import RelayError, normalize_backend_url


def sign_in_link(base_url: str, token: str, timeout: float = 10.0) -> str:
    """A one-time link (about two minutes) to the web page, signed in as the token's account."""
    url = normalize_backend_url(base_url) + "/api/v1/web/sign-in-link"
    try:
        response = httpx.post(url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)
    except httpx.HTTPError as exc:
        raise RelayError("unreachable", f"Cannot reach the backend at {base_url}.") from exc
    link = response.json().get("url") if response.status_code == 201 else None
    if not isinstance(link, str) or not link.startswith(("http://", "https://")):
        raise RelayError(
            "bad_response", f"The backend gave no web sign-in link (HTTP {response.status_code})."
        )
    return link


def open_web_page(base_url: str, token: str, has_display: bool) -> str:
    """Open the page in the person's browser when there is a display; returns
    a sentence saying what was done (the link, when nothing could be opened)."""
    link = sign_in_link(base_url, token)
    if has_display and webbrowser.open(link):
        return f"opened your web page in the browser ({base_url}/)"
    return f"your web page: open {link} within two minutes to sign in there"
