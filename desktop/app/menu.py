"""The tray's menu, rebuilt from the current state each time it opens.

Rebuilding on ``aboutToShow`` (vorta's pattern) keeps the menu true without
any timer: the status line's "since" times are computed when the person looks.
The same menu serves the tray icon and the status window.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QWidget

from desktop.app.controller import TrayController


class Shell(Protocol):
    """The windows and dialogs the menu opens (see ``desktop/app/shell.py``)."""

    def show_sign_in(self, reason: str = "") -> None: ...

    def show_settings(self) -> None: ...

    def confirm_disconnect_zoom(self, zoom_email: str | None) -> bool: ...

    def copy_diagnostics(self) -> None: ...

    def quit(self) -> None: ...


def disconnect_text(zoom_email: str | None) -> str:
    """What "Disconnect Zoom…" deletes, for the confirmation dialog."""
    who = f" ({zoom_email})" if zoom_email else ""
    return (
        f"Disconnect your Zoom account{who}?\n\n"
        "This revokes ProfitRinger's access at Zoom and deletes the Zoom access "
        "tokens the backend keeps for you. Meetings will no longer pause your ringer "
        "until you connect Zoom again. Your ProfitRinger account, availability and "
        "settings stay as they are."
    )


class TrayMenu:
    """Owns one QMenu and refills it from the controller whenever it opens.

    ``action(id)`` finds an entry by a stable id (``"availability.available"``,
    ``"override.pause_30"``, ``"zoom.connect"``, …) for tests and automation.
    """

    def __init__(
        self, controller: TrayController, shell: Shell, parent: QWidget | None = None
    ) -> None:
        self.menu = QMenu(parent)
        self._controller = controller
        self._shell = shell
        self._actions: dict[str, QAction] = {}
        # Submenus and action groups made by the last rebuild; QMenu.clear()
        # does not delete them, so rebuild does.
        self._owned: list[QObject] = []
        self.menu.aboutToShow.connect(self.rebuild)
        self.rebuild()

    def action(self, action_id: str) -> QAction | None:
        return self._actions.get(action_id)

    def action_ids(self) -> list[str]:
        return list(self._actions)

    def _add(
        self,
        menu: QMenu,
        action_id: str,
        text: str,
        slot: Callable[[], None] | None = None,
        *,
        enabled: bool = True,
        checked: bool | None = None,
        group: QActionGroup | None = None,
    ) -> QAction:
        action = QAction(text, menu)
        action.setObjectName(action_id)
        action.setEnabled(enabled)
        if checked is not None:
            action.setCheckable(True)
            action.setChecked(checked)
        if group is not None:
            group.addAction(action)
        if slot is not None:
            action.triggered.connect(lambda _checked=False, run=slot: run())
        menu.addAction(action)
        self._actions[action_id] = action
        return action

    def rebuild(self) -> None:
        menu, controller, shell = self.menu, self._controller, self._shell
        menu.clear()
        self._actions.clear()
        for owned in self._owned:
            owned.deleteLater()
        self._owned.clear()
        status = controller.status()
        self._add(menu, "status", status.title, enabled=False)
        if status.zoom_problem is not None:
            self._add(menu, "zoom_status", status.zoom_problem, enabled=False)
        menu.addSeparator()
        if not controller.signed_in:
            self._add(menu, "sign_in", "Sign in…", lambda: shell.show_sign_in(""))
            menu.addSeparator()
            self._add(menu, "settings", "Settings…", shell.show_settings)
            self._add(menu, "diagnostics", "Copy diagnostics", shell.copy_diagnostics)
            self._add(menu, "quit", "Quit", shell.quit)
            return
        document = controller.document
        live = document is not None

        group = QActionGroup(menu)
        group.setExclusive(True)
        self._owned.append(group)
        preferred = document.preferred if document else None
        # The choice is what the person wants outside meetings; saying so keeps
        # a checked "Available" from reading as a contradiction while a meeting
        # pauses the ringer.
        self._add(menu, "availability.heading", "When not in a meeting:", enabled=False)
        self._add(
            menu,
            "availability.available",
            "Available",
            lambda: controller.set_preferred("available"),
            enabled=live,
            checked=preferred == "available",
            group=group,
        )
        self._add(
            menu,
            "availability.unavailable",
            "Unavailable",
            lambda: controller.set_preferred("unavailable"),
            enabled=live,
            checked=preferred == "unavailable",
            group=group,
        )

        override = menu.addMenu("Override")
        override.setObjectName("override")
        self._owned.append(override)
        override.setEnabled(live)
        in_meeting = bool(document and document.in_meeting)
        self._add(
            override,
            "override.meeting",
            "Take calls during this meeting",
            controller.take_calls_during_meeting,
            enabled=live and in_meeting,
        )
        self._add(
            override, "override.pause_30", "Pause for 30 minutes", lambda: controller.pause_for(30)
        )
        self._add(
            override, "override.pause_60", "Pause for 1 hour", lambda: controller.pause_for(60)
        )
        self._add(
            override, "override.manual", "Pause until I resume", controller.pause_until_resumed
        )
        override.addSeparator()
        self._add(
            override,
            "override.clear",
            "Clear override (resume)",
            controller.clear_override,
            enabled=bool(document and document.override is not None),
        )

        ringer_on = bool(document and document.ringer_on)
        self._add(
            menu,
            "ringer",
            "Ringer on",
            lambda: controller.set_ringer(not ringer_on),
            enabled=live,
            checked=ringer_on,
        )
        auto_pause = bool(document and document.auto_pause)
        self._add(
            menu,
            "auto_pause",
            "Pause during Zoom meetings",
            lambda: controller.set_auto_pause(not auto_pause),
            enabled=live,
            checked=auto_pause,
        )
        menu.addSeparator()

        zoom_state = document.zoom_state if document else None
        if zoom_state == "expired":
            self._add(menu, "zoom.reconnect", "Reconnect Zoom…", controller.connect_zoom)
        elif zoom_state == "disconnected":
            self._add(menu, "zoom.connect", "Connect Zoom…", controller.connect_zoom)
        if zoom_state in ("connected", "expired"):
            zoom_email = document.zoom_email if document else None

            def disconnect() -> None:
                if shell.confirm_disconnect_zoom(zoom_email):
                    controller.disconnect_zoom()

            self._add(menu, "zoom.disconnect", "Disconnect Zoom…", disconnect)
        self._add(
            menu,
            "meeting",
            "New meeting link",
            controller.new_meeting,
            enabled=live and zoom_state == "connected",
        )
        menu.addSeparator()
        self._add(menu, "settings", "Settings…", shell.show_settings)
        self._add(menu, "diagnostics", "Copy diagnostics", shell.copy_diagnostics)
        self._add(menu, "sign_out", f"Sign out ({controller.settings.email})", controller.sign_out)
        self._add(menu, "quit", "Quit", shell.quit)
