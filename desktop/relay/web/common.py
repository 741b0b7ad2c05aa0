"""What every page of the web module shares: its headers and device names."""

from __future__ import annotations

from desktop.relay.relay import Relay
from desktop.relay.web.auth import public_origin


def content_security_policy(relay: Relay) -> str:
    origin = public_origin(relay)
    socket_origin = (
        "wss://" + origin.removeprefix("https://")
        if origin.startswith("https://")
        else "ws://" + origin.removeprefix("http://")
    )
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"connect-src 'self' {socket_origin}; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )


def page_headers(relay: Relay, cache: str = "no-cache") -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(relay),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": cache,
    }


def device_name(user_agent: str | None) -> str:
    """A short name for the devices list, from the User-Agent: "Chrome on Linux (web)"."""
    agent = user_agent or ""
    browser = next(
        (
            name
            for token, name in (
                ("Edg/", "Edge"),
                ("Firefox/", "Firefox"),
                ("Chrome/", "Chrome"),
                ("Safari/", "Safari"),
            )
            if token in agent
        ),
        "Browser",
    )
    system = next(
        (
            name
            for token, name in (
                ("Android", "Android"),
                ("iPhone", "iPhone"),
                ("iPad", "iPad"),
                ("Windows", "Windows"),
                ("Mac OS X", "macOS"),
                ("Linux", "Linux"),
            )
            if token in agent
        ),
        None,
    )
    return f"{browser} on {system} (web)" if system else f"{browser} (web)"
