"""The ``profitringer`` command: the tray app by default, plus subcommands.

Each subcommand lives with its layer and is imported only when chosen, so
``profitringer relay`` never loads Qt and ``profitringer`` never loads the relay.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from desktop import __version__

#: subcommand -> (module with ``main(argv) -> int``, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "relay": ("desktop.relay.cli", "serve the relay, or manage its accounts and keys"),
    "zoom-sim": ("desktop.zoomsim.cli", "run the local Zoom, or drive it (presence, deauthorize)"),
    "demo": ("desktop.demo.main", "run relay, local Zoom and the tray together, signed in"),
}

TRAY_MODULE = "desktop.app.main"


def _top_parser() -> argparse.ArgumentParser:
    from desktop.app.options import add_tray_options

    parser = argparse.ArgumentParser(
        prog="profitringer",
        usage="profitringer [TRAY OPTIONS] | profitringer SUBCOMMAND ...",
        description="ProfitRinger Desktop. With no subcommand, starts the tray app.",
        epilog=(
            "subcommands:\n"
            + "\n".join(f"  {name:<10} {text}" for name, (_, text) in SUBCOMMANDS.items())
            + "\n\nRun 'profitringer SUBCOMMAND --help' for each one's options."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"profitringer {__version__}")
    add_tray_options(parser.add_argument_group("tray options"))
    return parser


def _load(module: str) -> Callable[[Sequence[str]], int]:
    entry: Callable[[Sequence[str]], int] = importlib.import_module(module).main
    return entry


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in SUBCOMMANDS:
        return _load(SUBCOMMANDS[args[0]][0])(args[1:])
    if args and args[0] in ("-h", "--help", "--version"):
        _top_parser().parse_args(args[:1])
        return 0
    return _load(TRAY_MODULE)(args)


if __name__ == "__main__":
    sys.exit(main())
