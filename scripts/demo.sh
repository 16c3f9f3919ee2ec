#!/usr/bin/env bash
# Runs the Outpost demo: builds the hub and the desktop app, creates demo tenants, users (logins
# printed once) and 5,000 synthetic patients per clinic and hospital in a fresh encrypted data
# directory, serves them on http://127.0.0.1:8080 (override with OUTPOST_LISTEN), and opens the
# desktop app with that hub filled in. Closing the app or Ctrl-C stops both; without a display
# the hub alone keeps serving (for the `outpost` command line) until Ctrl-C.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Whether a Secret Service (the OS keyring the app keeps its keys in) answers, or can be
# started, on this session's D-Bus.
secret_service_answers() {
    command -v dbus-send >/dev/null 2>&1 || return 1
    local ask=(dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus)
    "${ask[@]}" org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null \
        | grep -q "boolean true" \
        || "${ask[@]}" org.freedesktop.DBus.ListActivatableNames 2>/dev/null \
        | grep -q '"org.freedesktop.secrets"'
}

ensure_build_deps
ensure_desktop_deps
cd "$ROOT"
log "building the UI, outpost-hub and the desktop app"
npm --prefix ui run build
cargo build --release -p outpost-hub -p outpost-desktop
DATA="${OUTPOST_DEMO_DIR:-$(mktemp -d -t outpost-demo.XXXXXX)}"
LISTEN="${OUTPOST_LISTEN:-127.0.0.1:8080}"
log "demo data directory: $DATA"
target/release/outpost-hub demo --data-dir "$DATA" --listen "$LISTEN" &
HUB_PID=$!
trap 'kill "$HUB_PID" 2>/dev/null; wait "$HUB_PID" 2>/dev/null' EXIT INT TERM
until curl -sf "http://$LISTEN/healthz" >/dev/null; do
    kill -0 "$HUB_PID" 2>/dev/null || { echo "the hub did not start" >&2; exit 1; }
    sleep 0.5
done
if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    log "no display: the hub serves on http://$LISTEN (Ctrl-C stops it); the app needs a desktop session"
    wait "$HUB_PID"
elif secret_service_answers; then
    log "opening the desktop app (sign in with a login from the table above)"
    OUTPOST_HUB_URL="http://$LISTEN" target/release/outpost-desktop
else
    # The app keeps its keys only in an OS keyring and refuses to run without one. For the
    # demo, a keyring of its own: GNOME Keyring in a private D-Bus session, over a throwaway
    # directory, unlocked with a throwaway password. A real desktop has one already.
    ensure_apt_packages gnome-keyring dbus
    KEYRING="$(mktemp -d -t outpost-demo-keyring.XXXXXX)"
    trap 'kill "$HUB_PID" 2>/dev/null; wait "$HUB_PID" 2>/dev/null; rm -rf "$KEYRING"' EXIT INT TERM
    log "no Secret Service answers on this display's session: starting the app with a demo keyring of its own (GNOME Keyring in a private D-Bus session; its keys go away with the demo)"
    OUTPOST_HUB_URL="http://$LISTEN" XDG_DATA_HOME="$KEYRING" dbus-run-session -- bash -c '
        printf "%s" "outpost-demo-keyring" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
        exec "$0"' target/release/outpost-desktop
fi
