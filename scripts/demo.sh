#!/usr/bin/env bash
# Runs the Outpost demo: builds the hub and the desktop app, creates demo tenants, users (logins
# printed once) and 5,000 synthetic patients per clinic and hospital in a fresh encrypted data
# directory, serves them on http://127.0.0.1:8080 (override with OUTPOST_LISTEN), and opens the
# desktop app with that hub filled in. Closing the app or Ctrl-C stops both; without a display
# the hub alone keeps serving (for the `outpost` command line) until Ctrl-C.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
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
else
    log "opening the desktop app (sign in with a login from the table above)"
    OUTPOST_HUB_URL="http://$LISTEN" target/release/outpost-desktop
fi
