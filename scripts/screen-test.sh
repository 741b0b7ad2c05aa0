#!/usr/bin/env bash
# Real-screen tests of the tray: Xvfb on :98 with trayer as the tray host,
# then `pytest -m screen`, which saves screenshots (PNG) of the tray icon and
# its open menu in the main states under $PROFITRINGER_TEST_OUTPUT
# (default: test-output/). Xvfb and trayer are stopped on exit.
#
# Debian packages: xvfb xauth trayer libxcb-icccm4 libxcb-keysyms1
#   libxcb-cursor0 libxkbcommon-x11-0 libxcb-image0 libxcb-randr0
#   libxcb-render-util0 libxcb-shape0 libxcb-xkb1 libx11-xcb1 libegl1 libgl1
#   libfontconfig1 libdbus-1-3 libglib2.0-0 fonts-dejavu-core
#
# Extra arguments go to pytest.
set -euo pipefail

cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
display=${PROFITRINGER_SCREEN_DISPLAY:-:98}
output=${PROFITRINGER_TEST_OUTPUT:-test-output}
mkdir -p "$output"
output=$(cd "$output" && pwd)

for tool in Xvfb trayer; do
    command -v "$tool" >/dev/null || { echo "screen-test: $tool is not installed" >&2; exit 2; }
done

xvfb_pid=""
trayer_pid=""
cleanup() {
    [ -n "$trayer_pid" ] && kill "$trayer_pid" 2>/dev/null || true
    [ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT

Xvfb "$display" -screen 0 1024x768x24 -nolisten tcp >"$output/xvfb.log" 2>&1 &
xvfb_pid=$!
socket="/tmp/.X11-unix/X${display#:}"
for _ in $(seq 100); do
    [ -S "$socket" ] && break
    kill -0 "$xvfb_pid" 2>/dev/null || { echo "screen-test: Xvfb failed:" >&2; cat "$output/xvfb.log" >&2; exit 1; }
    sleep 0.1
done
[ -S "$socket" ] || { echo "screen-test: Xvfb did not start on $display" >&2; exit 1; }

export DISPLAY="$display"
# A dark panel: the icons must stay readable on it (their white ring shows).
trayer --edge top --align right --widthtype request --height 32 \
    --transparent true --alpha 0 --tint 0x202124 --SetDockType true \
    >"$output/trayer.log" 2>&1 &
trayer_pid=$!

# No session bus: Qt then embeds its icon in trayer (XEmbed) instead of
# looking for a StatusNotifier host.
unset DBUS_SESSION_BUS_ADDRESS
export PROFITRINGER_SCREEN_TESTS=1 QT_QPA_PLATFORM=xcb PROFITRINGER_TEST_OUTPUT="$output"
status=0
"$python" -m pytest -m screen "$@" || status=$?
echo "screen-test: screenshots in $output"
exit "$status"
