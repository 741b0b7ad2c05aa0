"""Every state has an SVG icon that renders crisply at many sizes and stays
readable on light and dark panels."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtGui import QColor

from desktop.app.icons import ICON_SIZES, IconSet, render_pixmap, svg_bytes
from desktop.client.presentation import ICON_NAMES

NAMES = sorted(set(ICON_NAMES.values()))


def test_every_state_has_its_own_icon() -> None:
    assert len(NAMES) == 8
    sources = {svg_bytes(name) for name in NAMES}
    assert len(sources) == 8


@pytest.mark.parametrize("name", NAMES)
def test_renders_at_every_size(qapp: Any, name: str) -> None:
    icon = IconSet().icon(name)
    assert not icon.isNull()
    sizes = {(size.width(), size.height()) for size in icon.availableSizes()}
    assert {(s, s) for s in ICON_SIZES} <= sizes


def _luminance(color: QColor) -> float:
    return 0.2126 * color.redF() + 0.7152 * color.greenF() + 0.0722 * color.blueF()


@pytest.mark.parametrize("name", NAMES)
def test_has_both_a_light_and_a_dark_edge(qapp: Any, name: str) -> None:
    """A dark outer ring shows on light panels, a white ring on dark ones."""
    image = render_pixmap(name, 128).toImage()
    opaque = [
        image.pixelColor(x, y)
        for x in range(0, 128, 2)
        for y in range(0, 128, 2)
        if image.pixelColor(x, y).alpha() > 200
    ]
    assert any(_luminance(c) < 0.15 for c in opaque), "no dark outline"
    assert any(_luminance(c) > 0.9 for c in opaque), "no light ring or glyph"
    # transparent corners: the icon does not paint a square on the panel
    assert image.pixelColor(1, 1).alpha() == 0


def test_unknown_icon_is_an_error(qapp: Any) -> None:
    with pytest.raises(FileNotFoundError):
        svg_bytes("no-such-icon")
