"""A lighter start under PySide6: its import hook reads no source files.

Once PySide6 is imported, every later import runs PySide6's
``shibokensupport.feature.feature_imported`` (PYSIDE-2029), which asks
whether the new module's source mentions ``PySide6`` (so that
``from __feature__ import snake_case`` can apply to it) by calling
``inspect.getsource(module)``. That tokenises the whole file into
``linecache``, which keeps every line of every module imported after Qt for
the life of the process: about 9 MiB and a tenth of a second of the tray's
start (napari/napari#8584 describes the same). :func:`read_sources_lightly`
answers the same question by searching the file's bytes, and keeps nothing.
A frozen build has no source files, so there the hook is already cheap.
"""

from __future__ import annotations

import linecache
import sys
from collections.abc import Callable
from types import ModuleType

MARK = "_profitringer_light"


def read_sources_lightly() -> bool:
    """Replace PySide6's source check with a byte search of the same file.

    Returns True when installed (or already), False when this PySide6 has no
    such hook (then there is nothing to do). Call it right after the first
    PySide6 import, before the app's own imports.
    """
    feature = sys.modules.get("shibokensupport.feature")
    original: Callable[[ModuleType], bool] | None = getattr(feature, "_mod_uses_pyside", None)
    if feature is None or original is None or not callable(original):
        return False
    if getattr(original, MARK, False):
        return True

    def mod_uses_pyside(module: ModuleType) -> bool:
        path = getattr(module, "__file__", None)
        if not isinstance(path, str) or not path.endswith(".py"):
            return original(module)
        try:
            with open(path, "rb") as source:
                return b"PySide6" in source.read()
        except OSError:
            return original(module)

    setattr(mod_uses_pyside, MARK, True)
    feature._mod_uses_pyside = mod_uses_pyside  # type: ignore[attr-defined]
    # The sources read for the modules imported before this point; a
    # traceback reads whatever it needs again.
    linecache.clearcache()
    return True
