#!/usr/bin/env bash
# Benchmarks: set up (as scripts/setup.sh does), then run the suite. Arguments
# pass through to `python -m tests.bench.run`: --quick, --only NAME, --out DIR.
# Prints a table and writes bench-output/bench-<timestamp>.json and latest.json.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m tests.bench.run "$@"
