"""The tray's command-line options, Qt-free, so ``profitringer --help`` lists
them without loading Qt."""

from __future__ import annotations

import argparse
from pathlib import Path

from desktop.client.api import DEFAULT_BACKEND


def add_tray_options(parser: argparse._ActionsContainer) -> None:
    parser.add_argument(
        "--backend",
        metavar="URL",
        help=f"the ProfitRinger backend (relay) to use (default: {DEFAULT_BACKEND}, "
        "or the one you last signed in to); without a scheme, https:// is used "
        "(http:// for an address on this computer)",
    )
    parser.add_argument(
        "--config-dir",
        metavar="DIR",
        type=Path,
        help="where settings live (default: the platform's config dir, "
        "or $PROFITRINGER_CONFIG_DIR)",
    )
    parser.add_argument(
        "--log-dir",
        metavar="DIR",
        type=Path,
        help="where the log file goes (default: the platform's log dir, or $PROFITRINGER_LOG_DIR)",
    )
    parser.add_argument(
        "--quit-after-start",
        action="store_true",
        help="start, show the icon, then exit (a smoke test)",
    )
