"""Tray icons from the SVG files in ``resources/icons``, crisp at any DPI.

Each SVG is rendered by QSvgRenderer into pixmaps of several sizes, so the
panel picks a sharp one whatever its size and scale factor. Every icon has a
white ring inside a dark one, which keeps it readable on light and dark panels,
and each state has its own shape, not only its own colour.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Final

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QIcon, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

from desktop.client.presentation import ICON_NAMES

#: Pixel sizes rendered into every icon (16 px panels up to 4x HiDPI).
ICON_SIZES: Final[tuple[int, ...]] = (16, 20, 22, 24, 32, 40, 48, 64, 96, 128, 256)


def svg_bytes(name: str) -> bytes:
    """The SVG source of icon ``name`` (``available``, ``paused``, …)."""
    return (files("resources") / "icons" / f"{name}.svg").read_bytes()


def render_pixmap(name: str, size: int) -> QPixmap:
    renderer = QSvgRenderer(QByteArray(svg_bytes(name)))
    if not renderer.isValid():
        raise ValueError(f"icon {name!r} is not a valid SVG")
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
    finally:
        painter.end()
    return pixmap


class IconSet:
    """Renders each state's icon once, on first use."""

    def __init__(self, sizes: tuple[int, ...] = ICON_SIZES) -> None:
        self._sizes = sizes
        self._icons: dict[str, QIcon] = {}

    def icon(self, name: str) -> QIcon:
        if name not in self._icons:
            icon = QIcon()
            for size in self._sizes:
                icon.addPixmap(render_pixmap(name, size))
            self._icons[name] = icon
        return self._icons[name]

    @staticmethod
    def names() -> list[str]:
        return sorted(set(ICON_NAMES.values()))
