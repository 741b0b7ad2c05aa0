"""Where the tray keeps its settings and log, with overrides.

The platform's folders come from platformdirs (``desktop/dirs.py``).
``PROFITRINGER_CONFIG_DIR`` and ``PROFITRINGER_LOG_DIR`` override them, so
tests and portable setups never touch the person's home.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from desktop import dirs


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if override := env.get("PROFITRINGER_CONFIG_DIR"):
        return Path(override)
    return dirs.user_config_dir()


def log_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if override := env.get("PROFITRINGER_LOG_DIR"):
        return Path(override)
    return dirs.user_log_dir()
