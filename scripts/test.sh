#!/usr/bin/env bash
# Runs every check and test of Outpost: formatting, clippy with warnings as errors, the UI's
# type check and Vitest tests, the whole Rust test suite (unit, store suite, real hub over HTTP,
# the CLI binary) with nextest, the hub's integration tests a second time on PostgreSQL (the
# store suite and routing tests run on PostgreSQL in the first pass), a check that the generated TypeScript bindings are current, and
# the end-to-end tests of the real desktop app (Xvfb, tauri-driver, WebKitWebDriver) against a
# real hub. Screenshots of the E2E run go to target/e2e-screenshots (OUTPOST_SCREENSHOTS=dir
# to write them elsewhere, e.g. docs/screenshots to refresh the README's).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_build_deps
# A real Secret Service for the client's keyring tests.
ensure_apt_packages gnome-keyring dbus
ensure_cargo_tool cargo-nextest cargo-nextest
ensure_postgres
ensure_second_postgres
ensure_desktop_deps
ensure_e2e_deps
cd "$ROOT"
log "UI: type check, build (embedded by the desktop app) and Vitest"
npm --prefix ui run build
npm --prefix ui test
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
log "building everything (the tests, the hub and the desktop app the end-to-end tests drive)"
# One build of every target: building packages one by one would resolve features differently
# and build many dependencies a second time.
cargo build --workspace --all-targets --locked
log "tests (inside a private D-Bus session with gnome-keyring as the Secret Service)"
KEYRING_DATA="$(mktemp -d -t outpost-keyring.XXXXXX)"
trap 'rm -rf "$KEYRING_DATA"' EXIT
XDG_DATA_HOME="$KEYRING_DATA" dbus-run-session -- bash -c '
    set -euo pipefail
    printf "%s" "test-keyring" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
    cargo nextest run --workspace --locked --no-fail-fast
'
log "the hub's integration tests again, on PostgreSQL (fresh databases per test, dropped after)"
OUTPOST_TEST_BACKEND=postgres cargo nextest run -p outpost-hub --locked --no-fail-fast
log "the TypeScript bindings in ui/src/bindings match the Rust types"
if ! git diff --exit-code --stat -- ui/src/bindings || [ -n "$(git ls-files --others --exclude-standard ui/src/bindings)" ]; then
    echo "ui/src/bindings changed when regenerated: run the tests and commit the result" >&2
    exit 1
fi
log "end-to-end: the built app under Xvfb, driven through tauri-driver, against a real hub"
E2E_KEYRING="$(mktemp -d -t outpost-e2e-keyring.XXXXXX)"
trap 'rm -rf "$KEYRING_DATA" "$E2E_KEYRING"' EXIT
XDG_DATA_HOME="$E2E_KEYRING" xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- bash -c '
    set -euo pipefail
    printf "%s" "test-keyring" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
    "$0" -m pytest e2e -v -p no:cacheprovider
' "$E2E_PYTHON"
