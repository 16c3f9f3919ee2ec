#!/usr/bin/env bash
# Runs every check and test of Outpost: formatting, clippy with warnings as errors, and the
# whole test suite (unit, store suite, real hub over HTTP, the CLI binary) with nextest.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_build_deps
# A real Secret Service for the client's keyring tests.
ensure_apt_packages gnome-keyring dbus
ensure_cargo_tool cargo-nextest cargo-nextest
cd "$ROOT"
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
log "building tests"
cargo nextest run --workspace --locked --no-run
log "tests (inside a private D-Bus session with gnome-keyring as the Secret Service)"
KEYRING_DATA="$(mktemp -d -t outpost-keyring.XXXXXX)"
trap 'rm -rf "$KEYRING_DATA"' EXIT
XDG_DATA_HOME="$KEYRING_DATA" dbus-run-session -- bash -c '
    set -euo pipefail
    printf "%s" "test-keyring" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
    cargo nextest run --workspace --locked --no-fail-fast
'
