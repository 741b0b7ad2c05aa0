#!/usr/bin/env bash
# Real-screen tests of the tray, in two phases, each on its own Xvfb screen.
#
# 1. XEmbed: Xvfb on $PROFITRINGER_SCREEN_DISPLAY (default :98) with trayer as
#    the tray host and no session bus; `pytest -m "screen and not screen_bus"`
#    saves PNGs of the tray icon, its open menu in the main states, the sign-in
#    dialog and the link window.
# 2. Session bus: Xvfb on $PROFITRINGER_SCREEN_BUS_DISPLAY (default :97), and
#    under dbus-run-session a StatusNotifierItem desktop: status-notifier-watcher,
#    gtk-sni-tray-standalone (the host), dunst (notifications) and GNOME Keyring
#    (the Secret Service, unlocked with a throwaway password in a throwaway
#    HOME); `pytest -m screen_bus` checks the item, its tooltip, the
#    notifications and a second start resuming from the keyring.
#
# Screenshots go to $PROFITRINGER_TEST_OUTPUT (default: test-output/).
# --refresh-docs copies the paused-state screenshot to docs/tray-paused.png
# (the README's picture). Everything started here is stopped on exit.
#
# Debian packages (scripts/setup.sh --screen installs them): xvfb xauth trayer
#   x11-utils dbus dbus-bin libglib2.0-bin haskell-status-notifier-item-utils
#   haskell-gtk-sni-tray-utils dunst gnome-keyring libsecret-tools, and Qt's
#   xcb libraries.
#
# Other arguments go to pytest, in both phases.
set -euo pipefail

cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
output=${PROFITRINGER_TEST_OUTPUT:-test-output}
mkdir -p "$output"
output=$(cd "$output" && pwd)
export PROFITRINGER_TEST_OUTPUT="$output" QT_QPA_PLATFORM=xcb

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}

start_xvfb() { # display log
    local display=$1 log=$2 socket="/tmp/.X11-unix/X${1#:}"
    Xvfb "$display" -screen 0 1024x768x24 -nolisten tcp >"$log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    for _ in $(seq 100); do
        [ -S "$socket" ] && return 0
        kill -0 "$pid" 2>/dev/null || { echo "screen-test: Xvfb failed:" >&2; cat "$log" >&2; exit 1; }
        sleep 0.1
    done
    echo "screen-test: Xvfb did not start on $display" >&2
    exit 1
}

wait_for_bus_name() { # name what
    for _ in $(seq 100); do
        gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
            --method org.freedesktop.DBus.NameHasOwner "$1" 2>/dev/null | grep -q true && return 0
        sleep 0.1
    done
    echo "screen-test: $2 did not appear on the session bus as $1" >&2
    exit 1
}

# Phase 2 runs inside dbus-run-session, as this script again.
if [[ "${1:-}" == "--bus-phase" ]]; then
    shift
    home=$(mktemp -d "${TMPDIR:-/tmp}/profitringer-screen-home-XXXXXX")
    pids_home_cleanup() { cleanup; rm -rf "$home"; }
    trap pids_home_cleanup EXIT
    # GNOME Keyring keeps its keyrings under HOME: never the real one.
    export HOME="$home" XDG_DATA_HOME="$home/.local/share" XDG_CONFIG_HOME="$home/.config"
    export XDG_CACHE_HOME="$home/.cache"
    unset XDG_RUNTIME_DIR
    printf 'screen-test' | gnome-keyring-daemon --unlock --components=secrets \
        >"$output/gnome-keyring.log" 2>&1
    wait_for_bus_name org.freedesktop.secrets "GNOME Keyring"
    status-notifier-watcher >"$output/sni-watcher.log" 2>&1 &
    pids+=($!)
    wait_for_bus_name org.kde.StatusNotifierWatcher status-notifier-watcher
    gtk-sni-tray-standalone --top --end --size 32 --color '#202124' \
        >"$output/sni-host.log" 2>&1 &
    pids+=($!)
    cat >"$home/dunstrc" <<'DUNST'
[global]
    origin = top-left
    offset = 12x48
    width = 380
    font = DejaVu Sans 10
    frame_color = "#5f6368"
[urgency_normal]
    background = "#303134"
    foreground = "#e8eaed"
    timeout = 60
DUNST
    dunst -config "$home/dunstrc" >"$output/dunst.log" 2>&1 &
    pids+=($!)
    wait_for_bus_name org.freedesktop.Notifications dunst
    status=0
    PROFITRINGER_SCREEN_TESTS=bus "$python" -m pytest -m screen_bus "$@" || status=$?
    exit "$status"
fi

refresh_docs=false
args=()
for arg in "$@"; do
    if [[ "$arg" == "--refresh-docs" ]]; then refresh_docs=true; else args+=("$arg"); fi
done
set -- "${args[@]+"${args[@]}"}"

for tool in Xvfb trayer dbus-run-session gdbus dbus-monitor status-notifier-watcher \
    gtk-sni-tray-standalone dunst gnome-keyring-daemon secret-tool; do
    command -v "$tool" >/dev/null || { echo "screen-test: $tool is not installed (bash scripts/setup.sh --screen)" >&2; exit 2; }
done
trap cleanup EXIT

# Phase 1: XEmbed into trayer.
display=${PROFITRINGER_SCREEN_DISPLAY:-:98}
start_xvfb "$display" "$output/xvfb.log"
export DISPLAY="$display"
# A dark panel: the icons must stay readable on it (their white ring shows).
trayer --edge top --align right --widthtype request --height 32 \
    --transparent true --alpha 0 --tint 0x202124 --SetDockType true \
    >"$output/trayer.log" 2>&1 &
pids+=($!)
# No session bus: Qt then embeds its icon in trayer (XEmbed) instead of
# looking for a StatusNotifier host.
status=0
(unset DBUS_SESSION_BUS_ADDRESS; PROFITRINGER_SCREEN_TESTS=1 "$python" -m pytest -m "screen and not screen_bus" "$@") || status=$?
if [[ $status -eq 0 && $refresh_docs == true ]]; then
    cp "$output/screen-paused.png" docs/tray-paused.png
    echo "screen-test: docs/tray-paused.png refreshed"
fi

# Phase 2: a StatusNotifierItem desktop on a session bus of its own, on a
# second screen (PROFITRINGER_SCREEN_BUS_DISPLAY, or the first free one).
if [[ -n "${PROFITRINGER_SCREEN_BUS_DISPLAY:-}" ]]; then
    bus_display=$PROFITRINGER_SCREEN_BUS_DISPLAY
    start_xvfb "$bus_display" "$output/xvfb-bus.log"
else
    displayfd=$(mktemp)
    Xvfb -displayfd 1 -screen 0 1024x768x24 -nolisten tcp >"$displayfd" 2>"$output/xvfb-bus.log" &
    pids+=($!)
    for _ in $(seq 100); do [ -s "$displayfd" ] && break; sleep 0.1; done
    bus_display=":$(head -n1 "$displayfd")"
    rm -f "$displayfd"
    [[ "$bus_display" != ":" ]] || { echo "screen-test: Xvfb found no free display" >&2; exit 1; }
fi
export DISPLAY="$bus_display"
dbus-run-session -- "$0" --bus-phase "$@" || status=$?
echo "screen-test: screenshots in $output"
exit "$status"
