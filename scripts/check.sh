#!/usr/bin/env bash
# The whole check, as CI runs it: set up, lint, format check, strict types, tests
# with branch coverage (the floor is in pyproject.toml), the real-screen test and
# the bundle smoke test.
#
#   bash scripts/check.sh            everything (the README's test command, CI's)
#   bash scripts/check.sh --fast     lint, types and the unit tests, in under a
#                                    minute: the edit-test loop (no setup step)
#
# Arguments after the options go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

fast=0
if [[ "${1:-}" == "--fast" ]]; then
  fast=1
  shift
fi

if ((fast)); then
  [[ -x .venv/bin/python ]] || bash scripts/setup.sh
else
  bash scripts/setup.sh --screen
fi
export PATH="$PWD/.venv/bin:$PATH"

echo "== ruff"
ruff check desktop resources tests
ruff format --check desktop resources tests
echo "== mypy (strict)"
mypy

if ((fast)); then
  echo "== pytest (unit tests)"
  start=$SECONDS
  # Plain Python and single-process servers; no Qt, browsers, databases or
  # child processes. The Zoom part's suites are left to the full check.
  pytest -q tests/core tests/client tests/relay tests/test_no_network.py \
    --ignore=tests/relay/zoom --ignore=tests/relay/test_persistence.py "$@"
  echo "== fast check passed (pytest $((SECONDS - start)) s)"
  exit 0
fi

echo "== pytest (with branch coverage)"
pytest --cov --cov-report=term:skip-covered "$@"
echo "== pytest (cluster mode: the relay's API, live-socket, Zoom and reliability tests on PostgreSQL and Redis, each relay beside a sibling)"
# The reliability files here are those whose relays come from the cluster-aware
# fixtures (the others start SQLite relays of their own, or only the tray).
PROFITRINGER_TEST_CLUSTER=1 pytest -q tests/relay/test_api.py tests/relay/test_live.py \
  tests/relay/zoom/test_flow.py tests/relay/zoom/test_tokens.py tests/relay/zoom/test_webhooks.py \
  tests/reliability/test_account_linking.py tests/reliability/test_hostile_clients.py \
  tests/reliability/test_input_output.py tests/reliability/test_limits.py \
  tests/reliability/test_live_limits.py tests/reliability/test_openapi_fuzz.py \
  tests/reliability/test_secrets_scan.py tests/reliability/test_signin_lockout.py \
  tests/reliability/test_webhook_properties.py tests/reliability/test_zoom_faults.py "$@"
if [[ -f scripts/screen-test.sh ]]; then
  echo "== real-screen test (Xvfb + tray host)"
  bash scripts/screen-test.sh
fi
echo "== PyInstaller bundle smoke test"
bash scripts/bundle-smoke.sh
