"""The tray's menu, rebuilt from the current state each time it opens.

Rebuilding on ``aboutToShow`` (vorta's pattern) keeps the menu true without
any timer: the status line's "since" times are computed when the person looks.
The same menu serves the tray icon and the status window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QWidget

from desktop.app.controller import TrayController
from desktop.client.presentation import MenuEntry, MenuState, menu_entries


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

    def _slots(self) -> dict[str, Callable[[], None]]:
        """What each entry id does; the entries themselves come from
        :func:`desktop.client.presentation.menu_entries`."""
        controller, shell = self._controller, self._shell
        document = controller.document
        zoom_email = document.zoom_email if document else None
        ringer_on = bool(document and document.ringer_on)
        auto_pause = bool(document and document.auto_pause)

        def disconnect() -> None:
            if shell.confirm_disconnect_zoom(zoom_email):
                controller.disconnect_zoom()

        return {
            "sign_in": lambda: shell.show_sign_in(""),
            "settings": shell.show_settings,
            "diagnostics": shell.copy_diagnostics,
            "quit": shell.quit,
            "availability.available": lambda: controller.set_preferred("available"),
            "availability.unavailable": lambda: controller.set_preferred("unavailable"),
            "override.meeting": controller.take_calls_during_meeting,
            "override.pause_30": lambda: controller.pause_for(30),
            "override.pause_60": lambda: controller.pause_for(60),
            "override.manual": controller.pause_until_resumed,
            "override.clear": controller.clear_override,
            "ringer": lambda: controller.set_ringer(not ringer_on),
            "auto_pause": lambda: controller.set_auto_pause(not auto_pause),
            "zoom.reconnect": controller.connect_zoom,
            "zoom.connect": controller.connect_zoom,
            "zoom.disconnect": disconnect,
            "meeting": controller.new_meeting,
            "sign_out": controller.sign_out,
        }

    def _fill(
        self, menu: QMenu, entries: Iterable[MenuEntry], slots: dict[str, Callable[[], None]]
    ) -> None:
        groups: dict[str, QActionGroup] = {}
        for entry in entries:
            if entry.separator:
                menu.addSeparator()
                continue
            if entry.children:
                submenu = menu.addMenu(entry.text)
                submenu.setObjectName(entry.id)
                submenu.setEnabled(entry.enabled)
                self._owned.append(submenu)
                self._fill(submenu, entry.children, slots)
                continue
            action = QAction(entry.text, menu)
            action.setObjectName(entry.id)
            action.setEnabled(entry.enabled)
            if entry.checked is not None:
                action.setCheckable(True)
                action.setChecked(entry.checked)
            if entry.group is not None:
                group = groups.get(entry.group)
                if group is None:
                    group = groups[entry.group] = QActionGroup(menu)
                    group.setExclusive(True)
                    self._owned.append(group)
                group.addAction(action)
            slot = slots.get(entry.id)
            if slot is not None:
                action.triggered.connect(lambda _checked=False, run=slot: run())
            menu.addAction(action)
            self._actions[entry.id] = action

    def rebuild(self) -> None:
        self.menu.clear()
        self._actions.clear()
        for owned in self._owned:
            owned.deleteLater()
        self._owned.clear()
        controller = self._controller
        state = MenuState(
            status=controller.status(),
            signed_in=controller.signed_in,
            email=controller.settings.email,
            document=controller.document,
        )
        self._fill(self.menu, menu_entries(state), self._slots())
