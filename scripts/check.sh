#!/usr/bin/env bash
# The whole check, as CI runs it: set up, lint, format check, strict types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --screen
export PATH="$PWD/.venv/bin:$PATH"

echo "== ruff"
ruff check desktop resources tests
ruff format --check desktop resources tests
echo "== mypy (strict)"
mypy
echo "== pytest"
pytest "$@"
if [[ -f scripts/screen-test.sh ]]; then
  echo "== real-screen test (Xvfb + tray host)"
  bash scripts/screen-test.sh
fi
echo "== PyInstaller bundle smoke test"
bash scripts/bundle-smoke.sh
