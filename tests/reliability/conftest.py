"""The tray fixtures (tests/support/tray.py) for this folder's tests."""

from tests.support.tray import desktop, make_app

__all__ = ["desktop", "make_app"]
