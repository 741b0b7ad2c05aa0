"""The demo's "Simulate Zoom" window: four buttons that act at the local Zoom,
whose effects then flow through the relay to the tray like real Zoom events."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from desktop.demo.world import SimControl


class SimulateZoomWindow(QWidget):
    def __init__(
        self,
        control: SimControl,
        narrate: Callable[[str, str], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Simulate Zoom")
        self._control = control
        self._narrate = narrate
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Act as Zoom would, and watch the ProfitRinger tray icon follow."))
        self.buttons: dict[str, QPushButton] = {}
        actions: list[tuple[str, str, Callable[[], str]]] = [
            ("join", "Join a meeting", control.join_meeting),
            ("leave", "Leave the meeting", control.leave_meeting),
            ("remove", "Remove the app at Zoom", control.remove_app),
            ("expire", "Expire the Zoom token", control.expire_token),
        ]
        for key, label, action in actions:
            button = QPushButton(label)
            button.clicked.connect(lambda _=False, a=action, t=label: self._run(t, a))
            layout.addWidget(button)
            self.buttons[key] = button
        self.result = QLabel("")
        layout.addWidget(self.result)

    def _run(self, label: str, action: Callable[[], str]) -> None:
        outcome = action()
        self.result.setText(f"{label}: {outcome}")
        self._narrate("local Zoom", f"{label.lower()}: {outcome}")
