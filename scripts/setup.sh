#!/usr/bin/env bash
# Set up a machine for ProfitRinger Desktop: the Debian packages Qt needs (and,
# with --screen, Xvfb and a tray host for the real-screen test, and Debian's
# chromium with its chromedriver for the web page's browser tests), then a virtual
# environment in .venv with the project and its test tools. Safe to run again:
# it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

QT_PACKAGES=(libegl1 libgl1 libfontconfig1 libxkbcommon0 libdbus-1-3 libglib2.0-0 fonts-dejavu-core)
# several relays: the suite starts its own PostgreSQL cluster and redis-server
# (never the system services), and the demo puts haproxy in front of them
SERVER_PACKAGES=(postgresql redis-server haproxy)
SCREEN_PACKAGES=(xvfb xauth trayer x11-utils libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0
  libxkbcommon-x11-0 libxcb-image0 libxcb-randr0 libxcb-render-util0 libxcb-shape0
  libxcb-xkb1 libx11-xcb1 chromium chromium-driver
  # the session-bus phase: a StatusNotifierItem host, notifications, GNOME Keyring
  dbus dbus-bin libglib2.0-bin haskell-status-notifier-item-utils haskell-gtk-sni-tray-utils
  dunst gnome-keyring libsecret-tools)

want=("${QT_PACKAGES[@]}" "${SERVER_PACKAGES[@]}")
if [[ "${1:-}" == "--screen" ]]; then
  want+=("${SCREEN_PACKAGES[@]}")
fi

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for pkg in "${want[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
  done
fi
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: please install these Debian packages first: ${missing[*]}" >&2
    exit 1
  fi
fi

PYTHON=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
# Reinstall only when pyproject.toml or the lock changed since the last install.
# requirements.lock pins every dependency (test and build tools too) with its
# hashes, so the tests and the bundle (scripts/bundle-smoke.sh) get exactly the
# same versions everywhere; regenerate it after changing pyproject.toml:
#   .venv/bin/pip-compile --generate-hashes --strip-extras --extra test --extra build \
#     --allow-unsafe --no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml
stamp=.venv/.profitringer-installed
digest=$(cat pyproject.toml requirements.lock | sha256sum | cut -d' ' -f1)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$digest" ]]; then
  echo "setup: installing the locked dependencies and the project into .venv"
  # --no-deps: the lock is complete, and pip 23 (Python 3.11's) otherwise looks
  # past a pin for a dependency asked for with an extra (pytest-cov's
  # coverage[toml]) and fails once a newer release is out. pip check then
  # proves the set is consistent.
  .venv/bin/python -m pip install -q --no-deps --require-hashes -r requirements.lock
  .venv/bin/python -m pip check
  .venv/bin/python -m pip install -q --no-deps -e .
  echo "$digest" >"$stamp"
fi
