"""The tray app (PySide6): renders the relay's state, turns clicks into client calls.

- ``main.py``: the ``profitringer`` command; ``application.py`` builds the app.
- ``bridge.py``: the one bridge between asyncio (the client layer) and Qt.
- ``controller.py``: state and actions, shared by ``tray.py`` (QSystemTrayIcon)
  and ``status_window.py`` (where the desktop has no tray); ``menu.py`` is
  their common menu, rebuilt whenever it opens.
- ``signin.py``, ``settings.py``, ``shell.py``: dialogs; ``notifier.py``:
  showing notifications; ``icons.py``: SVG icons at any DPI.
- ``single_instance.py``, ``autostart.py``, ``wake.py``: desktop integration.

What to show and when to notify is decided in ``desktop/client`` (plain Python).
"""
