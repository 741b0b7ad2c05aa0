#!/usr/bin/env bash
# Set up (Debian packages Qt needs, .venv) and run the demo: relay, local Zoom
# and the tray together, signed in. Arguments go to `profitringer demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/profitringer demo "$@"
