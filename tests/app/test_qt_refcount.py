"""A guard against a Qt binding that leaks or frees references on signal emits.

PySide6-Essentials 6.12.0 dropped one reference to ``True`` on every emit, so
the tray aborted with "bool_dealloc" after about a thousand live updates
(found by the tray benchmark). pyproject.toml excludes that version; this test
fails on any binding that has the bug.
"""

from __future__ import annotations

import gc
import sys

from PySide6.QtCore import QObject, Signal
from pytestqt.qtbot import QtBot


class Emitter(QObject):
    text = Signal(str)
    anything = Signal(object)


def test_emitting_signals_keeps_true_and_false_alive(qtbot: QtBot) -> None:
    emitter = Emitter()
    received: list[object] = []
    emitter.text.connect(received.append)
    emitter.anything.connect(received.append)
    # A collection during the loop would free other objects' references to
    # True and False and move the counts for reasons of its own.
    gc.collect()
    gc.disable()
    try:
        before = (sys.getrefcount(True), sys.getrefcount(False))
        for _ in range(200):
            emitter.text.emit("update")
            emitter.anything.emit({"seq": 1})
        received.clear()
        after = (sys.getrefcount(True), sys.getrefcount(False))
    finally:
        gc.enable()
    assert after == before
