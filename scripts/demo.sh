#!/usr/bin/env bash
# Set up (Debian packages Qt needs, .venv) and run the demo: relay, local Zoom
# and the tray together, signed in. Arguments go to `profitringer demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -n "${DISPLAY:-}" ]]; then
  bash scripts/setup.sh --screen  # Qt's X11 libraries, for a real tray icon
else
  bash scripts/setup.sh
fi
exec .venv/bin/profitringer demo "$@"
