#!/usr/bin/env bash
# Runs outpost-bench (release build) inside a private D-Bus session with gnome-keyring, and
# prints its table. Arguments go to outpost-bench (e.g. --patients 20000); with `transport`
# first, the transport benchmark (outpost-transport-bench) runs instead, with the rest.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_build_deps
ensure_apt_packages gnome-keyring dbus
cd "$ROOT"
cargo build --release --locked -p outpost-bench
KEYRING_DATA="$(mktemp -d -t outpost-keyring.XXXXXX)"
trap 'rm -rf "$KEYRING_DATA"' EXIT
XDG_DATA_HOME="$KEYRING_DATA" dbus-run-session -- bash -c '
    printf "%s" "bench-keyring" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
    if [ "${1:-}" = transport ]; then
        shift
        exec target/release/outpost-transport-bench "$@"
    fi
    exec target/release/outpost-bench "$@"
' bench "$@"
