"""Which Zoom user an account may be linked to: the operator's link policy
(``PROFITRINGER_ZOOM_LINK_POLICY``, DESIGN.md "Connecting Zoom safely").

- ``any`` (the default): whoever signs in at Zoom.
- ``email``: the Zoom user's email must be the ProfitRinger account's email.
- ``domain``: the Zoom user's email must be in the same domain as the account's.

The variable is read and checked in config.py (``ZOOM_LINK_POLICIES``). Emails are
compared case-insensitively. Pure functions: the callback asks
:func:`link_refusal` once it knows who signed in at Zoom, before anything of
the account is stored or replaced, so a refusal changes nothing.
"""

from __future__ import annotations


def _domain(email: str) -> str:
    _, at, domain = email.strip().rpartition("@")
    return domain.casefold() if at else ""


def policy_note(policy: str, account_email: str) -> str | None:
    """What the start page tells the person about the policy, before Zoom."""
    if policy == "email":
        return f"This relay only connects a Zoom account whose email is {account_email}."
    if policy == "domain":
        return (
            "This relay only connects a Zoom account whose email is in the domain "
            f"{_domain(account_email)}."
        )
    return None


def link_refusal(policy: str, account_email: str | None, zoom_email: str) -> tuple[str, str] | None:
    """``None`` when ``policy`` lets ``zoom_email`` link to ``account_email``;
    otherwise the refusal page's title and message (what happened, what to do).
    No account email (the account is gone): ``None``, the caller reports that."""
    if policy == "any" or account_email is None:
        return None
    if policy == "email":
        if zoom_email.strip().casefold() == account_email.strip().casefold():
            return None
        rule = f"the same email as the ProfitRinger account ({account_email})"
    else:
        domain = _domain(account_email)
        if domain and _domain(zoom_email) == domain:
            return None
        rule = f"an email in the ProfitRinger account's domain ({domain})"
    shown = zoom_email or "an account without an email"
    return (
        "This Zoom account cannot be connected here",
        f"You signed in to Zoom as {shown}, but this relay only connects a Zoom account "
        f"with {rule}. Nothing was changed. Sign in to Zoom with that account and connect "
        "again, or ask the relay's operator.",
    )
